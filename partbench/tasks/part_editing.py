"""Part editing (suite task `part-editing`, PartEdit-Bench and `demo-edit`): per sample a source image, the mask of
the part to edit, the source and edit prompts, the instruction phrasings, the part and the subject; a method returns
the edited image at the source's size. Scored by `partbench.tasks.edit_evaluator` (docs/partedit.md).

Methods implement `edit(samples) -> list[PIL image or H×W×3 uint8 array]` (`partbench.data.part_edit.EditSample`:
`image`, `mask`, `record` with `source_prompt`, `edit_prompt`, `instructions`, `part`, `subject`, `edit`). The mask
is there for mask-given methods (inpainting with the ground-truth mask); a method that localises the part itself must
not read it, and says so in its summary. A method that needs files only some suites have (PartEdit's outputs, the
intended edit) checks them in its `check_inputs(*, sample_ids, split, suite, data_root, args, seed)` hook, which the
loop calls before the run folder is made. Predictions are `predictions/<sample id>.png` (RGB, carrying the cache key);
`partbench score` reads a folder of `<sample id>.png` (or `<sample id>/0.png`, image-folder's layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.tasks.base import TaskKind, Work, first_items
from partbench.tasks.kind_args import PART_EDITING_ARGS

if TYPE_CHECKING:
    import numpy as np

    from partbench.data.part_edit import EditSample
    from partbench.store.run_dir import RunDir
    from partbench.suites import Suite
    from partbench.tasks.edit_evaluator import EditEvaluator

UNSCORABLE = "mask_empty_or_full"  # no part to edit, or no background to keep: neither side can be scored


def as_rgb(output: Any, size: tuple[int, int], where: str) -> np.ndarray:
    """A method's edited image as H×W×3 uint8 at the source's `size` (H, W); anything else is a `PartbenchError`
    naming `where`. Never resized: an edit at another size is the method's bug, and resizing would blur the
    background the metrics compare."""
    import numpy as np
    from PIL.Image import Image

    if isinstance(output, Image):
        arr = np.asarray(output.convert("RGB"))
    elif isinstance(output, np.ndarray) and output.dtype == np.uint8 and output.ndim == 3 and output.shape[2] == 3:
        arr = output
    else:
        shape = getattr(output, "shape", None)
        raise PartbenchError(f"{where}: expected a PIL image or an HxWx3 uint8 array, got {type(output).__name__}"
                             + (f" {getattr(output, 'dtype', '')} {shape}" if shape is not None else "") + ".")
    if arr.shape[:2] != tuple(size):
        raise PartbenchError(f"{where}: the edited image is {arr.shape[1]}x{arr.shape[0]}; the source is "
                             f"{size[1]}x{size[0]} (edits must keep the source's size).")
    return np.ascontiguousarray(arr)


def sample_listing(records: list[Any], root: Path, split: str) -> list[dict[str, Any]]:
    """What `partbench suites S --samples` lists per sample: id, files (absolute paths) and every text field."""
    out = []
    for record in records:
        files = {k: str((root / v).resolve()) for k, v in record.files.items()}
        out.append({"id": record.sample_id, "image": files.pop("image"), "mask": files.pop("mask"),
                    "source_prompt": record.source_prompt, "edit_prompt": record.edit_prompt,
                    "instructions": list(record.instructions), "part": record.part, "subject": record.subject,
                    "edit": record.edit, "class_name": record.class_name, "token_cls": record.token_cls,
                    "seed": record.seed, "split": split} | files)
    return out


def _warn(notes: dict[str, str]) -> None:
    """Scores left out for missing weights are said once per run, not only in results.json. Called from `evaluator`,
    which the loop reaches only once the method's arguments and inputs were accepted: a refused run prints its error
    alone, never a note about scores it was not going to compute anyway."""
    from partbench.console import err_console

    for text in notes.values():
        if text.startswith("not computed"):
            err_console.print(f"note: {text}", style="dim", markup=False, highlight=False, soft_wrap=True)


class PartEditingTask(TaskKind):
    name = "part-editing"
    suite_tasks = ("part-editing",)
    unscorable = UNSCORABLE
    arg_params = PART_EDITING_ARGS

    def work(self, suite: Suite, data_root: Path, split: str, limit: int | None, args: dict[str, str],
             seed: int, convention: str | None, **_: Any) -> Work:
        from partbench.data.completeness import check_completeness
        from partbench.tasks.edit_clip import OPTIONS, scorer_config
        from partbench.tasks.edit_evaluator import CONVENTION

        convention = convention or suite.convention
        if convention != CONVENTION:
            raise PartbenchError(f"Suite {suite.name!r} is scored with --convention {CONVENTION}, not "
                                 f"{convention!r} (docs/partedit.md).")
        reader = suite.make_reader(data_root)
        reader.check(split)
        index = reader.index(split)
        refs, limited = first_items(index.refs, limit)
        config: dict[str, Any] = {"metrics_defined_in": "docs/partedit.md"}
        release = reader.release() if hasattr(reader, "release") else None
        if release is not None:  # a prepared PartEdit-Bench: which revision, and whether it has token_cls
            config["release"] = {k: release.get(k) for k in ("dataset", "revision", "expected_revision", "token_cls")}
        # Scoring options (CLIP scorers) are split off: they never reach the method nor the run's identity.
        method_args = {k: v for k, v in args.items() if k not in OPTIONS}
        clip = scorer_config(args)  # its notes are printed by `evaluator`, after the argument checks
        return Work(items=refs, load=reader.load, method_args=method_args, identity_args=method_args,
                    evaluator_config={"convention": convention, "clip": clip}, skipped=dict(index.skipped),
                    config=config,
                    input_files=reader.input_files, completeness=check_completeness(suite, reader, split, index),
                    # A method's `check_inputs` hook gets the split too, to read the records of the samples it is
                    # given (partedit-outputs: does the suite ship PartEdit's outputs at all?).
                    input_check={"sample_ids": [r.id for r in refs], "split": split}, limited=limited,
                    # a random tiny Alpha-CLIP or CLIP scored it: a smoke test
                    meaningful=not any(args.get(k) == "tiny" for k in ("alpha_clip", "masked_clip")))

    def list_samples(self, suite: Suite, data_root: Path, split: str) -> list[dict[str, Any]]:
        """`partbench suites S --samples`."""
        reader = suite.make_reader(data_root)
        reader.check(split)
        return sample_listing(reader.records(split), reader.root, split)

    def scorable(self, sample: EditSample) -> bool:
        return bool(sample.mask.any()) and not bool(sample.mask.all())

    def warm(self, sample: EditSample) -> None:
        sample.image  # noqa: B018 - decoded here, in a loader thread, ahead of the method

    def call(self, method: Any, samples: list[EditSample], suite: Suite, method_name: str) -> list[Any]:
        outputs = list(method.edit(samples))
        if len(outputs) != len(samples):
            raise PartbenchError(f"Method {method_name!r} returned {len(outputs)} edited images for {len(samples)} "
                                 f"samples.")
        return outputs

    def finalize(self, output: Any, sample: EditSample, suite: Suite, where: str) -> np.ndarray:
        return as_rgb(output, sample.size, where)

    def encode(self, prediction: np.ndarray, suite: Suite, key: str) -> bytes:
        from PIL import Image

        from partbench.tasks.generation import encode_image_png

        return encode_image_png(Image.fromarray(prediction), key)

    def decode(self, path: Path, suite: Suite) -> np.ndarray:
        from partbench.data.part_edit import read_rgb

        return read_rgb(path)

    def open_saved(self, suite: Suite, path: Path, work: Work, allow_missing: bool) -> Any:
        from partbench.tasks.saved_edits import SavedEdits

        return SavedEdits(Path(path), work, allow_missing)

    def evaluator(self, suite: Suite, config: dict[str, Any], run_dir: RunDir | None, force: bool) -> EditEvaluator:
        from partbench.tasks.edit_evaluator import EditEvaluator

        _warn((config.get("clip") or {}).get("notes") or {})
        return EditEvaluator(config["convention"], config.get("clip"))
