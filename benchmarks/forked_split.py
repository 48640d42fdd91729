"""Where forked scoring's time goes: each process's own loop (`_Loop.go`) against one process doing all the samples.

    python benchmarks/forked_split.py [--images 300] [--rounds 2]

Writes score_speed.py's Pascal-size split, then alternates `score` in one process and in 2 forked processes (in this
process, imports done, bootstrap 0), and prints for every process its `_Loop.go` wall-clock, CPU seconds (system time
apart) and minor page faults (`resource.getrusage`, so copy-on-write after the fork shows as faults). Each forked
process's loop, set against half of the single process's, says how much the split itself costs; the whole scoring's
wall-clock (`score` s) says how much of it is the serial rest (index, fingerprints, gather, results). Last, what
running side by side costs by itself: score_speed.py's libspng decode-only worker alone, then two copies at once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_speed import prepare  # noqa: E402 - the same split as the scoring benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PARTBENCH_CACHE"] = str(Path(tmp) / "cache")
        data = prepare(Path(tmp), "500x375", args.images)
        import partbench.run.loop as loop
        from partbench.run import ScoreRequest, score

        original = loop._Loop.go

        def timed_go(self, *a, **k):
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            out = original(self, *a, **k)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            print(f"  rank {self.group.rank} of {self.group.world_size}: go {time.perf_counter() - start:.3f} s, "
                  f"CPU {cpu:.3f} s (system {after.ru_stime - before.ru_stime:.3f} s), "
                  f"minor faults {after.ru_minflt - before.ru_minflt}", file=sys.stderr, flush=True)
            return out

        loop._Loop.go = timed_go
        root = Path(data["data_root"])
        score(ScoreRequest(suite=data["suite"], data_root=root, predictions=Path(data["predictions"]), split="val",
                           name="warm-up", bootstrap=0, processes=1, samples_path=Path(tmp) / "warm.jsonl"))
        for round_ in range(args.rounds):
            for processes in (1, 2):
                print(f"round {round_ + 1}, {processes} process(es):", file=sys.stderr, flush=True)
                start = time.perf_counter()
                score(ScoreRequest(suite=data["suite"], data_root=root, predictions=Path(data["predictions"]),
                                   split="val", name="bench", bootstrap=0, processes=processes,
                                   samples_path=Path(tmp) / f"s{round_}{processes}.jsonl"))
                print(f"  score {time.perf_counter() - start:.3f} s", file=sys.stderr, flush=True)
        decode = [sys.executable, str(Path(__file__).with_name("score_speed.py")), "--worker", "decode-spng",
                  "--data", json.dumps(data)]
        for round_ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(decode, check=True, capture_output=True)
            alone = time.perf_counter() - start
            start = time.perf_counter()
            both = [subprocess.Popen(decode, stdout=subprocess.DEVNULL) for _ in range(2)]
            for process in both:
                process.wait()
            print(f"round {round_ + 1}, decode only: alone {alone:.3f} s, two side by side "
                  f"{time.perf_counter() - start:.3f} s ({(time.perf_counter() - start) / alone:.2f}x)",
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
