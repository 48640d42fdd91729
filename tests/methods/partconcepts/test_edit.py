"""`partconcepts-edit` end to end on demo-edit with an untrained tiny checkpoint (a smoke run): edits at the source's
size, the latents outside the found part equal to the source's and the decoded background closer to the source's
reconstruction than without blending, the same image for the same seed (CLI and direct call), another for another
seed; the mask recipe's pieces (Otsu, token weights) and the errors for missing weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """(data root with demo-edit, untrained tiny checkpoint at its 64 px training resolution)."""
    from partbench.data.demo import generate_demo
    from partbench.data.demo_edit import generate_demo_edit
    from partbench.methods.partconcepts import checkpoint as ckpt
    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig

    root = tmp_path_factory.mktemp("edit-data")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=2, n_val=3)
    generate_demo_edit(root, seed=0, n_images=3)
    torch.manual_seed(0)
    model = PartConceptsModel(PartConceptsConfig.for_preset("tiny"))
    out = tmp_path_factory.mktemp("pc-edit")
    ckpt.save_checkpoint(out, model, {"step": 0, "final": True, "base": model.components.description})
    return root, out


def _run(root: Path, checkpoint: Path, *args) -> Path:
    r = invoke("run", "-m", "partconcepts-edit", "-s", "demo-edit", "--data-root", root, "--checkpoint", checkpoint,
               "--output", "runs", "--limit", "2", "--bootstrap", "0", *args)
    assert r.exit_code == 0, r.output
    (folder,) = [p.parent for p in Path("runs/demo-edit").glob("partconcepts-edit*/results.json")
                 if json.loads((p.parent / "config.json").read_text())["method_args"].get("blend") == (
                     "false" if "blend=false" in args else None)]
    return folder


def test_blended_edit_keeps_the_rest_and_is_deterministic(setup):
    from partbench.methods.partconcepts import checkpoint as ckpt
    from partbench.methods.partconcepts.edit import _to_tensor, edit_image, reconstruct, working_size
    from partbench.methods.partconcepts.edit_method import PartConceptsEdit, edit_prompt, locate_prompt
    from partbench.methods.partconcepts.method import sample_seed
    from partbench.suites import load_suite

    root, checkpoint = setup
    blended = _run(root, checkpoint)
    plain = _run(root, checkpoint, "-a", "blend=false")
    results = json.loads((blended / "results.json").read_text())
    assert results["meaningful"] is False  # the tiny preset is a smoke model
    assert results["fingerprint"].startswith("partconcepts-edit-v1-")
    assert results["method_config"]["edit"]["threshold"] == 0.5

    reader = load_suite("demo-edit").make_reader(root)
    samples = [reader.load(ref) for ref in reader.index("val").refs[:2]]
    model = ckpt.load_model(checkpoint)
    settings = PartConceptsEdit.settings_for({"checkpoint": str(checkpoint)})
    kept_errors = {"on": [], "off": [], "edited": []}
    for s in samples:
        on = np.asarray(Image.open(blended / "predictions" / f"{s.id}.png").convert("RGB"))
        off = np.asarray(Image.open(plain / "predictions" / f"{s.id}.png").convert("RGB"))
        assert on.shape == off.shape == (*s.size, 3)  # the source's size
        direct = edit_image(model, s.image, locate_prompt(s.record), edit_prompt(s.record), sample_seed(0, s.id),
                            settings)
        assert np.array_equal(direct.image, on)  # the CLI's edit is the seeded edit, reproduced exactly
        if s is samples[0]:
            again = edit_image(model, s.image, locate_prompt(s.record), edit_prompt(s.record), sample_seed(1, s.id),
                               settings)
            assert not np.array_equal(again.image, on)  # another seed, another edit
        # Outside the found part the final latents are the source's own, exactly.
        x0 = model.encode_images(_to_tensor(s.image, working_size(s.size, settings.resolution, 4)))
        kept = direct.weight == 0
        assert kept.any() and (direct.weight > 0).any()
        assert torch.equal(direct.latents[0][:, kept], x0[0][:, kept])
        # Decoded, those pixels are near the source's VAE reconstruction (a random VAE's decoder mixes the edited
        # tokens in through its receptive field and normalisation, so not equal), far nearer than without blending.
        ref = reconstruct(model, s.image, settings.resolution).astype(int)
        pixel_kept = np.asarray(Image.fromarray(kept.numpy().astype(np.uint8)).resize(s.size[::-1],
                                                                                      Image.NEAREST)) > 0
        kept_errors["on"].append(np.abs(on - ref)[pixel_kept].mean())
        kept_errors["off"].append(np.abs(off - ref)[pixel_kept].mean())
        kept_errors["edited"].append(np.abs(on - ref)[~pixel_kept].mean())
    on, off, edited = (float(np.mean(v)) for v in kept_errors.values())
    assert on < 0.75 * off and on < 0.75 * edited, kept_errors  # measured: ~17 vs ~34 and ~37 levels


def test_otsu_matches_scikit_image_and_token_weights():
    from skimage.filters import threshold_otsu

    from partbench.methods.partconcepts.edit import otsu_threshold, token_weight

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.2, 0.05, 500), rng.normal(0.7, 0.1, 300)])
    assert otsu_threshold(values) == pytest.approx(threshold_otsu(values), abs=1e-9)
    part = torch.zeros(32, 32)
    part[8:16, 8:12] = 1.0  # 2x1 tokens of 4x4 pixels... and a stray pixel that averaging ignores
    part[28, 28] = 1.0
    w = token_weight(part, (8, 8), 0.5, dilate=0, feather=0)
    assert w.sum() == 2 and w[2, 2] == w[3, 2] == 1
    w = token_weight(part, (8, 8), 0.5, dilate=1, feather=1)
    assert w[2, 2] == 1 and w[1, 1] == 1 and w[0, 0] == 0.5 and w[5, 5] == 0 and w[4, 4] == 0.5


def test_missing_checkpoint_and_bad_arguments_are_refused(tmp_path):
    from partbench.errors import PartbenchError
    from partbench.methods.partconcepts.edit_method import PartConceptsEdit
    from partbench.weights import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="--checkpoint DIR"):
        PartConceptsEdit.fingerprint_for(args={})
    with pytest.raises(WeightsNotFoundError, match="partbench train partconcepts"):
        PartConceptsEdit.fingerprint_for(args={"checkpoint": str(tmp_path / "nope")})
    with pytest.raises(PartbenchError, match="threshold"):
        PartConceptsEdit.fingerprint_for(args={"checkpoint": str(tmp_path), "threshold": "high"})
    from partbench.registry import get_method

    with pytest.raises(PartbenchError, match="decoder, attention"):  # declared arguments: refused before a run
        get_method("partconcepts-edit", "part-editing").check_args({"map": "sideways"})
