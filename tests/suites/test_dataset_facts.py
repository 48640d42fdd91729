"""A dataset's facts live in its suite YAML: sources, prepare layouts and shared folders are read from there, and
malformed entries are refused naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from partbench.errors import PartbenchError
from partbench.suites import SUITES_DIR, load_suite
from partbench.suites.datasets import find_layout, find_source


def test_a_suite_sharing_another_suites_data_says_so_once():
    cross, owner = load_suite("partimagenet-to-pascal-part-116"), load_suite("pascal-part-116")
    assert cross.data_from == "pascal-part-116"
    assert (cross.dataset_dir, cross.reader) == (owner.dataset_dir, owner.reader)
    assert find_source("partimagenet-to-pascal-part-116") == find_source("pascal-part-116")
    assert find_layout("partimagenet-to-pascal-part-116")[0] == find_layout("pascal-part-116")[0]


def _write(tmp_path, **changes) -> str:
    raw = yaml.safe_load((SUITES_DIR / "demo.yaml").read_text()) | {"name": "broken"} | changes
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("changes,message", [
    ({"download": {"x": {"file": "x.zip", "url": "ftp://example.org/x.zip"}}}, "download.x: url 'ftp://"),
    ({"download": {"x": {"file": "x.zip", "url": "https://example.org/x.zip", "sha256": "abc"}}},
     "sha256 must be 64 lower-case hex digits"),
    ({"download": {"x": {"file": "x.zip", "url": "https://example.org/x.zip", "md5": "abc"}}}, "unknown key(s)"),
    ({"prepare": {"x": {"target": "../outside", "find": ["images"]}}}, "without '..'"),
    ({"data_from": "pascal-part-116"}, "already gives dataset_dir"),
])
def test_malformed_facts_name_the_file_and_key(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(PartbenchError) as raised:
        load_suite(path)
    assert path in str(raised.value) and message in str(raised.value)
