"""The streaming training data pipeline gives exactly the batches of the in-memory one it replaced: the same entries
(originals then mirrors), prompts and random draws, the same images, targets and valid pixels, the same latents and
latent statistics; whatever the number of DataLoader workers, and without touching torch's global generator."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

from partbench.methods.partconcepts.presets import PartConceptsConfig  # noqa: E402


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from partbench.data.demo import generate_demo

    root = tmp_path_factory.mktemp("pc-stream")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=8, n_val=2)
    return root


def _opts(root, tmp, **kw):
    from partbench.methods.partconcepts.train import TrainOptions

    model = PartConceptsConfig.for_preset("tiny", resolution=32)
    return TrainOptions.for_preset("demo", root, tmp, model, **({"steps": 6, "batch_size": 3} | kw))


def _reference(opts):
    """The pre-streaming pipeline, as it was: every crop in memory (float targets, one per part), mirrored copies
    appended, then per micro-batch the entries drawn, then each entry's prompt."""
    from dataclasses import replace

    from partbench.methods.partconcepts.data import mirror_order, training_crop
    from partbench.methods.partconcepts.plans import _part_subset
    from partbench.methods.partconcepts.prompts import part_prompt
    from partbench.methods.partconcepts.train import _training_refs

    suite, reader, refs, _ = _training_refs(opts)
    crops = []
    for ref in refs:
        s = reader.load(ref)
        if s.has_labels and suite.part_ids_of(s.object_class):
            crops.append(training_crop(s, suite, opts.model.resolution, opts.model.crop_margin, opts.model.crop))
    crops += [replace(c, image=c.image.flip(-1), targets=c.targets.flip(-1)[mirror_order(c.parts)],
                      valid=c.valid.flip(-1), flipped=True) for c in crops]
    rng = random.Random(opts.seed * 1_000_003)
    batches = []
    for _ in range(opts.steps * opts.grad_accum):
        idx = [rng.randrange(len(crops)) for _ in range(opts.batch_size)]
        prompts, targets = [], []
        for i in idx:
            order = _part_subset(crops[i].parts, rng, opts.max_parts)
            prompts.append(part_prompt(crops[i].object_class, [crops[i].parts[k] for k in order]))
            targets.append(crops[i].targets[order])
        cmax = max(t.shape[0] for t in targets)
        padded = torch.zeros(len(idx), cmax, *targets[0].shape[1:])
        for b, t in enumerate(targets):
            padded[b, :t.shape[0]] = t
        batches.append((idx, prompts, padded, torch.stack([crops[i].valid for i in idx]),
                        torch.stack([crops[i].image for i in idx])))
    return crops, batches


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_equal_the_in_memory_pipeline(demo_root, tmp_path, workers):
    from partbench.methods.partconcepts.data import expand_targets
    from partbench.methods.partconcepts.plans import PlanBatches
    from partbench.methods.partconcepts.stream import CropDataset, batch_loader, build_index
    from partbench.methods.partconcepts.train import _training_refs

    opts = _opts(demo_root, tmp_path, max_parts=3)
    crops, expected = _reference(opts)
    suite, reader, refs, _ = _training_refs(opts)
    before = torch.random.get_rng_state()
    index = build_index(suite, reader, refs, True, workers, seed=0)
    assert len(index) == len(crops) and [index[i].sample_id for i in range(len(index))] == [c.sample_id for c in crops]
    cfg = opts.model
    dataset = CropDataset(index, reader, suite, cfg.resolution, cfg.crop_margin, cfg.crop)
    plans = PlanBatches(index, opts.seed, 0, opts.steps, 1, opts.batch_size, {}, 0.5, opts.max_parts)
    got = list(batch_loader(dataset, plans, workers, seed=0))
    assert torch.equal(torch.random.get_rng_state(), before)  # the noise and sigma draws of training are untouched
    assert len(got) == len(expected) == opts.steps
    assert any(index[e].flipped for b in got for e in b.entries)  # mirrors are drawn too
    for batch, (idx, prompts, targets, valid, images) in zip(got, expected):
        assert batch.entries == idx and batch.prompts == prompts
        assert batch.labels.dtype == torch.uint8  # one byte per pixel crosses the process boundary
        assert torch.equal(expand_targets(batch.labels, batch.select), targets)
        assert torch.equal(batch.valid, valid) and torch.equal(batch.images, images)


def test_latent_cache_and_calibration_equal_the_in_memory_ones(demo_root, tmp_path):
    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.stream import CropDataset, LatentCache, build_index, calibration_entries
    from partbench.methods.partconcepts.train import _training_refs

    opts = _opts(demo_root, tmp_path)
    crops, _ = _reference(opts)
    suite, reader, refs, _ = _training_refs(opts)
    index = build_index(suite, reader, refs, True, 0, seed=0)
    cfg = opts.model
    dataset = CropDataset(index, reader, suite, cfg.resolution, cfg.crop_margin, cfg.crop)
    torch.manual_seed(0)
    old, new = PartConceptsModel(cfg), PartConceptsModel(cfg)
    new.load_state_dict(old.state_dict())
    images = torch.stack([c.image for c in crops])
    old.calibrate_latent_statistics(images)
    expected = torch.cat([old.encode_images(images[i:i + 32]) for i in range(0, len(images), 32)])

    cache = LatentCache(tmp_path / "latents.bin")
    raw = cache.build(new, dataset, "cpu", 0, seed=0, calibrate=True)
    new.set_latent_statistics(raw)
    assert torch.equal(new.vae.bn.running_mean, old.vae.bn.running_mean)
    assert torch.equal(new.vae.bn.running_var, old.vae.bn.running_var)
    rows = [5, 0, len(crops) - 1, 5]
    assert torch.equal(new.normalise_latents(cache.read(rows)), expected[rows])
    cache.close()
    assert not (tmp_path / "latents.bin").exists()
    # Large data: calibration on a bounded, evenly spread subset
    assert calibration_entries(10, cap=20) == list(range(10))
    spread = calibration_entries(20_000, cap=1024)
    assert len(spread) == 1024 and spread[0] == 0 and spread[-1] == 19_999


def test_plans_split_the_global_batch_between_processes(demo_root, tmp_path):
    from partbench.methods.partconcepts.plans import PlanBatches
    from partbench.methods.partconcepts.stream import build_index
    from partbench.methods.partconcepts.train import _training_refs

    opts = _opts(demo_root, tmp_path)
    suite, reader, refs, _ = _training_refs(opts)
    index = build_index(suite, reader, refs, True, 0, seed=0)
    whole = list(PlanBatches(index, 0, 2, 6, 2, 4, {}, 0.5, None))
    halves = [list(PlanBatches(index, 0, 2, 6, 2, 2, {}, 0.5, None, world=2, rank=r)) for r in (0, 1)]
    assert len(whole) == (6 - 2) * 2
    assert [a + b for a, b in zip(*halves)] == whole
