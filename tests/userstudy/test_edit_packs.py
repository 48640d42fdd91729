"""`userstudy export` of part-editing runs through the CLI: the source of every item in the pack, the part and the
source in the crowd-platform CSV, the same pack for the same seed, and a data root without the runs' sources
refused (a pack must show raters the image the edits were made from)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import invoke


@pytest.fixture(scope="module")
def edit_runs(tmp_path_factory) -> tuple[Path, list[Path]]:
    from partbench.data.demo import generate_demo
    from partbench.data.demo_edit import generate_demo_edit
    from partbench.run import RunRequest, run

    tmp = tmp_path_factory.mktemp("edit-runs")
    root = tmp / "data"
    generate_demo(root / "PartbenchDemo", seed=0, n_train=2, n_val=3)
    generate_demo_edit(root, seed=0, n_images=3)
    return root, [run(RunRequest(method=m, suite="demo-edit", data_root=root, output_root=tmp / "runs",
                                 bootstrap=0)).run_dir for m in ("oracle", "identity")]


def test_cli_exports_an_edit_pack_with_sources(edit_runs, tmp_path):
    import csv
    import json

    root, (oracle, identity) = edit_runs
    args = ["userstudy", "export", "--run", oracle, "--run", identity, "--gold", "1", "--data-root", root]
    r = invoke(*args, "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    key = json.loads((tmp_path / "a" / "key.json").read_text())
    manifest = json.loads((tmp_path / "a" / "pack" / "manifest.json").read_text())
    assert key["task"] == manifest["task"] == "part-editing" and manifest["question"].startswith("Which edit")
    rows = list(csv.DictReader((tmp_path / "a" / "items.csv").open()))
    assert [row["Input.item_id"] for row in rows] == [i["item_id"] for i in key["items"]]
    for row in rows:
        assert row["Input.part"] in ("head", "body")
        assert (tmp_path / "a" / "pack" / row["Input.image_source_url"]).is_file()
    assert invoke(*args, "--out", tmp_path / "b").exit_code == 0
    for name in ("pack/index.html", "items.csv", "pack/images/item001-0.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    r = invoke("userstudy", "export", "--run", oracle, "--run", identity, "--out", tmp_path / "c")
    assert r.exit_code != 0 and "--data-root" in r.output  # $PARTBENCH_DATA points at an empty folder in tests
