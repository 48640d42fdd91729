"""`partbench suites` and `partbench methods`: what is registered, and what can run here."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from partbench.cli.options import DataRoot


def suites_command(
    name: Annotated[Optional[str], typer.Argument(help="Show one suite.")] = None,
    classes: Annotated[bool, typer.Option("--classes", help="Print the class names in id order.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    data_root: DataRoot = None,
    prompts: Annotated[bool, typer.Option(
        "--prompts", help="Generation suites: print the prompts, with the file names `image-folder` expects.")] = False,
    samples: Annotated[bool, typer.Option(
        "--samples", help="Part-editing suites: print the samples (id, image, mask, prompts).")] = False,
    split: Annotated[Optional[str], typer.Option(help="With --samples: this split (default: the suite's).",
                                                 show_default=False)] = None,
) -> None:
    """Every registered suite: task, class counts (seen/unseen), and whether its data is under the data root.

    With --classes, the suite's part classes in id order: the ids prediction maps for `partbench score` must use.
    """
    from partbench.console import console
    from partbench.data.root import resolve_data_root
    from partbench.errors import PartbenchError
    from partbench.suites import load_suite, suite_names

    root = resolve_data_root(data_root)
    if samples:
        if name is None:
            raise PartbenchError("--samples needs a suite name: `partbench suites SUITE --samples`.")
        from partbench.cli.catalog_samples import print_samples

        print_samples(name, root, data_root is not None, split, as_json)
        return
    if prompts:
        if name is None:
            raise PartbenchError("--prompts needs a suite name: `partbench suites SUITE --prompts`.")
        _print_prompts(load_suite(name), as_json)
        return
    if classes:
        if name is None:
            raise PartbenchError("--classes needs a suite name: `partbench suites SUITE --classes`.")
        suite = load_suite(name)
        if as_json:
            console.print_json(json.dumps([
                {"id": i, "name": c, "seen": not u} for i, (c, u) in enumerate(zip(suite.classes, suite.unseen_mask))
            ]))
        else:
            for i, c in enumerate(suite.classes):
                typer.echo(f"{i}\t{c}\t{'unseen' if suite.unseen_mask[i] else 'seen'}")
        return

    suites = [load_suite(n) for n in ([name] if name else suite_names())]
    rows = []
    for s in suites:
        present = s.data_present(root)
        # Suites without a part class list (generation, reasoning, editing) have no class counts to show: None, not
        # 0, and instead the size of what they score, where it is known without reading the data.
        counts = {"classes": s.num_classes, "seen": len(s.seen_ids), "unseen": len(s.unseen_ids),
                  "mirrored_pairs": len(s.mirrored_pairs), "objects": len(s.object_classes)}
        rows.append({
            "name": s.name, "version": s.version, "task": s.task, "title": s.title,
            **(counts if s.num_classes else dict.fromkeys(counts)), "size": _size(s),
            "setting": s.setting, "data_present": present,
            "data_path": str(s.dataset_path(root)), "obtain": None if present else s.obtain,
        } | ({"description": s.description, "convention": s.convention, "splits": list(s.splits),
              "task_args": _task_args(s)} if name else {}))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    from partbench.cli.catalog_views import print_suite_details, print_suites

    if name:
        print_suite_details(rows[0])
    else:
        print_suites(rows, str(root))


def methods_command(
    name: Annotated[Optional[str], typer.Argument(help="Show one method in full.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every registered method, and whether it can run here.

    One line per method (kind, GPU, runs here), then what is missing and how to get it. With NAME: what it is, its
    weights, its arguments."""
    from partbench.cli.catalog_views import method_record, print_method_details, print_methods
    from partbench.console import console
    from partbench.errors import UnknownNameError
    from partbench.registry import all_methods

    methods = all_methods()
    if name is not None:
        chosen = [m for m in methods if m.name == name]
        if not chosen:
            raise UnknownNameError("method", name, {m.name for m in methods})
        methods = chosen
    rows = [method_record(m) for m in methods]
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    if name is None:
        print_methods(rows)
        return
    for i, r in enumerate(rows):  # a name registered for several task kinds has one entry per kind
        if i:
            console.print()
        print_method_details(r)


def _print_prompts(suite, as_json: bool) -> None:
    """One line (or JSON record) per prompt, with the image files `image-folder` expects for it."""
    from partbench.console import console
    from partbench.data.prompts import image_file_name, load_prompts
    from partbench.tasks.generation import suite_generation_defaults

    k = int(suite_generation_defaults(suite).get("images_per_prompt", 1))
    items = load_prompts(suite)
    if as_json:
        console.print_json(json.dumps([
            item.meta | {"prompt_id": item.id, "prompt": item.prompt,
                         "files": [image_file_name(item.id, i) for i in range(k)]} for item in items
        ], ensure_ascii=False))
        return
    typer.echo(f"# {suite.name} v{suite.version}: {len(items)} prompts, images_per_prompt={k} by default "
               f"(--method-arg images_per_prompt=K); image-folder reads <dir>/<prompt id>/<k>.png")
    for item in items:
        typer.echo(f"{item.id}\t{','.join(image_file_name(item.id, i) for i in range(k))}\t{item.prompt}")


UNITS = {"generation": "prompts", "part-reasoning": "questions", "part-editing": "edits"}


def _size(suite) -> str | None:
    """What a suite without part classes scores, counted where that needs no data: its shipped prompts, or the
    counts its dataset documents (`expected_counts`), per split."""
    unit = UNITS.get(suite.task)
    if unit is None or suite.num_classes:
        return None
    if suite.task == "generation":
        from partbench.data.prompts import load_prompts

        return f"{len(load_prompts(suite))} {unit}"
    counts = [(split, n) for split in suite.splits
              for n in [suite.expected_counts.get(split, {}).get("samples")] if n is not None]
    if not counts:
        return f"{unit} (counted when its data is here: `partbench data verify {suite.name}`)"
    return ", ".join(f"{n} {unit} ({split})" for split, n in counts)


def _task_args(suite) -> list[dict]:
    """The `--method-arg`s the suite's task kind takes itself (scorer and protocol options)."""
    from partbench.cli.catalog_views import param_records
    from partbench.tasks.base import task_kind_for

    return param_records(task_kind_for(suite).arg_params)
