"""The `demo` suite's generator: determinism, the OV-PARTS layout, label consistency, and own left/right."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from partbench.data import demo
from partbench.data.demo import demo_is_complete, generate_demo
from partbench.errors import PartbenchError
from partbench.suites import load_suite, object_of, part_of

SUITE = load_suite("demo")
OBJ_ID = {o: i for i, o in enumerate(SUITE.object_classes)}
CLS_ID = {c: i for i, c in enumerate(SUITE.classes)}
N_TRAIN, N_VAL = 8, 18  # val cycles through the six part-bearing classes three times


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "PartbenchDemo"
    summary = generate_demo(out, seed=0, n_train=N_TRAIN, n_val=N_VAL)
    return out, summary


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _load(root: Path, split: str, image_id: str):
    image = Image.open(root / "images" / split / f"{image_id}.jpg")
    part = Image.open(root / "annotations_detectron2_part" / split / f"{image_id}.png")
    obj = Image.open(root / "annotations_detectron2_obj" / split / f"{image_id}.png")
    return image, part, obj


def _meta(root: Path, split: str) -> dict:
    return json.loads((root / "meta" / f"{split}.json").read_text())


def _all_objects(root: Path):
    for split in ("train", "val"):
        for image_id, record in _meta(root, split).items():
            for o in record["objects"]:
                yield split, image_id, o


# -- determinism, completeness -------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    a = _files_of_generation(tmp_path / "a", seed=3)
    b = _files_of_generation(tmp_path / "b", seed=3)
    c = _files_of_generation(tmp_path / "c", seed=4)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    images = [k for k in a if k.endswith(".jpg")]
    assert images and all(a[k] != c[k] for k in images)


def _files_of_generation(out: Path, seed: int) -> dict[str, bytes]:
    generate_demo(out, seed=seed, n_train=2, n_val=3)
    return _files(out)


def test_image_does_not_depend_on_split_size(tmp_path):
    generate_demo(tmp_path / "small", n_train=1, n_val=2)
    generate_demo(tmp_path / "large", n_train=3, n_val=4)
    for name in ("images/val/demo_val_0001.jpg", "annotations_detectron2_part/train/demo_train_0000.png"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "large" / name).read_bytes()


def test_completeness_and_stale_files(tmp_path):
    out = tmp_path / "PartbenchDemo"
    assert not demo_is_complete(out)
    generate_demo(out, seed=1, n_train=2, n_val=5)
    assert demo_is_complete(out) and demo_is_complete(out, seed=1)
    assert not demo_is_complete(out, seed=2)

    # A smaller regeneration removes the images the larger one left behind (the reader would read them).
    generate_demo(out, seed=1, n_train=2, n_val=3)
    assert sorted(p.name for p in (out / "images" / "val").iterdir()) == [f"demo_val_000{i}.jpg" for i in range(3)]
    assert demo_is_complete(out, seed=1)

    (out / "annotations_detectron2_obj" / "val" / "demo_val_0002.png").unlink()
    assert not demo_is_complete(out)
    generate_demo(out, seed=1, n_train=2, n_val=3)
    (out / "manifest.json").unlink()
    assert not demo_is_complete(out)
    (out / "manifest.json").write_text("{not json")
    assert not demo_is_complete(out)


def test_bad_arguments(tmp_path):
    with pytest.raises(PartbenchError):
        generate_demo(tmp_path, seed=-1)
    with pytest.raises(PartbenchError):
        generate_demo(tmp_path, n_val=-2)


def test_progress_bar_runs(tmp_path, capsys):
    generate_demo(tmp_path / "p", n_train=1, n_val=1, progress=True)
    assert "demo" in capsys.readouterr().err


# -- layout and labels ---------------------------------------------------------------------------------------------


def test_layout_dtypes_and_manifest(generated):
    root, summary = generated
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["generator_version"] == demo.GENERATOR_VERSION
    assert manifest["class_list_hash"] == SUITE.class_list_hash
    assert summary["splits"] == manifest["splits"]
    sizes = set()
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        ids = sorted(p.stem for p in (root / "images" / split).glob("*.jpg"))
        assert ids == [f"demo_{split}_{i:04d}" for i in range(n)]
        assert manifest["splits"][split]["images"] == n
        for image_id in ids:
            image, part, obj = _load(root, split, image_id)
            assert (image.format, image.mode) == ("JPEG", "RGB")
            assert (part.format, part.mode, obj.format, obj.mode) == ("PNG", "L", "PNG", "L")
            assert image.size == part.size == obj.size
            sizes.add(image.size)
    assert len(sizes) > 1  # sizes vary, so size handling is exercised


def test_parts_lie_in_their_own_object_and_label_counts_match(generated):
    root, summary = generated
    object_of_part = np.full(256, 255, np.int64)
    for k, c in enumerate(SUITE.classes):
        object_of_part[k] = OBJ_ID[object_of(c)]
    for split in ("train", "val"):
        counts = json.loads((root / "annotations_detectron2_part" / f"{split}_obj_label_count.json").read_text())
        assert len(counts) == summary["splits"][split]["images"]
        n_samples = 0
        for name, ids in counts.items():
            _, part, obj = _load(root, split, Path(name).stem)
            part, obj = np.asarray(part), np.asarray(obj)
            labelled = part != 255
            assert part[labelled].max(initial=0) < SUITE.num_classes
            assert obj[obj != 255].max(initial=0) < len(SUITE.object_classes)
            # Every part pixel is a pixel of an object of the part's own class.
            assert np.array_equal(obj[labelled], object_of_part[part[labelled]])
            assert ids == sorted(int(v) for v in np.unique(obj) if v != 255)
            # The part-less object's pixels carry no part label.
            assert not np.any(labelled & (obj == OBJ_ID["ball"]))
            n_samples += sum(1 for i in ids if SUITE.part_ids_of(SUITE.object_classes[i]) and
                             np.any(labelled & (obj == i)))
        assert n_samples == summary["splits"][split]["samples"]


def test_parts_cover_most_of_each_object(generated):
    root, _ = generated
    total = unlabelled = 0
    for split in ("train", "val"):
        for image_id in _meta(root, split):
            part, obj = (np.asarray(im) for im in _load(root, split, image_id)[1:])
            with_parts = (obj != 255) & (obj != OBJ_ID["ball"])
            total += with_parts.sum()
            unlabelled += (with_parts & (part == 255)).sum()
    assert 0 < unlabelled / total < 0.08  # a few annotation gaps, as in real data, but not many


def test_meta_matches_object_map(generated):
    root, summary = generated
    for split in ("train", "val"):
        meta = _meta(root, split)
        assert sum(len(r["objects"]) for r in meta.values()) == summary["splits"][split]["objects"]
        for image_id, record in meta.items():
            obj = np.asarray(_load(root, split, image_id)[2])
            assert list(obj.shape) == record["size"]
            for cls in {o["class"] for o in record["objects"]}:
                visible = sum(o["visible_pixels"] for o in record["objects"] if o["class"] == cls)
                assert visible == int((obj == OBJ_ID[cls]).sum())


# -- content -------------------------------------------------------------------------------------------------------


def test_every_class_is_drawn_and_only_suite_classes_are():
    """Each object's drawings (over its facings) name exactly the suite's part phrases for it."""
    rng = np.random.default_rng(0)
    for cls, facings in demo.FACINGS.items():
        drawn = set()
        for facing in facings:
            for _ in range(3):
                drawn |= {s.part for s in demo.draw_object(cls, facing, 100.0, rng) if not s.decor and s.part}
        assert drawn == {part_of(SUITE.classes[i]) for i in SUITE.part_ids_of(cls)}, cls


def test_unknown_part_fails_loudly():
    space = demo.DemoIds.from_suite(SUITE)
    with pytest.raises(PartbenchError, match="demo.yaml"):
        space.part_id("cow", "left wing")


def test_mirrored_pairs_exist():
    names = {(SUITE.classes[a], SUITE.classes[b]) for a, b in SUITE.mirrored_pairs}
    assert ("figure's left upper arm", "figure's right upper arm") in names
    assert ("horse's left front leg", "horse's right front leg") in names
    assert ("bus's left tail light", "bus's right tail light") in names


def test_coverage_of_facings_classes_and_compositions(generated):
    root, _ = generated
    facings: dict[str, set] = {}
    for _, _, o in _all_objects(root):
        facings.setdefault(o["class"], set()).add(o["facing"])
    for cls, expected in demo.FACINGS.items():
        assert facings.get(cls) == set(expected), cls

    val_classes = {o["class"] for split, _, o in _all_objects(root) if split == "val"}
    assert val_classes & SUITE.unseen_objects and val_classes - SUITE.unseen_objects - {"ball"}
    assert "ball" in val_classes

    per_image = Counter()
    classes_per_image: dict[str, list[str]] = {}
    occluded = 0
    for _, image_id, o in _all_objects(root):
        per_image[image_id] += 1
        classes_per_image.setdefault(image_id, []).append(o["class"])
        occluded += o["visible_pixels"] < o["drawn_pixels"] * 0.97
    assert max(per_image.values()) >= 2 and min(per_image.values()) >= 1
    assert any(len(set(c)) < len(c) for c in classes_per_image.values())  # two instances of one class
    assert any(len(set(c) - {"ball"}) >= 2 for c in classes_per_image.values())  # two different classes
    assert occluded > 0  # some objects partly hidden (by others or the border)


def _single_instances(root: Path):
    """(class, facing, record, part map, object mask) of objects that are the only instance of their class in the
    image, so the class's pixels are that object's."""
    for split in ("train", "val"):
        for image_id, record in _meta(root, split).items():
            count = Counter(o["class"] for o in record["objects"])
            _, part, obj = _load(root, split, image_id)
            part, obj = np.asarray(part), np.asarray(obj)
            for o in record["objects"]:
                if count[o["class"]] == 1 and o["class"] != "ball":
                    yield o["class"], o["facing"], o, part, obj == OBJ_ID[o["class"]]


def _centroid_x(part: np.ndarray, mask: np.ndarray, name: str, min_pixels: int = 8) -> float | None:
    ys, xs = np.nonzero((part == CLS_ID[name]) & mask)
    return float(xs.mean()) if len(xs) >= min_pixels else None


def _check_sides(cls, facing, part, mask, phrase) -> bool:
    """Own left appears on the image right when facing the camera, on the image left when facing away."""
    left = _centroid_x(part, mask, f"{cls}'s left {phrase}")
    right = _centroid_x(part, mask, f"{cls}'s right {phrase}")
    if left is None or right is None:
        return False
    assert (left > right) == (facing == "camera"), (cls, facing, phrase, left, right)
    return True


def test_left_right_are_the_objects_own(generated):
    root, _ = generated
    checked = Counter()
    for cls, facing, _, part, mask in _single_instances(root):
        if cls in ("figure", "robot"):
            for phrase in ("upper arm", "leg"):
                checked[cls] += _check_sides(cls, facing, part, mask, phrase)
        elif cls in ("car", "bus"):
            lamps, other = ("headlight", "tail light") if facing == "camera" else ("tail light", "headlight")
            for phrase in (lamps, "wheel", "mirror"):
                checked[cls] += _check_sides(cls, facing, part, mask, phrase)
            # Only one end of the vehicle is seen: the lights tell which.
            assert not np.any(np.isin(part[mask], [CLS_ID[f"{cls}'s {s} {other}"] for s in ("left", "right")]))
    assert all(checked[c] > 0 for c in ("figure", "robot", "car", "bus")), checked


def test_side_view_animals_show_their_near_flank(generated):
    """Facing image right, an animal shows its right flank: its right legs are the near ones (drawn over the far
    legs and thicker), so more of them is visible; facing left, its left legs."""
    root, _ = generated
    checked = Counter()
    for cls, facing, o, part, mask in _single_instances(root):
        if cls not in ("cow", "horse") or o["visible_pixels"] < 0.97 * o["drawn_pixels"]:
            continue
        head, torso = _centroid_x(part, mask, f"{cls}'s head"), _centroid_x(part, mask, f"{cls}'s torso")
        assert (head > torso) == (facing == "right")
        area = {s: sum(int(((part == CLS_ID[f"{cls}'s {s} {e} leg"]) & mask).sum()) for e in ("front", "back"))
                for s in ("left", "right")}
        near, far = (("right", "left") if facing == "right" else ("left", "right"))
        assert area[near] > area[far], (cls, facing, area)
        front = _centroid_x(part, mask, f"{cls}'s {near} front leg")
        back = _centroid_x(part, mask, f"{cls}'s {near} back leg")
        assert (front > back) == (facing == "right")
        checked[cls] += 1
    assert checked["cow"] > 0 and checked["horse"] > 0, checked


def test_train_and_val_differ(generated):
    root, _ = generated
    a = (root / "images" / "train" / "demo_train_0000.jpg").read_bytes()
    b = (root / "images" / "val" / "demo_val_0000.jpg").read_bytes()
    assert a != b
