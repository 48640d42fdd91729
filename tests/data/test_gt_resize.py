"""`--gt-resize SHORT,MAX`: the official evaluators' ground-truth round trip, checked against a re-statement of the
upstream steps written with the library upstream uses (torch's `F.interpolate`), on images with thin parts and small
objects; native ground truth stays the default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.cli import invoke
from helpers.datasets import official_scores, save_jpg, save_png, write_predictions

from partbench.data.gt_resize import GtResize, nearest_indices, official_test_size
from partbench.errors import PartbenchError
from partbench.suites import load_suite

SUITE = load_suite("pascal-part-116")
IGNORE = 255
C = {c: i for i, c in enumerate(SUITE.classes)}
OBJ = {o: i for i, o in enumerate(SUITE.object_classes)}


@pytest.mark.parametrize(("n_in", "n_out"), [(37, 640), (53, 853), (500, 768), (375, 576), (20, 40), (40, 40),
                                             (333, 7), (7, 3), (1, 5), (97, 1024)])
def test_nearest_indices_are_torchs(n_in, n_out):
    source = torch.arange(n_in, dtype=torch.float64).view(1, 1, n_in, 1)
    picked = F.interpolate(source, size=(n_out, 1), mode="nearest").view(-1).long().numpy()
    np.testing.assert_array_equal(nearest_indices(n_in, n_out), picked)


def test_test_size_is_detectron2s_rule():
    # Worked by hand: 375x500 (HxW) at 640/768: short side 640 gives 640x853.3, over 768, so scaled by 0.9.
    assert official_test_size(375, 500, 640, 768) == (576, 768)
    # 333x500 at 512/2048: 512 x 768.77 -> int(768.77 + 0.5) = 769.
    assert official_test_size(333, 500, 512, 2048) == (512, 769)
    # Portrait: 500x333 at 800/1333 -> 1201.2 x 800 -> 1201.
    assert official_test_size(500, 333, 800, 1333) == (1201, 800)


@pytest.mark.parametrize("text", ["640", "a,b", "768,640", "0,10", "640,768,1"])
def test_bad_values_are_refused(text):
    with pytest.raises(PartbenchError, match="--gt-resize"):
        GtResize.parse(text)


def _upstream_sample(part: np.ndarray, obj: np.ndarray, category: int, short: int, max_size: int
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """OV_PARTS object_part_mapper + generalized_sem_seg_evaluation, restated: both maps as float64 resized with
    F.interpolate(nearest) to the test size, part masked to the object there, all-ignore -> dropped (None), then
    ground truth and object mask interpolated (nearest) back to the prediction size."""
    h, w = part.shape
    size = short * 1.0
    scale = size / min(h, w)
    newh, neww = (size, scale * w) if h < w else (scale * h, size)
    if max(newh, neww) > max_size:
        scale = max_size * 1.0 / max(newh, neww)
        newh, neww = newh * scale, neww * scale
    newh, neww = int(newh + 0.5), int(neww + 0.5)

    def down(a):
        return F.interpolate(torch.from_numpy(a.astype("double"))[None, None], (newh, neww), mode="nearest")[0, 0]

    obj_s, part_s = down(obj), down(part)
    part_s[obj_s != category] = IGNORE
    obj_s[obj_s != category] = IGNORE
    if (part_s == IGNORE).all():
        return None
    gt = F.interpolate(part_s[None, None], size=(h, w), mode="nearest")[0, 0].int().numpy()
    mask = F.interpolate((obj_s == category).float()[None, None], size=(h, w), mode="nearest")[0, 0].numpy()
    return gt, mask != 0


def _fixture(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three images in the OV-PARTS layout: thin parts (1-px legs and tail), a 3x3 bird, odd sizes."""
    rng = np.random.default_rng(0)
    maps = {}
    for image_id, (h, w) in {"2008_000001": (37, 53), "2008_000002": (61, 29), "2008_000003": (45, 45)}.items():
        part = np.full((h, w), IGNORE, dtype=np.uint8)
        obj = np.full((h, w), IGNORE, dtype=np.uint8)
        right = min(40, w - 6)
        obj[5:30, 4:right] = OBJ["cat"]
        part[5:15, 4:right] = C["cat's head"]
        part[15:30, 4:right] = C["cat's torso"]
        part[15:30, 9] = C["cat's tail"]  # one pixel wide
        part[15:30, right - 3] = C["cat's leg"]
        obj[h - 4:h - 1, w - 4:w - 1] = OBJ["bird"]  # a 3x3 object
        part[h - 4:h - 1, w - 4:w - 1] = C["bird's head"]
        part[h - 3, w - 3] = C["bird's eye"]
        noise = rng.random((h, w)) < 0.05
        part[noise & (obj == OBJ["cat"])] = C["cat's eye"]
        save_jpg(root / f"PascalPart116/images/val/{image_id}.jpg", h, w)
        save_png(root / f"PascalPart116/annotations_detectron2_part/val/{image_id}.png", part, bits=8)
        save_png(root / f"PascalPart116/annotations_detectron2_obj/val/{image_id}.png", obj, bits=8)
        maps[image_id] = (part, obj)
    return maps


