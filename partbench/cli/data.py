"""`partbench data`: put datasets under the data root: generate (demo), download, prepare, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.group import PartbenchGroup
from partbench.cli.options import DataRoot

data_app = typer.Typer(cls=PartbenchGroup, help="Generate, download, prepare and verify datasets.",
                       no_args_is_help=True)

GENERATED = ("demo", "demo-partonomy", "demo-edit")
SR_PANEL = "pascal-part-sr only"


@data_app.command("generate")
def generate_command(
    name: Annotated[str, typer.Argument(help="A generated suite: demo, demo-partonomy, demo-edit.")],
    data_root: DataRoot = None,
    seed: Annotated[int, typer.Option(help="Generator seed (the same seed gives byte-identical files).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Regenerate even if complete.")] = False,
) -> None:
    """Generate a suite that needs no download (deterministic from the seed)."""
    from partbench.console import console
    from partbench.data.demo import demo_is_complete, generate_demo
    from partbench.data.root import resolve_data_root
    from partbench.errors import UnknownNameError
    from partbench.suites import load_suite

    if name not in GENERATED:
        raise UnknownNameError("generated suite", name, GENERATED)
    if name == "demo-partonomy":
        _generate_demo_partonomy(resolve_data_root(data_root), seed, force)
        return
    if name == "demo-edit":
        _generate_demo_edit(resolve_data_root(data_root), seed, force)
        return
    suite = load_suite(name)
    out = suite.dataset_path(resolve_data_root(data_root))
    if demo_is_complete(out, seed) and not force:
        console.print(f"{name}: already generated at {out} (seed {seed}); --force regenerates.", highlight=False)
        return
    summary = generate_demo(out, seed=seed, progress=True)
    counts = ", ".join(f"{split}: {c['images']} images, {c['samples']} samples"
                       for split, c in summary["splits"].items())
    console.print(f"{name}: generated at {out} (seed {seed}; {counts})", highlight=False, soft_wrap=True)


def _generate_demo_partonomy(root: Path, seed: int, force: bool) -> None:
    """Questions over the demo's val images; the demo is generated first when it is not there."""
    from partbench.console import console
    from partbench.data.demo import demo_is_complete, generate_demo
    from partbench.data.demo_partonomy import demo_partonomy_is_complete, generate_demo_partonomy
    from partbench.suites import load_suite

    out = load_suite("demo-partonomy").dataset_path(root)
    if demo_partonomy_is_complete(root, seed) and not force:
        console.print(f"demo-partonomy: already generated at {out} (seed {seed}); --force regenerates.",
                      highlight=False)
        return
    demo_dir = load_suite("demo").dataset_path(root)
    if not demo_is_complete(demo_dir):
        generate_demo(demo_dir, seed=seed, progress=True)
    counts = generate_demo_partonomy(root, seed=seed)["splits"]["val"]
    console.print(f"demo-partonomy: generated at {out} (seed {seed}; {counts['samples']} records over "
                  f"{counts['images']} demo val images)", highlight=False, soft_wrap=True)


def _generate_demo_edit(root: Path, seed: int, force: bool) -> None:
    """Part edits over the demo's val images; the demo is generated first when it is not there."""
    from partbench.console import console
    from partbench.data.demo import demo_is_complete, generate_demo
    from partbench.data.demo_edit import demo_edit_is_complete, generate_demo_edit
    from partbench.suites import load_suite

    out = load_suite("demo-edit").dataset_path(root)
    if demo_edit_is_complete(root, seed) and not force:
        console.print(f"demo-edit: already generated at {out} (seed {seed}); --force regenerates.", highlight=False)
        return
    demo_dir = load_suite("demo").dataset_path(root)
    if not demo_is_complete(demo_dir):
        generate_demo(demo_dir, seed=seed, progress=True)
    n = generate_demo_edit(root, seed=seed)["splits"]["val"]["samples"]
    console.print(f"demo-edit: generated at {out} (seed {seed}; {n} edits)", highlight=False, soft_wrap=True)


