"""Peak host memory of PartConcepts training (DataLoader workers included) at 1,000 vs 10,000 training samples.

    python benchmarks/partconcepts_memory.py [--samples 1000,10000] [--steps 20] [--workers 2] [--latent-cache disk]

Generates a demo train split large enough (cheap synthetic images, ~1.6 samples per image), then trains the tiny
preset (64 px) on the first N samples of it (`limit_samples`, every object: `train_objects=all`) in a child process
per N, for a few steps. The parent samples the memory of the child's whole process tree (the trainer and its
DataLoader workers) every 50 ms from /proc (Linux only): the sum of RSS (counts pages the forked workers share with
the trainer once per process: an upper bound) and the sum of PSS (shared pages split between the processes that map
them). What grows with N is the index (sample references), the latent cache file on disk (not memory), and nothing
else; before streaming, every crop was held as float32 with one float mask per part, mirrored copies included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(c) for c in task.read_text().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def _kib(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def measure(cmd: list[str]) -> dict[str, float]:
    """Run `cmd`; peak summed RSS and PSS (MiB) of its process tree, peak process count, seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak_rss = peak_pss = peak_main = 0
    peak_procs = 0
    while proc.poll() is None:
        pids = _tree(proc.pid)
        rss = sum(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
        pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        peak_main = max(peak_main, _kib(f"/proc/{proc.pid}/status", "VmRSS:"))
        peak_procs = max(peak_procs, len(pids))
        time.sleep(0.05)
    out = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    child = json.loads(out.strip().splitlines()[-1])
    return {"rss_mib": peak_rss / 1024, "pss_mib": peak_pss / 1024, "main_rss_mib": peak_main / 1024,
            "processes": peak_procs, "seconds": time.monotonic() - start} | child


def child(args: argparse.Namespace) -> None:
    """Train in this process and print what it trained on (JSON)."""
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.train import TrainOptions, train

    out = Path(args.out)
    opts = TrainOptions.for_preset("demo", Path(args.data), out, PartConceptsConfig.for_preset("tiny"),
                                   steps=args.steps, limit_samples=args.child, train_objects="all",
                                   num_workers=args.workers, latent_cache=args.latent_cache, save_every=0,
                                   device="cpu")
    result = train(opts)
    crops = json.loads((out / "checkpoint" / "config.json").read_text())["training"]["n_crops"]
    print(json.dumps({"entries": crops, "steps": result.step}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="1000,10000")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latent-cache", default="disk", choices=("disk", "none"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the ratio uses each size's largest peak")
    parser.add_argument("--data", help="existing data root (default: generate one)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    sizes = [int(x) for x in args.samples.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            from partbench.data.demo import generate_demo

            t = time.monotonic()
            summary = generate_demo(data / "PartbenchDemo", seed=0, n_train=int(max(sizes) / 1.55) + 50, n_val=2)
            print(f"generated {summary['splits']['train']['samples']} train samples in {time.monotonic() - t:.0f} s",
                  file=sys.stderr)
        peaks: dict[int, dict[str, float]] = {}
        for r in range(args.repeat):
            for n in sizes:
                cmd = [sys.executable, __file__, "--child", str(n), "--data", str(data), "--out", f"{tmp}/run-{n}-{r}",
                       "--steps", str(args.steps), "--workers", str(args.workers), "--latent-cache", args.latent_cache]
                row = {"samples": n} | measure(cmd)
                print(json.dumps(row), flush=True)
                for key in ("rss_mib", "pss_mib"):
                    peaks.setdefault(n, {})[key] = max(peaks.get(n, {}).get(key, 0.0), row[key])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    base = sizes[0]
    for n in sizes[1:]:
        print(f"{n} vs {base} samples: peak RSS x{peaks[n]['rss_mib'] / peaks[base]['rss_mib']:.3f}, "
              f"peak PSS x{peaks[n]['pss_mib'] / peaks[base]['pss_mib']:.3f} (load average {load:.1f})")


if __name__ == "__main__":
    main()
