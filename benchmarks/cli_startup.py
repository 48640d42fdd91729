"""What a `partbench score` process spends before and around the scoring: interpreter start-up and imports.

    python benchmarks/cli_startup.py [--repeat 5]

Times, each in its own process and best of `--repeat` (rounds, as in score_speed.py): the bare interpreter; numpy;
numpy and PIL (what the Pillow decode-only floor of score_speed.py imports); numpy and pyspng (what partbench decodes
with); the CLI framework (typer and rich) with and without typer's pydantic adapters (which `partbench.cli.coercion`
keeps out of partbench's commands); scipy.sparse (which small bootstrap matrices no longer need);
`partbench score --help`;
and `partbench score` (defaults) on the generated demo suite's validation split (120 images of about 160×128, 182
samples; its ground truth scored as predictions). Then one `python -X importtime` run of that score, split by
top-level package (self times: with -X importtime each import costs a little more than without).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

PARTBENCH = [sys.executable, "-m", "partbench"]
DATA = Path(tempfile.mkdtemp(prefix="partbench-startup-"))
DEMO_SCORE = [*PARTBENCH, "score", "-s", "demo", "-p", str(DATA / "PartbenchDemo/annotations_detectron2_part/val"),
              "--data-root", str(DATA), "--output", str(DATA / "results.json"), "--force"]
PROCESSES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import numpy": [sys.executable, "-c", "import numpy"],
    "import numpy, PIL (the decode-only floor's imports)": [
        sys.executable, "-c", "import numpy, PIL.Image, PIL.PngImagePlugin"],
    "import numpy, pyspng (partbench's decoder)": [sys.executable, "-c", "import numpy, pyspng"],
    "import typer, rich": [sys.executable, "-c", "import typer, rich.progress, rich.table"],
    "import typer, its pydantic adapters, rich": [
        sys.executable, "-c", "import typer, typer._adapters, rich.progress, rich.table"],
    "import numpy, scipy.sparse": [sys.executable, "-c", "import numpy, scipy.sparse"],
    "import partbench's CLI (no command built)": [
        sys.executable, "-c", "import typer.main; from partbench.cli.main import app; typer.main.get_command(app)"],
    "... and build every command, as `partbench --help` does": [
        sys.executable, "-c", "import typer.main; from partbench.cli.main import COMMANDS, app; "
        "group = typer.main.get_command(app); [group.get_command(None, name) for name in COMMANDS]"],
    "partbench score --help": [*PARTBENCH, "score", "--help"],
    "partbench score, demo suite (120 small images)": DEMO_SCORE,
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def import_split(command: list[str]) -> dict[str, float]:
    """Seconds of import self time per top-level package, from `python -X importtime`."""
    out = subprocess.run([command[0], "-X", "importtime", *command[1:]], check=True, capture_output=True, text=True)
    per: dict[str, float] = defaultdict(float)
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        per[name.split(".")[0]] += int(self_us) / 1e6
    return dict(per)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ["PARTBENCH_CACHE"] = str(DATA / "cache")
    subprocess.run([*PARTBENCH, "data", "generate", "demo", "--data-root", str(DATA)], check=True, capture_output=True)
    wall(DEMO_SCORE)  # untimed: builds the index and file-hash caches, as a first scoring does
    from rich.console import Console
    from rich.table import Table

    times: dict[str, list[float]] = {label: [] for label in PROCESSES}
    for _ in range(args.repeat):
        for label, command in PROCESSES.items():
            times[label].append(wall(command))
    console = Console(width=120)
    table = Table(title=f"Process start-up, best of {args.repeat} (cwd {Path.cwd().name})")
    table.add_column("process")
    table.add_column("wall s", justify="right")
    for label, values in times.items():
        table.add_row(label, f"{min(values):.3f}")
    console.print(table)
    split = import_split(DEMO_SCORE)
    total = sum(split.values())
    table = Table(title=f"`partbench score` (demo) imports by package (-X importtime self times, {total:.3f} s)")
    table.add_column("package")
    table.add_column("s", justify="right")
    table.add_column("share", justify="right")
    for name, seconds in sorted(split.items(), key=lambda kv: -kv[1])[:12]:
        table.add_row(name, f"{seconds:.3f}", f"{seconds / total:.0%}")
    console.print(table)


if __name__ == "__main__":
    main()
