"""Fixtures for the `partbench table` tests: the command, and two comparable runs to tabulate."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import invoke
from table_helpers import write_result


@pytest.fixture
def cli():
    """`partbench table ARGS...`, in process."""
    return lambda *args: invoke("table", *args)


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    """Two comparable runs: `alpha` wins seen mIoU and h-IoU, `beta` wins unseen mIoU and (lower) lr_confusion."""
    root = tmp_path / "runs"
    write_result(
        root / "pascal-part-116" / "alpha",
        metrics={"seen_miou": 50.0, "unseen_miou": 30.0, "h_iou": 37.5, "miou": 40.0, "lr_confusion": 20.0},
        ci95={"h_iou": [35.5, 39.5], "seen_miou": [48.0, 52.0]},
    )
    write_result(
        root / "pascal-part-116" / "beta@1a2b3c4d",
        metrics={"seen_miou": 40.0, "unseen_miou": 35.0, "h_iou": 37.33, "miou": 38.0, "lr_confusion": 10.0},
    )
    return root
