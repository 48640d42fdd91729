"""`partbench userstudy`: A/B user-study packs (export) and the analysis of their answers (analyze)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.group import PartbenchGroup
from partbench.cli.options import DataRoot

userstudy_app = typer.Typer(
    cls=PartbenchGroup, no_args_is_help=True, rich_markup_mode="rich",
    help="A/B user studies of generation or part-editing runs: export a static study pack, analyse the raters' "
         "answers.")


@userstudy_app.command("export")
def export_command(
    run: Annotated[list[Path], typer.Option("--run", help="Generation or part-editing run directory; the first is "
                                                          "the reference, compared with each of the others. Repeat.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Output folder: pack/ (for raters), items.csv, key.json (private).")],
    items: Annotated[Optional[int], typer.Option(help="Prompts compared per baseline (default: all shared).",
                                                 show_default=False)] = None,
    raters_per_item: Annotated[int, typer.Option(help="Raters to recruit per item (recorded in the key).")] = 5,
    gold: Annotated[int, typer.Option(help="Gold (attention-check) items: reference image vs a blank one.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for item choice, order and sides (same seed = same pack).")] = 0,
    completion_code: Annotated[bool, typer.Option(
        "--completion-code/--no-completion-code",
        help="Show a completion code at the end, derived from the participant's answers (never a fixed code, which "
             "anyone could read in the page); `analyze` verifies it. On Prolific, review submissions manually and "
             "match the codes against analysis.json.")] = True,
    title: Annotated[str, typer.Option(help="Page title.")] = "Image comparison study",
    submit_text: Annotated[Optional[str], typer.Option(
        help="How to submit, shown on the end page (plain text). Default: download the answers file and send it to "
             "the researcher as the study description explains, and enter the completion code.",
        show_default=False)] = None,
    allow_different_sizes: Annotated[bool, typer.Option(
        "--allow-different-sizes", help="Pair images of different pixel sizes (refused by default: raters would "
                                        "judge sharpness, not the instruction).")] = False,
    data_root: DataRoot = None,
) -> None:
    """Build a self-contained A/B study pack (static HTML, no external requests) from generation runs, or from
    part-editing runs (each item shows the source from the suite's data under --data-root, the part, the
    instruction and the two edits)."""
    from partbench.console import console
    from partbench.userstudy.export import ExportOptions, export_pack

    key = export_pack(ExportOptions(runs=list(run), out=out, items=items, raters_per_item=raters_per_item,
                                    gold=gold, seed=seed, completion_code=completion_code, title=title,
                                    submit_text=submit_text, allow_different_sizes=allow_different_sizes,
                                    data_root=data_root))
    kinds = [i["kind"] for i in key["items"]]
    console.print(f"pack {key['pack_id']}: {len(kinds)} items ({kinds.count('real')} comparisons, "
                  f"{kinds.count('gold')} gold, {kinds.count('repeat')} repeated) -> {out / 'pack'}/index.html\n"
                  f"host {out / 'pack'} (e.g. `python -m http.server -d {out / 'pack'}`), append "
                  "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}} on Prolific; "
                  f"keep {out / 'key.json'} private.", highlight=False, soft_wrap=True)


@userstudy_app.command("analyze")
def analyze_command(
    pack: Annotated[Path, typer.Option("--pack", help="The folder `userstudy export --out` wrote (holds key.json).")],
    responses: Annotated[list[Path], typer.Option("--responses", help="Answer files (the page's .json downloads, a "
                                                  "long CSV or a batch-results CSV), or a folder of them. Repeat.")],
    out: Annotated[Optional[Path], typer.Option(help="Where analysis.json and preferences.png go "
                                                     "(default: PACK/analysis).", show_default=False)] = None,
    min_gold_accuracy: Annotated[float, typer.Option(
        help="Drop raters whose gold accuracy is below (a fraction, 0 to 1).")] = 1.0,
    min_median_rt_ms: Annotated[float, typer.Option(
        help="Drop raters whose median response time is below (milliseconds, >= 0).")] = 500.0,
    duplicates: Annotated[str, typer.Option(
        help="A rater who answered an item twice with different choices (e.g. submitted twice): exclude the rater "
             "(reported by id), or keep the first or last submission (by the page's finishing time where known, "
             "else the order of --responses). One of: exclude, first, last.")] = "exclude",
    bootstrap: Annotated[int, typer.Option(help="Rater-bootstrap replicates (0 = none).")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Preference for the reference over each baseline: exact binomial test and CI, rater-clustered bootstrap CI,
    left-side bias, dropped raters (conflicting repeated answers, completion code not matching the answers, no gold
    item answered, failed gold, too fast) by id and why; writes JSON and a bar chart."""
    from partbench.errors import PartbenchError
    from partbench.store.atomic import atomic_write_json
    from partbench.userstudy.analyze import Thresholds, analyze, load_key, read_answers
    from partbench.userstudy.plot import preference_chart
    from partbench.userstudy.report import print_analysis

    thresholds = Thresholds(min_gold_accuracy, min_median_rt_ms)  # refuses out-of-range values before any reading
    key = load_key(pack)
    files = []
    for p in responses:
        found = sorted([*p.glob("*.json"), *p.glob("*.csv")]) if p.is_dir() else [p]
        if not found:  # nothing is written: an earlier analysis of the pack stays as it was
            raise PartbenchError(f"{p}: no answer files (*.json, *.csv) in this --responses folder; nothing analyzed.")
        files += found
    answers = read_answers(files, key)
    if not answers.votes:
        raise PartbenchError(f"no answers in {', '.join(map(str, files))}; nothing analyzed.")
    result = analyze(key, answers, thresholds, n_bootstrap=bootstrap, seed=seed, duplicates=duplicates)
    out = out or pack / "analysis"
    atomic_write_json(out / "analysis.json", result)
    chart = preference_chart(result, out / "preferences.png")
    print_analysis(result, out / "analysis.json", chart)