@data_app.command("download")
def download_command(
    name: Annotated[str, typer.Argument(help="An entry of a suite YAML's `download:` (e.g. pascal-part, voc2010), "
                                             "or a suite with one; Google-Drive releases print the manual steps.")],
    data_root: DataRoot = None,
    dest: Annotated[Optional[Path], typer.Option(help="Folder for the archive. Default: <data-root>/downloads.",
                                                 show_default=False)] = None,
    url: Annotated[Optional[str], typer.Option(help="Use this URL instead (a mirror).", show_default=False)] = None,
) -> None:
    """Download a dataset archive (resumable: run it again after an interruption; checksummed when a checksum is
    known, always checked for archive integrity). Then run `partbench data prepare NAME --source ARCHIVE`."""
    from partbench.console import console, err_console
    from partbench.data.download import download, get_source
    from partbench.data.root import resolve_data_root

    source = get_source(name)
    if source.url is None and url is None:
        err_console.print(f"{source.name} cannot be downloaded automatically.\n{source.manual}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(code=3)
    folder = dest or resolve_data_root(data_root) / "downloads"
    path = download(url or source.url, folder / source.file_name, sha256=source.sha256)
    if source.note:
        console.print(source.note, style="dim", highlight=False, soft_wrap=True)
    console.print(f"{source.name}: {path}\nnext: partbench data prepare {source.name} --source {path}",
                  highlight=False, soft_wrap=True)


@data_app.command("prepare")
def prepare_command(
    name: Annotated[str, typer.Argument(help="An entry of a suite YAML's `prepare:` (e.g. pascal-part, voc2010), "
                                             "or a suite with one; or pascal-part-sr.")],
    source: Annotated[Path, typer.Option("--source", help="The downloaded archive (.zip/.tar/.tar.gz) or folder; "
                                                          "never modified.")],
    data_root: DataRoot = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing prepared folder (pascal-part-sr: make "
                                                        "every image again, also images made with another recipe or "
                                                        "generator, which are refused otherwise).")] = False,
    output: Annotated[Optional[Path], typer.Option(
        help="Folder to write. Default: <data-root>/pascal-part-sr, where the suite reads it.", show_default=False,
        rich_help_panel=SR_PANEL)] = None,
    generator: Annotated[str, typer.Option(
        help="flux2 (FLUX.2 Klein, weights from the HF cache or a path), resize (Lanczos, no model) or "
             "module:Class.", rich_help_panel=SR_PANEL)] = "flux2",
    generator_arg: Annotated[Optional[list[str]], typer.Option(
        "--generator-arg", "-g", help="Generator setting key=value (repeatable): flux2 weights=9B|4B|PATH, refine, "
                                      "strength, steps, guidance, preset=tiny; resize fill=edge|mean.",
        rich_help_panel=SR_PANEL)] = None,
    scale: Annotated[Optional[float], typer.Option(
        help="Fixed upsampling factor (>= 1) instead of --short-side.", show_default=False,
        rich_help_panel=SR_PANEL)] = None,
    short_side: Annotated[int, typer.Option(help="Short side of the upsampled image, pixels (factor at most 4).",
                                            rich_help_panel=SR_PANEL)] = 1024,
    margin: Annotated[str, typer.Option(
        help="Outpainted margin as a fraction of the upsampled image: one value, 'x,y' or 'left,top,right,bottom'.",
        rich_help_panel=SR_PANEL)] = "0.125",
    prompt: Annotated[Optional[str], typer.Option(
        help="Prompt template with {objects} (the image's classes). Default: 'a high-resolution, detailed photo of "
             "{objects}'.", show_default=False, rich_help_panel=SR_PANEL)] = None,
    seed: Annotated[int, typer.Option(help="Base seed (each image's seed is drawn from it and the image id).",
                                      rich_help_panel=SR_PANEL)] = 0,
    split: Annotated[Optional[list[str]], typer.Option(help="Only this split (repeatable). Default: train and val.",
                                                       show_default=False, rich_help_panel=SR_PANEL)] = None,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N images (by id).", show_default=False,
                                                 rich_help_panel=SR_PANEL)] = None,
    min_psnr: Annotated[float, typer.Option(
        help="Fail an image whose upsampled box, scaled back down, is further than this (dB) from the source.",
        rich_help_panel=SR_PANEL)] = 20.0,
) -> None:
    """Turn a downloaded archive or folder into the layout the suite's reader expects, under the data root.
    `pascal-part-sr` instead makes Pascal-Part SR from a Pascal-Part data root (--source), resumably."""
    from partbench.console import console
    from partbench.data.prepare import prepare
    from partbench.data.root import resolve_data_root

    if name == "pascal-part-sr":
        from partbench.cli.data_sr import prepare_sr

        prepare_sr(source, output, resolve_data_root(data_root), generator=generator, generator_args=generator_arg,
                   scale=scale, short_side=short_side, margin=margin, prompt=prompt, seed=seed, splits=split,
                   limit=limit, min_psnr=min_psnr, force=force)
        return
    if output is not None or generator_arg or scale is not None or limit is not None or split:
        from partbench.errors import PartbenchError

        raise PartbenchError("--output, --generator-arg, --scale, --split and --limit are options of "
                             "`partbench data prepare pascal-part-sr` only.")
    done = prepare(name, source, resolve_data_root(data_root), force=force)
    notes = "".join(f"\n  {n}" for n in done.notes)
    console.print(f"{name}: prepared {done.files} files at {done.target}{notes}", highlight=False, soft_wrap=True)


@data_app.command("verify")
def verify_command(
    name: Annotated[str, typer.Argument(help="A suite, e.g. pascal-part, ade20k-part-234, partimagenet.")],
    data_root: DataRoot = None,
    split: Annotated[Optional[list[str]], typer.Option(help="Only this split (repeatable). Default: all.",
                                                       show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option(help="Load only the first N samples of each split.",
                                                 show_default=False)] = None,
) -> None:
    """Check a suite's data: presence, counts, label ranges, image/mask sizes, class list. Exit 1 listing every
    problem found."""
    from partbench.console import console
    from partbench.data.root import resolve_data_root
    from partbench.data.verify import verify

    report = verify(name, resolve_data_root(data_root), splits=split, limit=limit)
    for fact in report.facts:
        console.print(f"  {fact}", highlight=False, soft_wrap=True)
    if report.ok:
        console.print(f"{report.suite}: OK", style="green", highlight=False)
        return
    console.print(f"{report.suite}: {len(report.problems)} problem(s):", style="red", highlight=False)
    for p in report.problems:
        console.print(f"  - {p}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)
