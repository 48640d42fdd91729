"""instruct-pix2pix and sdxl-inpaint on tiny random pipelines (preset=tiny): end to end on demo-edit at the sources'
sizes, deterministic, the instruction phrasing rule, the mask-given flag, and real weights that are looked up and
never downloaded."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from partbench.errors import PartbenchError

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def edit_root(tmp_path_factory) -> Path:
    from partbench.data.demo import generate_demo
    from partbench.data.demo_edit import generate_demo_edit

    root = tmp_path_factory.mktemp("ip2p-data")
    generate_demo(root / "PartbenchDemo", seed=0, n_train=2, n_val=2)
    generate_demo_edit(root, seed=0, n_images=2)
    return root


def _samples(root: Path, n: int = 2):
    from partbench.suites import load_suite

    reader = load_suite("demo-edit").make_reader(root)
    return [reader.load(ref) for ref in reader.index("val").refs[:n]]


def test_working_size_rounds_the_scaled_sides_to_multiples_of_8():
    from adapters.edit_diffusers import working_size

    assert working_size(128, 176, 64) == (48, 64)  # 176 -> 64; 128 * 64 / 176 = 46.5 -> 48
    assert working_size(1024, 1024, 1024) == (1024, 1024)
    assert working_size(100, 30, 0) == (96, 32)  # native size: 12.5 -> 12 (round half to even), 3.75 -> 4 eights
    assert working_size(4, 900, 512) == (8, 512)  # never below one multiple


def test_instruction_phrasing_choice():
    from adapters.edit_diffusers import pick_instruction

    phrasings = ("paint the cow's head blue", "make the cow's head blue", "change the colour of the head to blue")

    def sample(i: int, instructions=phrasings):
        return SimpleNamespace(id=f"s{i}", record=SimpleNamespace(instructions=instructions))

    assert [pick_instruction(sample(0), k, seed=0) for k in "123"] == list(phrasings)
    with pytest.raises(PartbenchError, match="has 1 instruction phrasing.*not 2"):
        pick_instruction(sample(0, phrasings[:1]), "2", seed=0)
    with pytest.raises(PartbenchError, match="no instruction phrasing"):
        pick_instruction(sample(0, ()), "random", seed=0)
    # random: the documented rule, sha256('{seed}/{sample id}/instruction')[:4] big-endian mod the count
    for seed in (0, 7):
        for i in range(30):
            digest = hashlib.sha256(f"{seed}/s{i}/instruction".encode()).digest()
            assert pick_instruction(sample(i), "random", seed) == phrasings[int.from_bytes(digest[:4], "big") % 3]
    drawn = [pick_instruction(sample(i), "random", 0) for i in range(30)]
    assert set(drawn) == set(phrasings)
    assert drawn != [pick_instruction(sample(i), "random", 1) for i in range(30)]


@pytest.mark.parametrize("method", ["instruct-pix2pix", "sdxl-inpaint"])
def test_tiny_editors_run_end_to_end_deterministically(tmp_path, edit_root, method):
    from partbench.registry import get_method
    from partbench.run import RunRequest, run
    from partbench.suites import load_suite

    request = RunRequest(method=method, suite="demo-edit", data_root=edit_root, output_root=tmp_path / "runs",
                         method_args={"preset": "tiny"}, limit=2, bootstrap=20)
    out = run(request)
    assert out.predicted == 2 and out.results["meaningful"] is False
    assert out.results["method_config"]["uses_gt_mask"] is (method == "sdxl-inpaint")
    samples = _samples(edit_root)
    saved = [np.asarray(Image.open(out.run_dir / "predictions" / f"{s.id}.png").convert("RGB")) for s in samples]
    for s, edit in zip(samples, saved):
        assert edit.shape == (*s.size, 3) and s.size[0] != s.size[1]  # the source's own, non-square size
        assert not np.array_equal(edit, s.image)
    # The same method built again (the same random tiny weights) and the same seed give the same edits.
    info = get_method(method, "part-editing")
    again = info.build(suite=load_suite("demo-edit"), data_root=edit_root, args={"preset": "tiny"}, seed=0)
    for edit, redo in zip(saved, again.edit(samples)):
        np.testing.assert_array_equal(edit, redo)


def test_sdxl_inpaint_keeps_the_background_when_asked_and_seeds_differ(edit_root):
    from adapters.edit_diffusers import SDXLInpaint

    (s,) = _samples(edit_root, 1)
    keep = SDXLInpaint(None, edit_root, {"preset": "tiny", "keep_background": "true"}, seed=0)
    (edit,) = keep.edit([s])
    np.testing.assert_array_equal(edit[~s.mask], s.image[~s.mask])
    assert not np.array_equal(edit[s.mask], s.image[s.mask])
    other = SDXLInpaint(None, edit_root, {"preset": "tiny", "keep_background": "true"}, seed=1)
    other.pipe = keep.pipe  # same weights; only the run's seed differs
    other.device = keep.device
    assert not np.array_equal(other.edit([s])[0], edit)


def test_registry_marks_only_sdxl_inpaint_mask_given():
    from partbench.registry import get_method

    assert get_method("sdxl-inpaint", "part-editing").uses_gt_mask is True
    assert get_method("instruct-pix2pix", "part-editing").uses_gt_mask is False
    assert get_method("identity", "part-editing").uses_gt_mask is False


def test_real_weights_are_looked_up_never_downloaded(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    from adapters.edit_diffusers import InstructPix2Pix, SDXLInpaint

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(PartbenchError, match=r"'timbrooks/instruct-pix2pix'.*never downloads.*huggingface-cli "
                                             r"download timbrooks/instruct-pix2pix"):
        InstructPix2Pix.fingerprint_for(args={})
    with pytest.raises(PartbenchError, match=r"diffusers/stable-diffusion-xl-1.0-inpainting-0.1.*never downloads"):
        SDXLInpaint.fingerprint_for(args={"steps": "20"})
    with pytest.raises(PartbenchError, match="does not exist"):
        SDXLInpaint.fingerprint_for(args={"weights": str(tmp_path / "nope")})
    with pytest.raises(PartbenchError, match="unknown --method-arg 'instructions'"):
        InstructPix2Pix.fingerprint_for(args={"instructions": "2"})
    with pytest.raises(PartbenchError, match="instruction must be one of 1, 2, 3, random"):
        InstructPix2Pix(None, tmp_path, {"instruction": "all"})
    assert InstructPix2Pix.meaningful_for({"preset": "tiny"}) is False and SDXLInpaint.meaningful_for({}) is True
    tiny = InstructPix2Pix.fingerprint_for(args={"preset": "tiny"})
    assert tiny.startswith("instruct-pix2pix-tiny-v1:") and tiny != SDXLInpaint.fingerprint_for(args={"preset": "tiny"})
