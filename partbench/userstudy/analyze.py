"""`partbench userstudy analyze`: answers -> filtered votes -> preferences with tests and intervals.

Accepted answer files (mixed freely):
- the study page's JSON download (`answers-<pack>-<participant>.json`);
- a long CSV `worker_id,item_id,choice[,rt_ms]`;
- a crowd-platform batch-results CSV (`WorkerId`, `Input.item_id`, `Answer.choice`, optional `AssignmentStatus`,
  `WorkTimeInSeconds`, `Input.pack_id`): one item per assignment row, as `items.csv` is laid out.
`choice` is the side chosen: left/right (also l/r, 1/2 for the first/second image).

Per baseline: the share of votes preferring the reference, a two-sided exact binomial test against 0.5 with its
Clopper-Pearson 95 % interval (scipy), Holm-adjusted p-values across baselines, a rater-clustered bootstrap interval
(votes of one rater are not independent), the per-item majority win rate, left-side bias and the counts. Raters are
dropped, and listed by id with the reason, when they
- answered one item twice with different choices (two submissions that disagree; `duplicates` policy, see
  duplicates.py: by default the rater is excluded, never silently resolved by the order of the files);
- sent a page answers file whose completion code does not match its answers (see completion.py);
- answered no gold item although the pack has some (nothing shows they paid attention);
- fail gold items or answer implausibly fast (thresholds are options).
Identical repeated answers count once and are reported.
"""

from __future__ import annotations

import csv
import json
import math
import statistics as pystats
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.userstudy.completion import completion_code
from partbench.userstudy.duplicates import POLICIES, resolve_duplicates

CHOICES = {"left": "left", "l": "left", "1": "left", "right": "right", "r": "right", "2": "right"}


@dataclass(frozen=True)
class Vote:
    rater: str
    item_id: str
    choice: str  # "left" | "right"
    rt_ms: float | None
    source: str
    submitted: str | None = None  # when the submission was finished (the page's ISO time), if the file says
    seq: int = 0  # position in the input (files in the order given, then rows): the last resort for first/last


@dataclass(frozen=True)
class CodeCheck:
    """One page answers file's completion code against the code its answers give."""

    rater: str
    source: str
    code: str | None  # as written in the file
    expected: str

    @property
    def ok(self) -> bool:
        return self.code is not None and self.code.strip().upper() == self.expected


@dataclass
class ReadReport:
    votes: list[Vote] = field(default_factory=list)
    rejected_assignments: int = 0
    files: list[str] = field(default_factory=list)
    code_checks: list[CodeCheck] = field(default_factory=list)


def load_key(pack: Path) -> dict[str, Any]:
    from partbench.store.atomic import read_json

    path = Path(pack) / "key.json"
    if not path.is_file():
        raise PartbenchError(f"{pack}: no key.json; --pack must be the folder `userstudy export --out` wrote "
                             "(the private key lives beside pack/, not inside it).")
    key = read_json(path)
    if not isinstance(key, dict) or "items" not in key or "pack_id" not in key:
        raise PartbenchError(f"{path}: not a partbench user-study key.")
    return key


def _choice(value: Any, where: str) -> str:
    side = CHOICES.get(str(value).strip().lower())
    if side is None:
        raise PartbenchError(f"{where}: choice {value!r} is not left/right (or l/r, 1/2).")
    return side


def _rt(value: Any, where: str, scale: float = 1.0) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value) * scale
    except (TypeError, ValueError):
        raise PartbenchError(f"{where}: response time {value!r} is not a number.") from None


def _check_pack(found: Any, key: dict[str, Any], where: str) -> None:
    if found not in (None, "") and found != key["pack_id"]:
        raise PartbenchError(f"{where}: answers belong to pack {found!r}, but this pack is {key['pack_id']!r}; "
                             "the file comes from another study (or an older export).")


