"""`partbench data prepare pascal-part-sr`: the options into a recipe and a generator, the summary printed."""

from __future__ import annotations

from pathlib import Path

import typer


def prepare_sr(source: Path, output: Path | None, data_root: Path, *, generator: str,
               generator_args: list[str] | None, scale: float | None, short_side: int, margin: str,
               prompt: str | None, seed: int, splits: list[str] | None, limit: int | None, min_psnr: float,
               force: bool) -> None:
    from partbench.console import console, err_console
    from partbench.data.pascal_part_sr import DEFAULT_PROMPT, Recipe, parse_margins
    from partbench.data.pascal_part_sr_prepare import SPLITS, prepare_pascal_part_sr
    from partbench.data.sr_generators import make_generator
    from partbench.errors import PartbenchError
    from partbench.suites import load_suite

    args: dict[str, str] = {}
    for item in generator_args or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PartbenchError(f"--generator-arg expects key=value, got {item!r}.")
        args[key] = value
    unknown = sorted(set(splits or ()) - set(SPLITS))
    if unknown:
        raise PartbenchError(f"--split: unknown split(s) {', '.join(unknown)}; Pascal-Part has {', '.join(SPLITS)}.")
    # Everything is checked (recipe, generator, weights) before the output folder is touched.
    recipe = Recipe(short_side=short_side, scale=scale, margins=parse_margins(margin), prompt=prompt or DEFAULT_PROMPT,
                    seed=seed)
    image_generator = make_generator(generator, args)
    suite_dir = load_suite("pascal-part-sr").dataset_path(data_root)
    out = output or suite_dir
    done = prepare_pascal_part_sr(source, out, recipe, image_generator, splits=tuple(splits or SPLITS), limit=limit,
                                  force=force, min_psnr=min_psnr)
    listed = ", ".join(f"{s}: {n} images" for s, n in done.listed.items())
    console.print(f"pascal-part-sr: {out} (recipe {recipe.hash}; {listed}; made {done.made}, kept {done.kept} from "
                  f"an earlier run)", highlight=False, soft_wrap=True)
    if done.without_annotation:
        console.print(f"  {done.without_annotation} listed source images have no .mat (not annotated): left out",
                      highlight=False, soft_wrap=True)
    if done.remaining:
        console.print(f"  {done.remaining} source images not finished yet: run the same command again to go on",
                      highlight=False, soft_wrap=True)
    if Path(out).resolve() != suite_dir.resolve():
        console.print(f"  the suite pascal-part-sr reads <data-root>/pascal-part-sr ({suite_dir}); move the folder "
                      f"there to score on it", highlight=False, soft_wrap=True)
    if done.failed:
        err_console.print(f"{len(done.failed)} image(s) failed their checks (recorded in {out}/sr.jsonl, made again "
                          f"on the next run):", style="red", highlight=False)
        for image_id, why in list(done.failed.items())[:20]:
            err_console.print(f"  - {image_id}: {why}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)
