"""`partbench data`: put datasets under the data root (the generated demo suite, for now)."""

from __future__ import annotations

from typing import Annotated

import typer

from partbench.cli.main import PartbenchGroup, app
from partbench.cli.options import DataRoot

data_app = typer.Typer(cls=PartbenchGroup, help="Generate, download, prepare and verify datasets.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

GENERATED = ("demo",)


@data_app.command("generate")
def generate_command(
    name: Annotated[str, typer.Argument(help="A generated suite: demo.")],
    data_root: DataRoot = None,
    seed: Annotated[int, typer.Option(help="Generator seed (the same seed gives byte-identical files).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Regenerate even if complete.")] = False,
) -> None:
    """Generate a suite that needs no download (deterministic from the seed)."""
    from partbench.cli.console import console
    from partbench.data.demo import demo_is_complete, generate_demo
    from partbench.errors import UnknownNameError
    from partbench.paths import resolve_data_root
    from partbench.suites import load_suite

    if name not in GENERATED:
        raise UnknownNameError("generated suite", name, GENERATED)
    suite = load_suite(name)
    out = suite.dataset_path(resolve_data_root(data_root))
    if demo_is_complete(out, seed) and not force:
        console.print(f"{name}: already generated at {out} (seed {seed}); --force regenerates.", highlight=False)
        return
    summary = generate_demo(out, seed=seed, progress=True)
    counts = ", ".join(f"{split}: {c['images']} images, {c['samples']} samples" for split, c in summary["splits"].items())
    console.print(f"{name}: generated at {out} (seed {seed}; {counts})", highlight=False, soft_wrap=True)