def read_answers(paths: list[Path], key: dict[str, Any]) -> ReadReport:
    report = ReadReport()
    items = {i["item_id"] for i in key["items"]}
    for path in map(Path, paths):
        if not path.is_file():
            raise PartbenchError(f"{path}: no such answers file.")
        report.files.append(str(path))
        if path.suffix.lower() == ".json":
            votes, check = _read_page_json(path, key)
            if check is not None:
                report.code_checks.append(check)
        elif path.suffix.lower() in (".csv", ".tsv"):
            votes, rejected = _read_csv(path, key)
            report.rejected_assignments += rejected
        else:
            raise PartbenchError(f"{path}: unknown answers format (expected the page's .json or a .csv).")
        unknown = sorted({v.item_id for v in votes} - items)
        if unknown:
            raise PartbenchError(f"{path}: answers to items not in this pack ({', '.join(unknown[:5])}); the file "
                                 "comes from another study.")
        report.votes.extend(replace(v, seq=len(report.votes) + n) for n, v in enumerate(votes))
    return report


def _read_page_json(path: Path, key: dict[str, Any]) -> tuple[list[Vote], CodeCheck | None]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PartbenchError(f"{path}: not a readable answers JSON ({e}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list):
        raise PartbenchError(f"{path}: not a study-page answers file (no 'answers' list).")
    if "pack_id" not in doc:
        raise PartbenchError(f"{path}: answers file has no pack_id.")
    _check_pack(doc["pack_id"], key, str(path))
    rater = str(doc.get("participant_id") or "").strip()
    if not rater:
        raise PartbenchError(f"{path}: answers file has no participant_id.")
    submitted = doc.get("finished") if isinstance(doc.get("finished"), str) else None
    votes = []
    for i, a in enumerate(doc["answers"]):
        where = f"{path}: answer {i + 1}"
        if not isinstance(a, dict) or "item_id" not in a or "choice" not in a:
            raise PartbenchError(f"{where}: needs item_id and choice.")
        votes.append(Vote(rater, str(a["item_id"]), _choice(a["choice"], where), _rt(a.get("rt_ms"), where), str(path),
                          submitted))
    check = None
    if key.get("completion_salt"):  # packs exported before codes were derived have nothing to check against
        # The code covers the answers exactly as the page wrote them (raw participant id, item ids and choices).
        expected = completion_code(key["completion_salt"], key["pack_id"], str(doc["participant_id"]),
                                   ((str(a["item_id"]), str(a["choice"])) for a in doc["answers"]))
        code = doc.get("completion_code")
        check = CodeCheck(rater, str(path), None if code is None else str(code), expected)
    return votes, check


def _read_csv(path: Path, key: dict[str, Any]) -> tuple[list[Vote], int]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(4096)
        f.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;") if sample else csv.excel
        rows = list(csv.DictReader(f, dialect=dialect))
        header = set(rows[0]) if rows else set()
    votes, rejected = [], 0
    if {"worker_id", "item_id", "choice"} <= header:
        for n, row in enumerate(rows, 2):
            where = f"{path}:{n}"
            if "pack_id" in row:
                _check_pack(row["pack_id"], key, where)
            votes.append(Vote(row["worker_id"].strip(), row["item_id"].strip(), _choice(row["choice"], where),
                              _rt(row.get("rt_ms"), where), str(path)))
    elif {"WorkerId", "Input.item_id", "Answer.choice"} <= header:
        for n, row in enumerate(rows, 2):
            where = f"{path}:{n}"
            if not (row.get("WorkerId") or "").strip():
                continue  # summary rows some requesters append below the assignments
            if (row.get("AssignmentStatus") or "").strip() == "Rejected":
                rejected += 1
                continue
            _check_pack(row.get("Input.pack_id"), key, where)
            if not (row.get("Answer.choice") or "").strip():
                continue  # skipped question
            votes.append(Vote(row["WorkerId"].strip(), row["Input.item_id"].strip(),
                              _choice(row["Answer.choice"], where), _rt(row.get("WorkTimeInSeconds"), where, 1000.0),
                              str(path)))
    else:
        raise PartbenchError(f"{path}: CSV header {sorted(header)} is neither the long form "
                             "(worker_id,item_id,choice[,rt_ms]) nor a batch-results CSV "
                             "(WorkerId, Input.item_id, Answer.choice).")
    return votes, rejected


@dataclass
class Thresholds:
    min_gold_accuracy: float = 1.0  # raters below are dropped (a fraction in [0, 1])
    min_median_rt_ms: float = 500.0  # raters whose median response time is below are dropped (>= 0)

    def __post_init__(self) -> None:
        acc, rt = self.min_gold_accuracy, self.min_median_rt_ms
        if not (isinstance(acc, (int, float)) and 0 <= acc <= 1):  # NaN fails too
            raise PartbenchError(f"--min-gold-accuracy must be a fraction in [0, 1] (e.g. 0.8 for 80%), not {acc!r}.")
        if not (isinstance(rt, (int, float)) and math.isfinite(rt) and rt >= 0):
            raise PartbenchError(f"--min-median-rt-ms must be a time in milliseconds, >= 0, not {rt!r}.")


def analyze(key: dict[str, Any], report: ReadReport, thresholds: Thresholds, n_bootstrap: int = 2000,
            seed: int = 0, duplicates: str = "exclude") -> dict[str, Any]:
    """`duplicates`: what to do with a rater who answered an item twice with different choices, one of POLICIES
    ("exclude" the rater, or keep the "first"/"last" submission, by finishing time where known)."""
    import numpy as np
    import scipy.sparse as sp
    from scipy.stats import binomtest

    from partbench.metrics.statistics import bootstrap_intervals

    if duplicates not in POLICIES:
        raise PartbenchError(f"duplicates policy {duplicates!r} is not one of {', '.join(POLICIES)}.")
    items = {i["item_id"]: i for i in key["items"]}
    unique, dup_report = resolve_duplicates(report.votes, duplicates)
    by_rater: dict[str, list[Vote]] = defaultdict(list)
    for v in unique:
        by_rater[v.rater].append(v)
    bad_code = sorted({c.rater for c in report.code_checks if not c.ok})
    pack_has_gold = any(i["kind"] == "gold" for i in items.values())

    dropped: dict[str, list[str]] = {"conflicting_duplicates": [], "code_mismatch": [], "no_gold": [],
                                     "failed_gold": [], "too_fast": []}
    kept: dict[str, list[Vote]] = {}
    gold_accuracy: dict[str, float | None] = {}
    for rater, votes in sorted(by_rater.items()):
        gold = [v for v in votes if items[v.item_id]["kind"] == "gold"]
        acc = sum(v.choice == items[v.item_id]["gold_answer"] for v in gold) / len(gold) if gold else None
        gold_accuracy[rater] = acc
        rts = [v.rt_ms for v in votes if v.rt_ms is not None]
        if duplicates == "exclude" and rater in dup_report["conflicting"]["raters"]:
            dropped["conflicting_duplicates"].append(rater)
        elif rater in bad_code:
            dropped["code_mismatch"].append(rater)
        elif pack_has_gold and not gold:
            dropped["no_gold"].append(rater)  # no evidence of attention: gold items are the only one
        elif acc is not None and acc < thresholds.min_gold_accuracy:
            dropped["failed_gold"].append(rater)
        elif rts and pystats.median(rts) < thresholds.min_median_rt_ms:
            dropped["too_fast"].append(rater)
        else:
            kept[rater] = votes

    def prefers_reference(v: Vote) -> bool:
        return items[v.item_id][v.choice] == key["reference"]

    baselines = []
    for baseline in key["baselines"]:
        votes = [v for vs in kept.values() for v in vs
                 if items[v.item_id]["kind"] == "real" and items[v.item_id]["baseline"] == baseline]
        k, n = sum(map(prefers_reference, votes)), len(votes)
        row: dict[str, Any] = {"baseline": baseline, "reference": key["reference"], "k": k, "n_votes": n,
                               "n_raters": len({v.rater for v in votes}), "n_items": len({v.item_id for v in votes})}
        if n:
            test = binomtest(k, n, 0.5, alternative="two-sided")
            ci = test.proportion_ci(confidence_level=0.95, method="exact")
            per_rater = defaultdict(lambda: [0.0, 0.0])
            for v in votes:
                per_rater[v.rater][0] += prefers_reference(v)
                per_rater[v.rater][1] += 1
            matrix = sp.csr_matrix(np.array(list(per_rater.values())))
            boot = bootstrap_intervals(matrix, lambda s: {"p": s[:, 0] / s[:, 1]}, n_bootstrap, seed) \
                if n_bootstrap > 0 else {}
            per_item = defaultdict(list)
            for v in votes:
                per_item[v.item_id].append(prefers_reference(v))
            majority = [1.0 if sum(x) * 2 > len(x) else 0.5 if sum(x) * 2 == len(x) else 0.0 for x in per_item.values()]
            row |= {"preference": k / n, "p_value": float(test.pvalue), "ci95_exact": [float(ci.low), float(ci.high)],
                    "ci95_rater_bootstrap": list(boot["p"]) if boot.get("p") else None,
                    "item_majority_win_rate": float(np.mean(majority))}
        else:
            row |= {"preference": None, "p_value": None, "ci95_exact": None, "ci95_rater_bootstrap": None,
                    "item_majority_win_rate": None}
        baselines.append(row)
    _holm(baselines)

    all_votes = [v for vs in kept.values() for v in vs if items[v.item_id]["kind"] in ("real", "repeat")]
    n_left = sum(v.choice == "left" for v in all_votes)
    left_bias = {"p_left": n_left / len(all_votes) if all_votes else None, "n_votes": len(all_votes),
                 "p_value": float(binomtest(n_left, len(all_votes), 0.5).pvalue) if all_votes else None}
    consistency = _consistency(kept, items)
    return {
        "pack_id": key["pack_id"], "question": key["question"], "reference": key["reference"],
        "thresholds": vars(thresholds), "files": report.files,
        "n_raters_total": len(by_rater), "n_raters_kept": len(kept),
        "dropped": {k: {"n": len(v), "raters": v} for k, v in dropped.items()},
        "rejected_assignments": report.rejected_assignments,
        "duplicate_answers": dup_report["identical"]["n_answers"] + dup_report["conflicting"]["n_answers"],
        "duplicates": dup_report, "completion_codes": _codes_report(key, report),
        "gold_accuracy": gold_accuracy, "baselines": baselines, "left_bias": left_bias,
        "repeat_consistency": consistency, "bootstrap_replicates": n_bootstrap,
        "ties": "no tie option (forced choice)",
    }


def _codes_report(key: dict[str, Any], report: ReadReport) -> dict[str, Any]:
    """Every page file's code (verified or not), so that the codes participants entered on the crowd platform can be
    matched to answers. CSV answers carry no code: they are neither checked nor listed."""
    checks = report.code_checks
    return {"checked": bool(key.get("completion_salt")), "n_files": len(checks),
            "mismatch": [{"rater": c.rater, "file": c.source, "code": c.code, "expected": c.expected}
                         for c in checks if not c.ok],
            "verified": [{"rater": c.rater, "file": c.source, "code": c.code.strip().upper()}
                         for c in checks if c.ok]}


def _holm(rows: list[dict[str, Any]]) -> None:
    """Holm-Bonferroni adjusted p-values across baselines (step-down, monotone)."""
    tested = sorted((r for r in rows if r["p_value"] is not None), key=lambda r: r["p_value"])
    m, running = len(tested), 0.0
    for i, r in enumerate(tested):
        running = max(running, min(1.0, (m - i) * r["p_value"]))
        r["p_value_holm"] = running
    for r in rows:
        r.setdefault("p_value_holm", None)


def _consistency(kept: dict[str, list[Vote]], items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Share of raters who chose the same method on the repeated item as on its original (sides swapped)."""
    same = total = 0
    for votes in kept.values():
        chosen = {v.item_id: items[v.item_id][v.choice] for v in votes}
        for item_id, item in items.items():
            if item["kind"] == "repeat" and item_id in chosen and item["repeat_of"] in chosen:
                total += 1
                same += chosen[item_id] == chosen[item["repeat_of"]]
    return {"consistent": same, "n_raters": total, "rate": same / total if total else None}