def _predictions(maps, rng) -> dict[str, np.ndarray]:
    cat_parts = [C[f"cat's {p}"] for p in ("head", "torso", "tail", "leg", "eye")]
    bird_parts = [C[f"bird's {p}"] for p in ("head", "eye", "wing")]
    preds = {}
    for image_id, (part, _) in maps.items():
        preds[f"{image_id}__cat"] = rng.choice(cat_parts, size=part.shape)
        preds[f"{image_id}__bird"] = rng.choice(bird_parts, size=part.shape)
    return preds


@pytest.mark.parametrize(("short", "max_size"), [(640, 768), (800, 1333), (8, 12)])
def test_score_matches_the_upstream_round_trip(tmp_path, short, max_size):
    maps = _fixture(tmp_path / "data")
    preds = _predictions(maps, np.random.default_rng(short))
    folder = write_predictions(tmp_path / "preds", preds)
    out = tmp_path / "res.json"
    result = invoke("score", "-s", SUITE.name, "-p", folder, "--data-root", tmp_path / "data", "-o", out,
                    "--bootstrap", "0", "--gt-resize", f"{short},{max_size}")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    pairs, dropped = [], 0
    for image_id, (part, obj) in maps.items():
        for name in ("cat", "bird"):
            upstream = _upstream_sample(part, obj, OBJ[name], short, max_size)
            if upstream is None:
                dropped += 1
                continue
            gt, mask = upstream
            pairs.append((gt, np.where(mask, preds[f"{image_id}__{name}"], IGNORE)))
    want = official_scores(pairs, list(SUITE.classes), set(SUITE.unseen_objects), IGNORE)
    for key in ("seen_miou", "unseen_miou", "miou", "h_iou"):
        if np.isnan(want[key]):  # undefined (no unseen sample left): null in results.json
            assert doc["metrics"][key] is None
        else:
            assert doc["metrics"][key] == pytest.approx(want[key], abs=0.01)
    assert doc["n_samples"] == len(pairs) and doc["n_skipped"]["empty_ground_truth"] == dropped
    assert doc["gt_resize"] == f"{short},{max_size}"
    if short == 8:
        assert dropped == 3  # the 3x3 birds vanish at 8x12-ish test sizes


def test_native_ground_truth_stays_the_default(tmp_path):
    maps = _fixture(tmp_path / "data")
    preds = _predictions(maps, np.random.default_rng(1))
    folder = write_predictions(tmp_path / "preds", preds)
    out = tmp_path / "res.json"
    assert invoke("score", "-s", SUITE.name, "-p", folder, "--data-root", tmp_path / "data", "-o", out,
                  "--bootstrap", "0").exit_code == 0
    doc = json.loads(out.read_text())
    pairs = []
    for image_id, (part, obj) in maps.items():
        for name in ("cat", "bird"):
            inside = obj == OBJ[name]
            pairs.append((np.where(inside, part, IGNORE), np.where(inside, preds[f"{image_id}__{name}"], IGNORE)))
    want = official_scores(pairs, list(SUITE.classes), set(SUITE.unseen_objects), IGNORE)
    assert doc["metrics"]["h_iou"] == pytest.approx(want["h_iou"], abs=0.01) and "gt_resize" not in doc


def test_a_round_trip_run_is_another_run(demo_root):
    native = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0")
    resized = invoke("run", "-m", "random", "-s", "demo", "--data-root", demo_root, "--bootstrap", "0",
                     "--gt-resize", "32, 48")
    assert native.exit_code == 0 and resized.exit_code == 0, resized.output
    runs = sorted(p.name for p in Path("runs/demo").iterdir())
    assert len(runs) == 2 and runs[0] == "random"
    assert json.loads((Path("runs/demo") / runs[1] / "results.json").read_text())["gt_resize"] == "32,48"
    table = invoke("table", "runs", "--suite", "demo", "--no-published", "--format", "markdown")
    assert "ground truth through the test-size round trip 32,48" in table.output
    compared = invoke("compare", "runs/demo/random", str(Path("runs/demo") / runs[1]))
    assert compared.exit_code == 2 and "--gt-resize" in compared.output
    generation = invoke("run", "-m", "flux2-klein", "-s", "demo-t2i", "--gt-resize", "640,768")
    assert generation.exit_code == 2 and "does not apply" in generation.output


def test_codebase_names_and_the_methods_published_test_size():
    from partbench.data.gt_resize import GtResize
    from partbench.errors import PartbenchError
    from partbench.run.request import RunRequest

    # The upstream configs' MIN_SIZE_TEST / MAX_SIZE_TEST: part-catseg 640/768; OV-PARTS CLIPSeg sets none (800/1333).
    assert GtResize.parse("PartCATSeg") == GtResize(640, 768)
    assert GtResize.parse("ovparts-clipseg") == GtResize(800, 1333)
    req = RunRequest(method="partcatseg", suite="pascal-part-116", data_root=Path("."), gt_resize="published")
    assert req.gt_resize == "640,768"
    # PartImageNet's official mapper never applies its resize: the published protocol is the native one.
    assert RunRequest(method="partcatseg", suite="partimagenet", data_root=Path("."), gt_resize="published").gt_resize \
        is None
    with pytest.raises(PartbenchError, match="declares no upstream test size"):
        RunRequest(method="random", suite="pascal-part-116", data_root=Path("."), gt_resize="published")
    with pytest.raises(PartbenchError, match="a codebase"):
        GtResize.parse("detectron")
