"""Running methods over suites and scoring saved predictions: one loop for every task kind (`loop`), the documents it
writes (`results`), and combining the shards of a run (`merge`)."""

from partbench.run.loop import run, score
from partbench.run.merge import merge_run
from partbench.run.request import RunOutcome, RunRequest, ScoreRequest

__all__ = ["RunOutcome", "RunRequest", "ScoreRequest", "merge_run", "run", "score"]
