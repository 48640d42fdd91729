"""`partbench merge`: combine the shards of a run into its results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from partbench.cli.options import Bootstrap, Convention


def merge_command(
    run_dir: Annotated[Path, typer.Argument(help="The run directory the shards wrote into.")],
    convention: Convention = None,
    bootstrap: Bootstrap = 1000,
) -> None:
    """Combine `partbench run --shard K/N` jobs: checks all N are there, then scores exactly as one process would."""
    from partbench.cli.summary import print_summary
    from partbench.run import merge_run

    results = merge_run(run_dir, n_replicates=bootstrap, convention=convention)
    print_summary(results, str(run_dir / "results.json"))
