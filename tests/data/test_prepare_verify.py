"""`partbench data prepare` (archive or folder -> reader layout, source untouched) and `partbench data verify`."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import invoke
from helpers.datasets import build_ade, build_partimagenet, build_pascal_part, save_jpg, save_png
from PIL import Image

from partbench.data.prepare import prepare
from partbench.errors import PartbenchError
from partbench.suites import SUITES_DIR, load_suite


def listing(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tar_folder(folder: Path, archive: Path, arcname: str, junk: bool = True) -> Path:
    with tarfile.open(archive, "w:gz") as t:
        t.add(folder, arcname=arcname)
        if junk:  # what a Mac adds next to every file
            info = tarfile.TarInfo(f"{arcname}/._resource_fork")
            info.size = 4
            t.addfile(info, io.BytesIO(b"junk"))
    return archive


def test_pascal_part_from_archives_then_verify(tmp_path):
    src = tmp_path / "src"
    build_pascal_part(src, load_suite("pascal-part"))
    ann_tar = tar_folder(src / "pascal-part", tmp_path / "trainval.tar.gz", "trainval")
    voc_tar = tar_folder(src / "VOCdevkit", tmp_path / "VOCtrainval_03-May-2010.tar", "VOCdevkit")
    before = listing(tmp_path)
    root = tmp_path / "data"
    assert invoke("data", "prepare", "pascal-part", "--source", ann_tar, "--data-root", root).exit_code == 0
    result = invoke("data", "prepare", "voc2010", "--source", voc_tar, "--data-root", root)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (root / "pascal-part/Annotations_Part").iterdir()) == [
        "2008_000001.mat", "2008_000002.mat", "2008_000003.mat", "2008_000004.mat"]
    assert not list(root.rglob("._*")) and not list(root.glob(".staging-*"))
    assert {k: v for k, v in listing(tmp_path).items() if not k.startswith("data/")} == before  # sources untouched
    result = invoke("data", "verify", "pascal-part", "--data-root", root)
    # val.txt lists 2008_000005, whose image and .mat the archives lack: named, and verify fails.
    assert result.exit_code == 1, result.output
    assert "val: 4 samples" in result.output and "1 no part annotation" in result.output
    assert "2008_000005.mat: missing" in result.output and "2008_000005.jpg: missing" in result.output
    # Preparing again refuses to overwrite unless asked.
    result = invoke("data", "prepare", "pascal-part", "--source", ann_tar, "--data-root", root)
    assert result.exit_code == 2 and "--force" in result.output


def test_partimagenet_ood_zip_is_flattened(tmp_path):
    suite = load_suite("partimagenet-ood")
    spec = json.loads((SUITES_DIR / "classes/partimagenet_ood.json").read_text())
    src = tmp_path / "src"
    build_partimagenet(src, suite, spec, folder="PartImageNet_OOD", nested=True, seen_obj="bald eagle",
                       train_seen_only=False)
    archive = tmp_path / "PartImageNet_OOD.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((src / "PartImageNet_OOD").rglob("*")):
            if p.is_file():
                rel = p.relative_to(src)
                # The release keeps the JSONs under annotations/.
                arc = f"PartImageNet_OOD/annotations/{p.name}" if p.suffix == ".json" else str(rel)
                z.write(p, arc)
        z.writestr("__MACOSX/PartImageNet_OOD/._train.json", b"junk")
    root = tmp_path / "data"
    result = invoke("data", "prepare", "partimagenet-ood", "--source", archive, "--data-root", root)
    assert result.exit_code == 0, result.output
    val_images = sorted(p.name for p in (root / "PartImageNet_OOD/images/val").iterdir())
    assert val_images == ["n01614925_2.JPEG", "n02134084_1.JPEG"]  # flat; the other-object image dropped
    result = invoke("data", "verify", "partimagenet-ood", "--data-root", root)
    # The layout is right; only the release's documented split sizes tell this tiny fixture from the real data.
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2 and "val: 2 images found, 2957 expected (PartImageNet README" in result.output


def test_partimagenet_zero_shot_preprocessing_from_a_folder(tmp_path):
    suite = load_suite("partimagenet")
    spec = json.loads((SUITES_DIR / "classes/partimagenet_zero_shot.json").read_text())
    src = tmp_path / "PartImageNet_Seg"
    build_partimagenet(src, suite, spec)
    before = listing(src)
    done = prepare("partimagenet", src, tmp_path / "data", progress=False)
    assert listing(src) == before
    train = json.loads((done.target / "train.json").read_text())
    # The unseen ice bear's train image is removed, with its annotations, as partimagenet_preprocess.py does.
    assert [i["file_name"] for i in train["images"]] == [f"{spec['object_synsets']['warplane']}_5.JPEG"]
    assert {a["image_id"] for a in train["annotations"]} == {train["images"][0]["id"]}
    assert sorted(p.name for p in (done.target / "images/train").iterdir()) == [train["images"][0]["file_name"]]
    index = suite.make_reader(tmp_path / "data").index("train")
    assert index.skipped["unseen_in_train"] == 0 and len(index.refs) == 1


def test_pascal_part_116_gets_obj_label_counts(tmp_path):
    src = tmp_path / "PascalPart116"
    obj = np.full((4, 5), 255)
    obj[:2] = 11
    obj[2:, :2] = 14
    save_png(src / "annotations_detectron2_obj/val/2008_000001.png", obj)
    save_png(src / "annotations_detectron2_part/val/2008_000001.png", np.full((4, 5), 255))
    save_jpg(src / "images/val/2008_000001.jpg", 4, 5)
    (src / "images/val/._2008_000001.jpg").write_bytes(b"junk")
    done = prepare("partimagenet-to-pascal-part-116", src, tmp_path / "data", progress=False)
    counts = json.loads((done.target / "annotations_detectron2_part/val_obj_label_count.json").read_text())
    assert counts == {"2008_000001.png": [11, 14]}
    assert not (done.target / "images/val/._2008_000001.jpg").exists()
    assert (src / "images/val/._2008_000001.jpg").exists()


def test_verify_catches_part_ids_of_another_object(tmp_path):
    """A class list in another order than the PNGs were written with: the bus's pixels read as another object's parts
    (ids shifted by 100), named per instance; the correct fixture verifies clean."""
    suite = load_suite("ade20k-part-234")
    build_ade(tmp_path, suite)
    assert invoke("data", "verify", "ade20k-part-234", "--data-root", tmp_path).exit_code == 0
    path = tmp_path / "ADE20KPart234/annotations_detectron2_part/validation/ADE_val_00000001.png"
    part = np.asarray(Image.open(path)).astype(np.int64)
    bus = set(suite.part_ids_of("bus"))
    shifted = np.where(np.isin(part, list(bus)), (part + 100) % suite.num_classes, part)
    assert not set(np.unique(shifted).tolist()) & bus
    save_png(path, shifted, bits=16)
    result = invoke("data", "verify", "ade20k-part-234", "--data-root", tmp_path)
    assert result.exit_code == 1
    assert "ADE_val_00000001__12: 100% of its labelled pixels carry part ids of other objects than 'bus'" in \
        result.output
    assert "ADE_val_00000001__11" not in result.output  # the person is untouched


def test_verify_lists_what_is_wrong(tmp_path):
    build_ade(tmp_path, load_suite("ade20k-part-234"))
    # An image whose size disagrees with its annotation, and a part label beyond the 234 classes.
    Image.new("RGB", (9, 6)).save(tmp_path / "ADE20KPart234/images/validation/ADE_val_00000001.jpg")
    bad = np.full((5, 6), 65535)
    bad[0, 3] = 300
    save_png(tmp_path / "ADE20KPart234/annotations_detectron2_part/training/ADE_train_00000001.png", bad, bits=16)
    result = invoke("data", "verify", "ade20k-part-234", "--data-root", tmp_path)
    assert result.exit_code == 1
    assert "ADE_val_00000001.jpg: image is 9x6 but its annotation is 8x6" in result.output
    assert "ADE_train_00000001.png: part label 300 is out of range" in result.output
    result = invoke("data", "verify", "partimagenet", "--data-root", tmp_path)
    assert result.exit_code == 1 and "PartImageNet" in result.output and "not found" in result.output


def test_unsafe_archive_member_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PartbenchError, match="outside the target folder"):
        prepare("pascal-part", archive, tmp_path / "data", progress=False)
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "data/pascal-part").exists()


@pytest.mark.parametrize("kind", ["tar-symlink", "tar-hardlink", "zip-symlink"])
def test_link_members_are_refused_cleanly(tmp_path, kind):
    archive = tmp_path / ("links.zip" if kind.startswith("zip") else "links.tar")
    if kind.startswith("zip"):
        with zipfile.ZipFile(archive, "w") as z:
            info = zipfile.ZipInfo("trainval/Annotations_Part/2008_000002.mat")
            info.external_attr = (0o120777 << 16)  # a symlink, as `zip --symlinks` stores it
            z.writestr(info, "/etc/passwd")
    else:
        with tarfile.open(archive, "w") as t:
            info = tarfile.TarInfo("trainval/Annotations_Part/2008_000002.mat")
            info.type = tarfile.SYMTYPE if kind == "tar-symlink" else tarfile.LNKTYPE
            info.linkname = "/etc/passwd"
            t.addfile(info)
    result = invoke("data", "prepare", "pascal-part", "--source", archive, "--data-root", tmp_path / "data")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "2008_000002.mat" in result.output and "is a link" in result.output
    assert not (tmp_path / "data" / "pascal-part").exists()
    assert not list((tmp_path / "data").glob(".staging-*"))  # nothing half-extracted is left behind
