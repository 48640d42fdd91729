"""PartConcepts end to end on the tiny preset: training lowers the loss, resume, checkpoint round-trip, runner
integration, generation reproducibility, clear errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

import numpy as np  # noqa: E402

from partbench.errors import PartbenchError  # noqa: E402
from partbench.methods.partconcepts.presets import PartConceptsConfig  # noqa: E402


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from partbench.data.demo import generate_demo

    root = tmp_path_factory.mktemp("pc-data")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=6, n_val=3)
    return root


def _tiny(**kw):
    return PartConceptsConfig.for_preset("tiny", resolution=32, **kw)


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    from partbench.methods.partconcepts.train import TrainOptions, train

    out = tmp_path_factory.mktemp("pc-train")
    opts = TrainOptions(suite="demo", data_root=demo_root, output=out, model=_tiny(), steps=2, batch_size=2,
                        save_every=1, device="cpu")
    first = train(opts)
    resumed = train(TrainOptions(**{**opts.__dict__, "steps": 3}))
    return out, first, resumed


def test_training_steps_reduce_the_loss():
    """Overfit one fixed batch: the combined loss must fall (a broken gradient path would not)."""
    from partbench.methods.partconcepts.losses import dice_loss, flow_loss
    from partbench.methods.partconcepts.model import PartConceptsModel

    torch.manual_seed(0)
    model = PartConceptsModel(_tiny())
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    targets = torch.zeros(2, 2, 32, 32)
    targets[:, 0, :, :16] = 1  # "[left side]" is the left half, "[right side]" the right half
    targets[:, 1, :, 16:] = 1
    valid = torch.ones(2, 32, 32, dtype=torch.bool)
    latents = model.encode_images(images)
    noise = torch.randn_like(latents)
    sigma = torch.tensor([0.5, 0.5])
    prompts = ["a photo of a ball with [left side] and [right side]"] * 2
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(12):
        res = model.segment(latents, images, prompts, sigma, noise)
        loss = (dice_loss(res.mask_logits, targets, valid, res.concept_mask)
                + 0.1 * flow_loss(res.velocity, noise, latents))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_train_writes_checkpoint_and_resumes(trained):
    import json

    out, first, resumed = trained
    assert first.step == 2 and resumed.step == 3
    cfg = json.loads((out / "checkpoint" / "config.json").read_text())
    assert cfg["step"] == 3 and cfg["final"] is True
    assert any("trainable=full" in d for d in cfg["deviations"])
    assert [h["step"] for h in resumed.losses] == [1, 2, 3]  # history continued, not restarted


def test_finished_training_is_left_alone(trained, demo_root):
    from partbench.methods.partconcepts.train import TrainOptions, train

    out, _, _ = trained
    weights = out / "checkpoint" / "model.safetensors"
    before = (weights.stat().st_mtime_ns, (out / "checkpoint" / "config.json").read_bytes())
    again = train(TrainOptions(suite="demo", data_root=demo_root, output=out, model=_tiny(), steps=3, batch_size=2,
                               save_every=1, device="cpu"))
    assert again.step == 3 and again.already_done and not again.losses
    assert (weights.stat().st_mtime_ns, (out / "checkpoint" / "config.json").read_bytes()) == before


def test_captions_file_errors_name_the_line(tmp_path):
    from partbench.methods.partconcepts.plans import load_captions

    good = tmp_path / "c.jsonl"
    good.write_text('{"sample_id": "s1", "caption": "a cow with a red [head]"}\n\n')
    assert load_captions(good) == {"s1": ["a cow with a red [head]"]}
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"sample_id": "s1", "caption": "a [head"}\n')
    with pytest.raises(PartbenchError, match="line 1"):
        load_captions(bad)


def test_resume_refuses_other_settings(trained, demo_root):
    from partbench.methods.partconcepts.train import TrainOptions, train

    out, _, _ = trained
    with pytest.raises(PartbenchError, match="a checkpoint of another model"):
        train(TrainOptions(suite="demo", data_root=demo_root, output=out, model=_tiny(flow_weight=0.5), steps=4))
    # The same model trained on with other options would leave a record that does not describe the weights; how
    # long and where it runs may change.
    same = dict(suite="demo", data_root=demo_root, output=out, model=_tiny(), batch_size=2, device="cpu")
    with pytest.raises(PartbenchError, match=r"other settings \(lr: 0.0005 \(asked 0.01\); seed: 0 \(asked 5\)\)"):
        train(TrainOptions(**same, steps=4, lr=0.01, seed=5))
    with pytest.raises(PartbenchError, match=r"other settings \(batch_size: 2 \(asked 8\)\)"):
        train(TrainOptions(**same | {"batch_size": 8}, steps=3))
    assert train(TrainOptions(**same, steps=3, save_every=7, num_workers=0)).already_done


def test_ctrl_c_saves_the_last_finished_step_and_resuming_goes_on_from_it(demo_root, tmp_path, monkeypatch):
    """Ctrl-C in step 3 of 20 (no periodic save): the step finishes its update, step 3 is saved, KeyboardInterrupt
    stops the training; the same command then resumes at step 3."""
    import json
    import os
    import signal

    from partbench.methods.partconcepts import train as training

    calls = []
    objective = training.objective

    def interrupted_in_step_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return objective(*args, **kwargs)

    monkeypatch.setattr(training, "objective", interrupted_in_step_3)
    # Python's own handler, as in a terminal (a background job, such as a CI step, may start with SIGINT ignored,
    # which the training then keeps)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        opts = training.TrainOptions(suite="demo", data_root=demo_root, output=tmp_path, model=_tiny(), steps=20,
                                     batch_size=2, save_every=0, device="cpu", num_workers=0)
        with pytest.raises(KeyboardInterrupt):
            training.train(opts)
        saved = json.loads((tmp_path / "checkpoint" / "config.json").read_text())
        assert (saved["step"], saved["final"]) == (3, False)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back
        monkeypatch.setattr(training, "objective", objective)
        resumed = training.train(training.TrainOptions(**{**opts.__dict__, "steps": 4}))
        assert resumed.step == 4 and resumed.resumed_at == 3 and [h["step"] for h in resumed.losses] == [1, 2, 3, 4]
    finally:
        signal.signal(signal.SIGINT, outer)


def test_checkpoint_round_trip_and_runner(trained, demo_root, tmp_path):
    import json

    from partbench.api.types import Vocabulary
    from partbench.methods.partconcepts.method import PartConcepts
    from partbench.run import RunRequest, run
    from partbench.suites import load_suite

    out, _, _ = trained
    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    samples = [reader.load(r) for r in reader.index("val").refs[:3]]
    vocab = Vocabulary.from_suite(suite)
    a = PartConcepts(suite=suite, data_root=demo_root, args={"checkpoint": str(out)}, seed=0).predict(samples, vocab)
    b = PartConcepts(suite=suite, data_root=demo_root, args={"checkpoint": str(out / "checkpoint"), "batch_size": "1"},
                     seed=0).predict(samples, vocab)
    for x, y, s in zip(a, b, samples):
        assert x.shape == (suite.num_classes, *s.size)
        np.testing.assert_allclose(x, y, atol=1e-5)  # reloaded weights, other batching: same predictions
        allowed = set(vocab.allowed(s))
        assert not x[[i for i in range(suite.num_classes) if i not in allowed]].any()
    outcome = run(RunRequest(method="partconcepts", suite="demo", data_root=demo_root, output_root=tmp_path,
                             method_args={"checkpoint": str(out)}, bootstrap=0))
    assert outcome.predicted > 0 and "h_iou" in outcome.results["metrics"]
    config = json.loads((outcome.run_dir / "config.json").read_text())
    assert "trainable=full" in json.dumps(config)  # the tiny preset's deviations reach the run's config
    again = run(RunRequest(method="partconcepts", suite="demo", data_root=demo_root, output_root=tmp_path,
                           method_args={"checkpoint": str(out)}, bootstrap=0))
    assert again.predicted == 0 and again.results["metrics"] == outcome.results["metrics"]


def test_checkpoint_of_another_tiny_base_is_refused(trained, tmp_path):
    import json
    import shutil

    from partbench.methods.partconcepts.checkpoint import load_model

    copy = tmp_path / "ckpt"
    shutil.copytree(trained[0] / "checkpoint", copy)
    config = json.loads((copy / "config.json").read_text())
    assert config["base"]["config"]["rope_theta"] == 256  # recorded at training time
    config["base"]["config"]["rope_theta"] = 2000
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PartbenchError, match="another tiny base model"):
        load_model(copy)


def test_latent_calibration_gives_unit_statistics():
    """After calibration on a set of images, their normalised latents have mean 0 and variance 1 per channel (what
    a trained VAE's statistics give its data); before, a random VAE's latents are far from that."""
    from partbench.methods.partconcepts.model import PartConceptsModel

    torch.manual_seed(0)
    model = PartConceptsModel(_tiny())
    images = torch.rand(12, 3, 32, 32) * 2 - 1
    before = model.encode_images(images)
    assert before.std(dim=(0, 2, 3)).max() < 0.6  # the random VAE's identity statistics leave latents small
    model.calibrate_latent_statistics(images, batch=5)
    after = model.encode_images(images)
    assert torch.allclose(after.mean(dim=(0, 2, 3)), torch.zeros(after.shape[1]), atol=1e-4)
    assert torch.allclose(after.var(dim=(0, 2, 3)), torch.ones(after.shape[1]), atol=1e-2)


def test_training_recipe_per_preset(tmp_path):
    from partbench.methods.partconcepts.train import TrainOptions

    tiny = TrainOptions.for_preset("demo", tmp_path, tmp_path, _tiny(), steps=None, lr=0.5)
    assert (tiny.steps, tiny.batch_size, tiny.lr, tiny.ce_weight, tiny.pair_weight, tiny.noise_range,
            tiny.lr_schedule) == (2500, 4, 0.5, 1.0, 1.0, (0.1, 0.5), "cosine")
    klein = TrainOptions.for_preset("demo", tmp_path, tmp_path, PartConceptsConfig.for_preset("klein"))
    assert klein.batch_size * klein.grad_accum == 16  # the paper's recipe: Dice + lambda * flow only
    assert klein.bce_weight == klein.ce_weight == klein.pair_weight == 0


def test_part_subset_keeps_mirrored_pairs_together():
    import random

    from partbench.methods.partconcepts.plans import _part_subset

    parts = ("head", "torso", "left arm", "right arm", "left leg", "right leg", "tail")
    rng = random.Random(1)
    seen = set()
    for _ in range(50):
        chosen = [parts[i] for i in _part_subset(parts, rng, 4)]
        assert len(chosen) <= 4 and len(set(chosen)) == len(chosen)
        for side in ("arm", "leg"):
            assert (f"left {side}" in chosen) == (f"right {side}" in chosen)
        seen.add(frozenset(chosen))
    assert len(seen) > 5  # a different subset at different steps
    assert sorted(_part_subset(parts, rng, None)) == list(range(len(parts)))  # no limit: every part


def test_cosine_schedule_hand_computed(tmp_path):
    from partbench.methods.partconcepts.train import TrainOptions, lr_factor

    opts = TrainOptions(suite="demo", data_root=tmp_path, output=tmp_path, model=_tiny(), steps=110, warmup=10,
                        lr_schedule="cosine")
    assert lr_factor(0, opts) == pytest.approx(0.1) and lr_factor(9, opts) == pytest.approx(1.0)
    assert lr_factor(10, opts) == pytest.approx(1.0)
    assert lr_factor(60, opts) == pytest.approx(0.5)  # halfway through the decay: (1 + cos(pi/2)) / 2
    assert lr_factor(110, opts) == pytest.approx(0.0, abs=1e-12)
    constant = TrainOptions(suite="demo", data_root=tmp_path, output=tmp_path, model=_tiny(), steps=110, warmup=10)
    assert lr_factor(100, constant) == 1.0
    with pytest.raises(PartbenchError, match="lr_schedule"):
        TrainOptions(suite="demo", data_root=tmp_path, output=tmp_path, model=_tiny(), lr_schedule="linear")


def test_generation_is_reproducible(trained):
    from partbench.api.types import PromptItem
    from partbench.methods.partconcepts.checkpoint import load_model
    from partbench.methods.partconcepts.generate import generate_images

    model = load_model(trained[0])
    item = PromptItem(id="p0", prompt="a photo of a cow with a red head", object_class="cow", part="head")
    a, b, c = generate_images(model, [item, item, item], [7, 7, 8], steps=2, map_steps=1)
    assert a.phrases == ("head",)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert a.maps.shape == (1, 4, 8, 8) and torch.equal(a.maps, b.maps)


def test_missing_checkpoint_errors_say_how_to_get_one(tmp_path):
    from partbench.methods.partconcepts.method import PartConcepts
    from partbench.weights import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="--checkpoint"):
        PartConcepts.fingerprint_for(args={})
    with pytest.raises(WeightsNotFoundError, match="partbench train partconcepts"):
        PartConcepts.fingerprint_for(args={"checkpoint": str(tmp_path / "nope")})
    with pytest.raises(PartbenchError, match="unknown --method-arg"):
        PartConcepts.fingerprint_for(args={"checkpoint": "x", "bogus": "1"})


def test_klein_preset_without_weights_names_the_model(monkeypatch, tmp_path):
    from partbench.methods.partconcepts.presets import build_components
    from partbench.weights import WeightsNotFoundError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="FLUX.2 Klein"):
        build_components(PartConceptsConfig.for_preset("klein", base_model=str(tmp_path / "missing")))


def test_a_training_prompt_over_the_token_limit_names_max_parts():
    """The user writes no training prompt: the error says which option shortens it."""
    from partbench.methods.partconcepts.encoder import PromptTooLongError
    from partbench.methods.partconcepts.train_control import prompt_hint

    with pytest.raises(PartbenchError, match=r"beyond the 48-token limit.*pass --max-parts \(e.g. 8\)"):
        with prompt_hint(None):
            raise PromptTooLongError("PartConcepts: phrase [muzzle] falls beyond the 48-token limit.")
    with pytest.raises(PartbenchError, match="a --max-parts below 6"):
        with prompt_hint(6):
            raise PromptTooLongError("too long")


def test_a_training_started_with_sigint_ignored_keeps_ignoring_it():
    """nohup or a background job: Python leaves SIGINT ignored, and so does the training's Ctrl-C handling."""
    import signal

    from partbench.methods.partconcepts.train_control import StopRequest

    outer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequest(enabled=True) as stop:
            assert not stop.enabled and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        with StopRequest(enabled=False):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)
