"""`partbench data verify NAME`: is a suite's data complete and readable, and exactly what is wrong if not.

Checks, per split of the suite: the files the reader needs exist; every image has its annotation files and the
counts match what the dataset documents (`partbench.data.completeness`); the index builds (sample and skip counts);
every sample loads with its part labels inside the class list (or the ignore value) and its image's size equal to its
masks'; and the class list itself (count and hash; for PartImageNet the shipped synset names against
`LOC_synset_mapping.txt` when that file is present). Problems are collected, not raised one at a time, each naming
its file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from partbench.errors import DataNotFoundError, PartbenchError

MAX_PROBLEMS = 50


@dataclass
class VerifyReport:
    suite: str
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... (more problems not listed)")


def verify(name: str, data_root: Path, splits: list[str] | None = None, limit: int | None = None,
           progress: bool = True) -> VerifyReport:
    import numpy as np

    from partbench.console import progress_bar
    from partbench.data.completeness import check_completeness
    from partbench.suites import load_suite

    suite = load_suite(name)
    report = VerifyReport(suite=suite.name)
    report.facts.append(f"class list: {suite.num_classes} classes ({len(suite.seen_ids)} seen, "
                        f"{len(suite.unseen_ids)} unseen), {len(suite.mirrored_pairs)} left/right pairs, "
                        f"sha256[:16] {suite.class_list_hash}")
    reader = suite.make_reader(data_root)
    _check_synsets(reader, report)
    for split in splits or list(suite.splits):
        try:
            reader.check(split)
        except (DataNotFoundError, PartbenchError) as e:
            report.problem(f"{split}: {str(e).splitlines()[0]}")
            continue
        try:
            index = reader.index(split)
        except (DataNotFoundError, PartbenchError) as e:
            report.problem(f"{split}: {str(e).splitlines()[0]}")
            _add_inventory_problems(suite, reader, split, report)  # the folders are there: name every other gap
            continue
        check = check_completeness(suite, reader, split, index)
        for text in check.problems:
            report.problem(text)
        skipped = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in index.skipped.items() if v)
        refs = index.refs[:limit] if limit else index.refs
        if not index.refs:
            report.problem(f"{split}: no samples found.")
        empty = 0
        with progress_bar(transient=not progress) as bar:
            task = bar.add_task(f"verifying {suite.name}/{split}", total=len(refs), note="")
            for ref in refs:
                bar.advance(task)
                try:
                    sample = reader.load(ref)
                    if hasattr(reader, "check_sample"):  # samples that are not part-label maps (Partonomy records)
                        for text in reader.check_sample(sample):
                            report.problem(text)
                        continue
                    labels = np.unique(sample.part_label_map)
                    bad = labels[(labels != suite.ignore_label) & ((labels < 0) | (labels >= suite.num_classes))]
                    if bad.size:
                        report.problem(f"{ref.id}: part labels {bad.tolist()} outside 0..{suite.num_classes - 1} "
                                       f"(ignore {suite.ignore_label}).")
                    _check_parts_belong_to_object(suite, sample, report)
                    if not ref.image_path.is_file():
                        report.problem(f"{ref.image_path}: image missing.")
                        continue
                    _check_image_size(ref.image_path, sample.size, report)
                    empty += not sample.has_labels
                except PartbenchError as e:
                    report.problem(str(e))
        checked = f"{len(refs)} checked" + (f" (--limit {limit})" if limit else "")
        counted = ", ".join(f"{n} {k}" for k, n in check.counts.items() if k != "samples")
        expected = f" (as {check.expected_from} documents)" if check.expected and check.complete else ""
        report.facts.append(f"{split}: {len(index.refs)} samples, " + (f"{counted}{expected}, " if counted else "")
                            + checked
                            + (f"; skipped: {skipped}" if skipped else "")
                            + (f"; {empty} with no part pixels (skipped when scored)" if empty else ""))
    return report


def _check_parts_belong_to_object(suite, sample, report: VerifyReport) -> None:
    """Most labelled pixels of an object's sample must carry that object's part ids. A class list in another order
    than the one the PNGs were written with shifts ids across objects and fails this on the first sample; occlusion
    at instance borders (a person's arm over a chair) puts a few foreign ids in any real sample, hence a majority."""
    import numpy as np

    if suite.setting != "oracle-object" or not sample.object_class:
        return
    labels = sample.part_label_map[sample.part_label_map != suite.ignore_label]
    if labels.size == 0:
        return
    own = np.isin(labels, np.asarray(suite.part_ids_of(sample.object_class), dtype=labels.dtype))
    if own.mean() < 0.5:
        foreign = np.unique(labels[~own])[:3]
        names = ", ".join(f"{int(i)} ({suite.classes[int(i)]!r})" for i in foreign if 0 <= i < suite.num_classes)
        report.problem(f"{sample.id}: {100 * (1 - own.mean()):.0f}% of its labelled pixels carry part ids of other "
                       f"objects than {sample.object_class!r} (e.g. {names}): is the class list in the order the "
                       "annotations were written with?")


def _add_inventory_problems(suite, reader, split: str, report: VerifyReport) -> None:
    from partbench.data.completeness import check_completeness

    try:
        for text in check_completeness(suite, reader, split).problems:
            report.problem(text)
    except (DataNotFoundError, PartbenchError):
        pass  # the reason the index failed, already reported


def _check_image_size(path: Path, size: tuple[int, int], report: VerifyReport) -> None:
    from PIL import Image

    try:
        with Image.open(path) as im:  # header only
            got = (im.height, im.width)
    except OSError as e:
        report.problem(f"{path}: cannot read image ({e}).")
        return
    if got != size:
        report.problem(f"{path}: image is {got[1]}x{got[0]} but its annotation is {size[1]}x{size[0]} (WxH).")


def _check_synsets(reader, report: VerifyReport) -> None:
    from partbench.data.partimagenet import SYNSET_FILE, PartImageNetReader, read_synset_mapping

    if not isinstance(reader, PartImageNetReader):
        return
    for candidate in (reader.root / SYNSET_FILE, reader.data_root / SYNSET_FILE):
        if candidate.is_file():
            mapping = read_synset_mapping(candidate)
            wrong = [f"{syn} is {mapping.get(syn)!r} there, {name!r} in partbench"
                     for syn, name in reader.shipped_synsets.items() if mapping.get(syn) != name]
            if wrong:
                report.problem(f"{candidate}: " + "; ".join(wrong[:5]))
            else:
                report.facts.append(f"{candidate}: agrees with the suite's {len(reader.shipped_synsets)} objects")
            return
