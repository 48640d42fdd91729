"""Training at scale on the tiny model: gradient checkpointing with the attention capture inside the recomputed
blocks (gradients equal to the plain backward), bf16 autocast over fp32 master weights, and two processes (torchrun,
gloo) making the updates one process makes with the doubled batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

from partbench.methods.partconcepts.presets import PartConceptsConfig  # noqa: E402

SGD_TRAIN = Path(__file__).resolve().parents[2] / "helpers" / "partconcepts_sgd_train.py"


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from partbench.data.demo import generate_demo

    root = tmp_path_factory.mktemp("pc-scale")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=6, n_val=2)
    return root


def _step(model, images, targets, valid, latents, noise, sigma, prompts):
    from partbench.methods.partconcepts.losses import dice_loss, flow_loss

    res = model(latents, images, prompts, sigma, noise)
    loss = dice_loss(res.mask_logits.float(), targets, valid, res.concept_mask) + 0.25 * flow_loss(
        res.velocity, noise, latents)
    loss.backward()
    return loss


def test_checkpointing_gives_the_plain_gradients_with_the_capture_recomputed():
    from torch.utils.checkpoint import CheckpointError

    from partbench.methods.partconcepts.model import PartConceptsModel

    torch.manual_seed(0)
    cfg = PartConceptsConfig.for_preset("tiny", resolution=32, trainable="lora")
    plain = PartConceptsModel(cfg)
    recomputed = PartConceptsModel(cfg)
    recomputed.load_state_dict(plain.state_dict())
    recomputed.enable_gradient_checkpointing()
    for model in (plain, recomputed):  # LoRA B starts at zero: move it so every LoRA gets a gradient
        for name, p in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.02, generator=torch.Generator().manual_seed(hash(name) % 2**31))
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    targets = (torch.rand(2, 2, 32, 32) > 0.5).float()
    valid = torch.ones(2, 32, 32, dtype=torch.bool)
    latents = plain.encode_images(images)
    noise, sigma = torch.randn_like(latents), torch.tensor([0.3, 0.6])
    prompts = ["a photo of a ball with [left side] and [right side]", "a photo of a cow with [head]"]
    args = (images, targets, valid, latents, noise, sigma, prompts)

    a = _step(plain, *args)
    b = _step(recomputed, *args)
    rec = recomputed.capture.last
    assert rec.recomputed == len(rec.layers) == 4  # every captured block re-ran its capture in backward
    recomputed.release_capture()
    assert torch.equal(a, b)  # the forward is the same computation
    trained = [n for n, p in plain.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trained) and any(n.startswith("decoder.") for n in trained)
    grads = dict(recomputed.named_parameters())
    for name, p in plain.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and grads[name].grad is not None, name
            torch.testing.assert_close(grads[name].grad, p.grad, rtol=1e-5, atol=1e-8, msg=name)

    # Without the hooks in backward (what removing them after the forward did), the recomputation saves fewer
    # tensors than the forward: torch refuses it.
    recomputed.zero_grad()
    recomputed.capture.keep_for_backward = False
    with pytest.raises(CheckpointError):
        _step(recomputed, *args)


def test_bf16_autocast_trains_fp32_master_weights_with_checkpointing(demo_root, tmp_path):
    """A smoke run of the klein settings on the tiny model: bf16 base, LoRA + decoder in fp32, bf16 autocast,
    checkpointing, streaming data (2 workers, latents per batch)."""
    from safetensors.torch import load_file

    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.train import TrainOptions, train

    cfg = PartConceptsConfig.for_preset("tiny", resolution=32, trainable="lora", dtype="bfloat16")
    model = PartConceptsModel(cfg)
    opts = TrainOptions(suite="demo", data_root=demo_root, output=tmp_path, model=cfg, steps=2, batch_size=2,
                        save_every=0, device="cpu", mixed_precision="bf16", gradient_checkpointing=True,
                        num_workers=2, latent_cache="none", warmup=0, lr=1e-3)
    result = train(opts, model=model)
    assert result.step == 2 and all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in result.losses)
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(p.dtype == torch.float32 for p in trained.values())  # fp32 master weights
    assert model.transformer.transformer_blocks[0].attn.to_q.base_layer.weight.dtype == torch.bfloat16
    state = load_file(str(result.checkpoint / "model.safetensors"))
    moved = [k for k in state if "lora_B" in k and state[k].abs().max() > 0]
    assert moved and all(state[k].dtype == torch.float32 for k in moved)


@pytest.mark.slow
def test_two_processes_make_the_updates_of_one_with_the_doubled_batch(demo_root, tmp_path):
    """float32, SGD (update = -lr x gradient; see the helper): 2 processes x batch 2 against 1 process x batch 4, two
    steps of the tiny recipe (Dice, flow, BCE, cross-entropy and left/right terms, each normalised over the global
    batch)."""
    from accelerate.utils import set_seed
    from safetensors.torch import load_file

    from partbench.methods.partconcepts.model import PartConceptsModel

    common = ["--suite", "demo", "--preset", "tiny", "--resolution", "32", "--data-root", str(demo_root), "--steps",
              "2", "--device", "cpu", "--num-workers", "0", "--save-every", "0"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    launches = {"one": [sys.executable, str(SGD_TRAIN), *common, "--batch-size", "4",
                        "--output", str(tmp_path / "one")],
                "two": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(SGD_TRAIN), *common, "--batch-size", "2", "--output", str(tmp_path / "two")]}
    procs = {k: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for k, cmd in launches.items()}
    for name, proc in procs.items():
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, f"{name}: {output[-3000:]}"
    one, two = (load_file(str(tmp_path / k / "checkpoint" / "model.safetensors")) for k in ("one", "two"))
    set_seed(0)  # what train() does before building the model
    start = PartConceptsModel(PartConceptsConfig.for_preset("tiny", resolution=32)).checkpoint_state()
    keys = [k for k in one if not torch.equal(one[k], start[k])]
    assert len(keys) > 100  # the text encoder, the mmDiT and the decoder all moved
    d1 = torch.cat([(one[k] - start[k]).flatten() for k in keys])
    d2 = torch.cat([(two[k] - start[k]).flatten() for k in keys])
    assert ((d1 - d2).norm() / d1.norm()).item() < 1e-6
    # element-wise: equal up to 1e-6 of the largest update, plus float32 rounding of the weight itself
    weights = torch.cat([one[k].flatten() for k in keys])
    bound = 1e-6 * d1.abs().max() + 4 * torch.finfo(torch.float32).eps * weights.abs()
    assert ((d1 - d2).abs() <= bound).all()


def test_klein_defaults_are_the_papers_9b_with_the_memory_plan(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from partbench.cli.main import app
    from partbench.methods.partconcepts import presets
    from partbench.methods.partconcepts.train import TrainOptions

    assert PartConceptsConfig.for_preset("klein").base_model == "black-forest-labs/FLUX.2-klein-9B"
    assert PartConceptsConfig.for_preset("klein", base_model="4B").base_model == "black-forest-labs/FLUX.2-klein-4B"
    assert PartConceptsConfig.for_preset("klein", base_model="/my/klein").base_model == "/my/klein"
    loaded = []
    monkeypatch.setattr(presets, "load_klein", lambda ref, dtype: loaded.append(ref))
    presets.build_components(PartConceptsConfig(preset="klein"))  # a checkpoint from before the record: 4B
    presets.build_components(PartConceptsConfig(preset="klein", base_model="base-9B"))
    assert loaded == [presets.LEGACY_KLEIN, "black-forest-labs/FLUX.2-klein-base-9B"]
    klein = TrainOptions.for_preset("demo", tmp_path, tmp_path, PartConceptsConfig.for_preset("klein"))
    assert klein.batch_size * klein.grad_accum == 16 and klein.gradient_checkpointing
    assert klein.mixed_precision == "bf16" and klein.latent_cache == "none"
    refused = CliRunner().invoke(app, ["train", "partconcepts", "--suite", "demo", "--preset", "klein", "--output",
                                       str(tmp_path / "o"), "--task", "editing"])
    assert refused.exit_code != 0 and "--task must be one of segmentation, generation" in refused.output
