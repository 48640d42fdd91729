"""Rows reused by a re-run: a row still at its position is written back as the line it was read from; a row whose
position moved is written with its new index."""

from __future__ import annotations

import json

from partbench.run.reuse import KeptLine, reusable_rows
from partbench.store.atomic import AtomicLineWriter


def test_kept_rows_are_written_back_verbatim_and_moved_ones_reindexed(tmp_path):
    path = tmp_path / "samples.jsonl"
    lines = ['{"index":0,"row_key":"a","entries":[[1,2,3]]}', '{"index":1,"row_key":"b","entries":[]}',
             '{"index": 2, "row_key": "c"}']  # written by another writer: spaces
    path.write_text("\n".join(lines) + "\n")
    found = reusable_rows(path, {"a": 0, "b": 5, "c": 2})
    assert isinstance(found[0], KeptLine) and isinstance(found[2], KeptLine) and not isinstance(found[5], KeptLine)
    assert found[5] == {"index": 5, "row_key": "b", "entries": []}
    out = tmp_path / "out.jsonl"
    with AtomicLineWriter(out) as writer:
        for position in (0, 2, 5):
            writer.write(found[position])
    written = out.read_text().splitlines()
    assert written[:2] == [lines[0], lines[2]]
    assert json.loads(written[2]) == {"index": 5, "row_key": "b", "entries": []}
