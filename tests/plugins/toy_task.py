"""A toy third task kind, "counting", written the way a user would write a plugin: everything it needs is here.

Each sample is a number of dots to count (`<data root>/ToyCount/items.json`: [{"id", "target"}]); a method answers a
number; answers are stored as `predictions/<id>.json` carrying their cache key; the evaluator reports the share of
exact answers and the mean absolute error. Its suite is `toy-count.yaml` beside it. The tests run it through `run`,
`score`, `--shard`/`merge` and resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from partbench.api import MethodInfo, Param
from partbench.errors import DataNotFoundError, PartbenchError
from partbench.registry import register_method, register_suite, register_task_kind
from partbench.tasks.base import Prediction, TaskKind, Work


class CountEvaluator:
    convention = "exact-count"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def process(self, batch: Sequence[tuple[int, dict[str, Any], Prediction]]) -> list[dict[str, Any]]:
        out = [{"index": p, "id": s["id"], "target": s["target"], "answer": pred.get()} for p, s, pred in batch]
        self.rows.extend(out)
        return out

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def position(self, row: dict[str, Any]) -> int:
        return row["index"]

    def encode(self, row: dict[str, Any]) -> dict[str, Any]:
        return row

    def decode(self, line: dict[str, Any]) -> dict[str, Any]:
        return line

    def summary(self) -> dict[str, Any]:
        return {"n_samples": len(self.rows)}

    def evaluate(self, n_replicates: int) -> dict[str, Any]:
        n = len(self.rows)
        exact = sum(r["answer"] == r["target"] for r in self.rows)
        error = sum(abs(r["answer"] - r["target"]) for r in self.rows)
        return {"metrics": {"exact": 100 * exact / n if n else None, "mae": error / n if n else None},
                "ci95": {}, "higher_is_better": {"exact": True, "mae": False}}


class SavedAnswers:
    """`partbench score` input: a folder of `<id>.json` files holding {"answer": N}."""

    def __init__(self, folder: Path, work: Work, allow_missing: bool):
        self.folder = folder
        missing = [i.id for i in work.items if not (folder / f"{i.id}.json").is_file()]
        if missing and not allow_missing:
            raise PartbenchError(f"{folder}: no answer for {', '.join(missing)}.")
        self.n_missing = len(missing)

    def read(self, sample: dict[str, Any]) -> int:
        path = self.folder / f"{sample['id']}.json"
        return json.loads(path.read_text())["answer"] if path.is_file() else -1

    def describe(self, sample: dict[str, Any]) -> str:
        return str(self.folder / f"{sample['id']}.json")


class CountingTask(TaskKind):
    name = "counting"
    suite_tasks = ("counting",)

    def work(self, suite, data_root, split, limit, args, seed, convention) -> Work:
        path = Path(data_root) / suite.dataset_dir / "items.json"
        if not path.is_file():
            raise DataNotFoundError(f"{path} not found.")
        items = [_Item(**raw) for raw in json.loads(path.read_text())][:limit]
        return Work(items=items, load=lambda item: {"id": item.id, "target": item.target}, method_args=args,
                    identity_args=args, evaluator_config={})

    def call(self, method, samples, suite, method_name):
        return method.count(samples)

    def prediction_path(self, run_dir, item) -> Path:
        return run_dir.predictions / f"{item.id}.json"

    def encode(self, prediction, suite, key) -> bytes:
        return json.dumps({"key": key, "answer": prediction}).encode()

    def decode(self, path, suite) -> int:
        return json.loads(path.read_text())["answer"]

    def stored_key(self, path: Path) -> str | None:
        try:
            return json.loads(path.read_text())["key"]
        except (OSError, ValueError, KeyError):
            return None

    def open_saved(self, suite, path, work, allow_missing) -> SavedAnswers:
        return SavedAnswers(Path(path), work, allow_missing)

    def evaluator(self, suite, config, run_dir, force) -> CountEvaluator:
        return CountEvaluator()


class _Item:
    def __init__(self, id: str, target: int):  # noqa: A002 - the field's name in items.json
        self.id, self.target = id, target


class Guess:
    """Answers target + offset; with $TOY_FAIL_AFTER set, dies after that many answers (a killed run)."""

    def __init__(self, suite, data_root, args, seed=0):
        self.offset = int(args.get("offset", "0"))
        self.answered = 0

    @classmethod
    def fingerprint_for(cls, **_: Any) -> str:
        return "toy-guess-v1"

    def fingerprint(self) -> str:
        return self.fingerprint_for()

    def count(self, samples: list[dict[str, Any]]) -> list[int]:
        limit = os.environ.get("TOY_FAIL_AFTER")
        if limit is not None and self.answered + len(samples) > int(limit):
            raise RuntimeError("killed")
        self.answered += len(samples)
        return [s["target"] + self.offset for s in samples]


class CountOracle(Guess):
    """The counting kind's own `oracle`: another factory under a name segmentation also uses."""

    def count(self, samples: list[dict[str, Any]]) -> list[int]:
        return [s["target"] for s in samples]


register_task_kind(CountingTask())
register_suite(Path(__file__).with_name("toy-count.yaml"))
register_method(MethodInfo(name="toy-guess", factory="toy_task:Guess", kinds=("counting",),
                           params=(Param("offset", int, 0, min=-5, max=5),)))
register_method(MethodInfo(name="oracle", factory="toy_task:CountOracle", kinds=("counting",), meaningful=False))
