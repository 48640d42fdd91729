"""Weight-free part editors: the unedited source (`identity`), the intended edit where a suite knows it (`oracle`,
demo-edit), and PartEdit's own outputs as PartEdit-Bench ships them (`partedit-outputs`), so PartEdit is scored
without running it.

`identity` is both bounds at once: the ceiling of every background metric (PSNR 100, SSIM 100) and the floor of
every part metric (nothing is edited). `partedit-outputs` resizes an output to its source's size (Lanczos) where the
two differ (describe_for records it); the task kind itself never resizes. Both `oracle` and `partedit-outputs` read
files only some suites have: their `check_inputs` refuses a suite lacking them before the run folder is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from partbench.data.part_edit import EditSample
from partbench.errors import PartbenchError
from partbench.suites import Suite


def _no_args(name: str, args: dict[str, str]) -> None:
    if args:
        from partbench.tasks.edit_clip import OPTIONS

        raise PartbenchError(f"Method {name!r} takes no --method-arg of its own; got {', '.join(args)}. (Every "
                             f"part-editing run also takes the scoring options {', '.join(OPTIONS)}.)")


SHOWN = 5  # sample ids named in a refusal


def _refuse_lacking(suite: Suite, data_root: Path, split: str, sample_ids: Sequence[str], what: str,
                    refusal: str, hint: str) -> None:
    """Refuse the run when a sample's record names no `what` file (`partedit`, `expected`), before anything is
    written: the loop calls `check_inputs` before the run folder exists, while `edit` would only fail on the first
    such sample, with a folder, a lock and predictions already behind it. The message is `refusal`, the samples
    when only some lack the file, then `hint`."""
    wanted = set(sample_ids)
    lacking = [r.sample_id for r in suite.make_reader(data_root).records(split)
               if r.sample_id in wanted and what not in r.files]
    if not lacking:
        return
    if len(lacking) < len(wanted):  # some samples have it: name those that do not
        more = f" and {len(lacking) - SHOWN} more" if len(lacking) > SHOWN else ""
        refusal += f" for {len(lacking)} of {len(wanted)} samples ({', '.join(lacking[:SHOWN])}{more})"
    raise PartbenchError(f"{refusal}; {hint}.")


class Identity:
    """Returns the source image unchanged."""

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        _no_args("identity", args)

    @classmethod
    def fingerprint_for(cls, **_: Any) -> str:
        return "edit-identity-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def edit(self, samples: Sequence[EditSample]) -> list[np.ndarray]:
        return [s.image.copy() for s in samples]


class EditOracle:
    """Returns the intended edit (demo-edit's `expected/` images): a check of the data and scoring pipeline."""

    needs_images = False  # reads the expected image, never the source

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        _no_args("oracle", args)
        self.suite = suite.name

    @classmethod
    def fingerprint_for(cls, **_: Any) -> str:
        return "edit-oracle-v1"

    @classmethod
    def check_inputs(cls, *, sample_ids: Sequence[str], split: str, suite: Suite, data_root: Path, **_: Any
                     ) -> dict[str, Any]:
        _refuse_lacking(suite, data_root, split, sample_ids, "expected",
                        f"oracle: suite {suite.name!r} does not know the intended edit",
                        "only demo-edit does (use identity or partedit-outputs there)")
        return {}

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def edit(self, samples: Sequence[EditSample]) -> list[np.ndarray]:
        out = []
        for s in samples:
            if s.expected is None:
                raise PartbenchError(f"oracle: suite {self.suite!r} does not know the intended edit of sample {s.id} "
                                     f"(only demo-edit does); use identity or partedit-outputs there.")
            out.append(s.expected.copy())
        return out


class PartEditOutputs:
    """PartEdit's edited images from the benchmark's own `partedit` column."""

    needs_images = False  # the source's size comes from its mask

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        _no_args("partedit-outputs", args)
        self.suite = suite.name

    @classmethod
    def fingerprint_for(cls, **_: Any) -> str:
        # The outputs' content is in each sample's input fingerprint (partbench.data.part_edit: input_files).
        return "partedit-outputs-v1"

    @classmethod
    def check_inputs(cls, *, sample_ids: Sequence[str], split: str, suite: Suite, data_root: Path, **_: Any
                     ) -> dict[str, Any]:
        _refuse_lacking(suite, data_root, split, sample_ids, "partedit",
                        f"partedit-outputs: suite {suite.name!r} ships no PartEdit output",
                        "only the prepared PartEdit-Bench suites (partedit-synth, partedit-real) do")
        return {}

    @classmethod
    def describe_for(cls, **_: Any) -> dict[str, Any]:
        return {"source": "the partedit column of PartEdit-Bench (Aleksandar/PartEdit-Bench)",
                "resize": "Lanczos to the source's size where the output's size differs"}

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def edit(self, samples: Sequence[EditSample]) -> list[np.ndarray]:
        from PIL import Image

        from partbench.data.part_edit import read_rgb

        out = []
        for s in samples:
            path = s.path("partedit")
            if path is None:
                raise PartbenchError(f"partedit-outputs: suite {self.suite!r} ships no PartEdit output for sample "
                                     f"{s.id} (only the prepared PartEdit-Bench suites do).")
            arr = read_rgb(path)
            if arr.shape[:2] != s.size:
                arr = np.asarray(Image.fromarray(arr).resize((s.size[1], s.size[0]), Image.LANCZOS))
            out.append(arr)
        return out
