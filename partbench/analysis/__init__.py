"""Analyses of finished runs, read back from their run folders: paired comparisons (`paired`), per-sample scores
(`samples`), part confusion (`confusion`) and left/right errors per mirrored pair and facing (`leftright`).

Everything here reads what a run left (`results.json`, `samples.jsonl`, `predictions/`), never re-runs a method, and
is shared by the commands (`compare`, `report`, `show`, `figure`) and the scripts in `benchmarks/`.
"""
