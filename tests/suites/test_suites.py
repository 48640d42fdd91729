"""Suite definitions: class lists and splits agree with the official lists; bad YAML gets a clear error."""

from __future__ import annotations

import json

import pytest

from partbench.errors import PartbenchError, UnknownNameError
from partbench.suites import SUITES_DIR, load_suite, mirrored_phrase, suite_names


def test_every_registered_suite_loads_with_a_version():
    for name in suite_names():
        suite = load_suite(name)
        assert suite.version and suite.name == name
        assert suite.default_split in suite.splits


def test_pascal_part_116_split_by_object_equals_the_official_explicit_list():
    """OV-PARTS lists Pascal's 42 unseen part classes explicitly; our by-object rule must reproduce them."""
    official = json.loads((SUITES_DIR / "classes" / "pascal_part_116.json").read_text())
    suite = load_suite("pascal-part-116")
    assert list(suite.unseen_ids) == official["unseen_class_indices"]
    assert list(suite.seen_ids) == official["seen_class_indices"]
    assert (len(suite.seen_ids), len(suite.unseen_ids)) == (74, 42)
    assert suite.part_ids_of("boat") == ()  # boat, chair, diningtable, sofa have no part classes
    assert suite.mirrored_pairs == ()  # Pascal-Part-116 dropped the left/right words


def test_demo_pairs_mirror_left_and_right_within_one_object():
    suite = load_suite("demo")
    assert suite.mirrored_pairs
    for a, b in suite.mirrored_pairs:
        left, right = suite.classes[a], suite.classes[b]
        assert left.split("'s ")[0] == right.split("'s ")[0]
        assert left.replace("left", "right") == right


def test_mirrored_phrase():
    assert mirrored_phrase("left front leg") == "right front leg"
    assert mirrored_phrase("right upper arm") == "left upper arm"
    assert mirrored_phrase("front license plate") is None
    assert mirrored_phrase("leftover") is None


def test_unknown_suite_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'pascal-part-116'"):
        load_suite("pascal-part-161")


@pytest.mark.parametrize("body, message", [
    ("name: x\nversion: '1'\ntask: part-semantic\nreader: ovparts-semantic\n", "give the class list"),
    ("name: x\nversion: '1'\ntask: painting\nreader: r\ndataset_dir: d\nobjects: {a: [b]}\n", "task 'painting'"),
    ("name: x\nversion: '1'\ntask: part-semantic\nreader: r\ndataset_dir: d\nobjects: {a: [b, b]}\n", "duplicate"),
    ("name: x\nversion: '1'\ntask: part-semantic\nreader: r\ndataset_dir: d\nobjects: {a: [b]}\n"
     "unseen_objects: [zebra]\n", "zebra"),
    ("name: x\ntask: part-semantic\nreader: r\ndataset_dir: d\nobjects: {a: [b]}\n", "missing required key 'version'"),
    ("name: [unclosed\n", "invalid YAML"),
    # a misspelt key would leave its default in place: scored with ovparts instead of nanmean
    ("name: x\nversion: '1'\ntask: part-semantic\nreader: r\ndataset_dir: d\nobjects: {a: [b]}\n"
     "convetion: nanmean\n", "unknown key 'convetion'. Did you mean 'convention'"),
    # generation's own keys belong to generation suites only
    ("name: x\nversion: '1'\ntask: part-semantic\nreader: r\ndataset_dir: d\nobjects: {a: [b]}\n"
     "clip_model: ViT-B-16\n", "unknown key 'clip_model'"),
])
def test_bad_suite_yaml_is_named(tmp_path, body, message):
    path = tmp_path / "broken.yaml"
    path.write_text(body)
    with pytest.raises(PartbenchError, match=message) as err:
        load_suite(str(path))
    assert "broken.yaml" in str(err.value)
