"""Time `partbench score` on a saved-prediction directory beside its floor and its peer, in one invocation.

    python benchmarks/score_speed.py [--size 500x375] [--images 300] [--repeat 3]
    python benchmarks/score_speed.py --size demo --images 400      # the generated demo suite (≈160×128)

`--size WxH` (default: Pascal VOC's 500×375) writes a Pascal-Part-116 split (the suite's 116 classes and object ids)
of N images with 1-3 elliptical objects each (one in ten part-less, skipped as boat or chair are), and one prediction
PNG per *image* (`<image id>.png`), as OV-PARTS-style exports are. `--size demo` generates the demo suite instead and
scores the `random` baseline's per-sample predictions.

Every row runs in its own process, after one untimed scoring that builds the per-root index and file-hash caches (in
a temporary `PARTBENCH_CACHE`), as a user's second scoring finds them. Repetitions run in rounds over all rows, so that
a change of machine load hits every row alike; each figure is the best of `--repeat`.

- decode only: every PNG the scoring reads (part map, object map, prediction), each decoded once, by Pillow
  (`np.array(Image.open(...))`, as the official-style loop reads them), by Pillow in 2 threads (it releases the GIL
  while decoding), and by partbench's `read_label_png` (libspng for 8-bit maps): the floors;
- official-style loop: `partbench/testing/ovparts_reference.py`, per image, per object: mask, bincount (the peer);
- `partbench score`, the CLI as users run it: defaults (`--bootstrap 1000` percentile intervals, `--workers 0`,
  `--processes` one per core), then `--bootstrap 0`, then both in one process (`--processes 1`);
- `partbench score`'s code in-process (imports done), one process, on all of the split and on a quarter of it (peak
  memory); and with 2 processes: forked by `score` itself (`partbench.scale.forked`), and launched by torchrun (gloo;
  timed on rank 0 from a barrier after process-group set-up).

`process s`: wall-clock of the whole process (interpreter start-up and imports included); `process CPU s`: its user +
system CPU seconds, steadier than wall-clock on a loaded machine; `in-process s`: the worker's own time after
imports. All rows of the full split must give the same h-IoU.
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

PASCAL = "pascal-part-116"


# -- data ----------------------------------------------------------------------------------------------------------
def write_pascal_size(root: Path, n: int, width: int, height: int, seed: int = 0) -> Path:
    """A Pascal-Part-116 val split of `n` images at width×height and per-image predictions; returns their folder."""
    import numpy as np
    from PIL import Image

    from partbench.suites import load_suite

    suite = load_suite(PASCAL)
    rng = np.random.default_rng(seed)
    base = root / "PascalPart116"
    folders = {k: base / k / "val" for k in ("images", "annotations_detectron2_part", "annotations_detectron2_obj")}
    predictions = root / "predictions"
    for folder in (*folders.values(), predictions):
        folder.mkdir(parents=True, exist_ok=True)
    with_parts = [i for i, name in enumerate(suite.object_classes) if suite.part_ids_of(name)]
    without = [i for i, name in enumerate(suite.object_classes) if not suite.part_ids_of(name)]
    y, x = np.mgrid[0:height, 0:width]
    for k in range(n):
        image_id = f"2008_{k:06d}"
        part = np.full((height, width), 255, np.uint8)
        obj = np.full((height, width), 255, np.uint8)
        # Off-object predictions in 8-pixel blocks (the scorer never counts them, but they are decoded).
        blocks = rng.integers(0, suite.num_classes, (height // 8 + 1, width // 8 + 1), dtype=np.uint8)
        pred = np.repeat(np.repeat(blocks, 8, 0), 8, 1)[:height, :width].copy()
        for _ in range(int(rng.integers(1, 4))):
            oid = int(rng.choice(with_parts)) if rng.random() < 0.9 else int(rng.choice(without))
            cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
            rx, ry = rng.uniform(0.1, 0.3) * width, rng.uniform(0.1, 0.3) * height
            inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
            obj[inside] = oid
            ids = np.asarray(suite.part_ids_of(suite.object_classes[oid]) or [255], np.uint8)
            band = ((y - (cy - ry)) / (2 * ry) * len(ids)).astype(int).clip(0, len(ids) - 1)
            labels = ids[band]
            labels[(x // 16 + y // 16) % 7 == 0] = 255  # unlabelled patches inside the object
            part[inside] = labels[inside]
            pred[inside] = np.roll(ids[band], 4, axis=0)[inside]  # parts predicted 4 pixels off
        Image.fromarray(part).save(folders["annotations_detectron2_part"] / f"{image_id}.png")
        Image.fromarray(obj).save(folders["annotations_detectron2_obj"] / f"{image_id}.png")
        Image.fromarray(pred).save(predictions / f"{image_id}.png")
        Image.new("RGB", (width, height), (127, 127, 127)).save(folders["images"] / f"{image_id}.jpg")
    return predictions


def prepare(work: Path, size: str, n: int) -> dict:
    """One split of `n` images at `size` and its predictions, described for the workers."""
    root = work / f"data-{size}-{n}"
    if size == "demo":
        from partbench.data.demo import generate_demo
        from partbench.run import RunRequest, run

        generate_demo(root / "PartbenchDemo", seed=0, n_train=4, n_val=n)
        outcome = run(RunRequest(method="random", suite="demo", data_root=root, output_root=work / f"runs-{n}",
                                 bootstrap=0))
        return {"suite": "demo", "data_root": str(root), "dataset": str(root / "PartbenchDemo"),
                "predictions": str(outcome.run_dir / "predictions"), "per_image": False}
    width, height = (int(v) for v in size.lower().split("x"))
    predictions = write_pascal_size(root, n, width, height)
    return {"suite": PASCAL, "data_root": str(root), "dataset": str(root / "PascalPart116"),
            "predictions": str(predictions), "per_image": True}


# -- workers (one process each) ------------------------------------------------------------------------------------
def worker(kind: str, data: dict, bootstrap: int, processes: int = 1) -> dict | None:
    """Run one configuration once; report its time after imports, its h-IoU and this process's peak RSS."""
    # Each kind imports only what it uses, so that `process s` compares like with like.
    dataset, predictions = Path(data["dataset"]), Path(data["predictions"])
    if kind in ("decode", "decode-2", "decode-spng"):
        from concurrent.futures import ThreadPoolExecutor

        import numpy as np
        from PIL import Image

        def decode(path):
            with Image.open(path) as im:
                return np.array(im)

        if kind == "decode-spng":  # the scorer's own decoder: libspng for 8-bit grayscale maps
            from partbench.data.images import read_label_png as decode

        start = time.perf_counter()
        files = [p for folder in ("annotations_detectron2_part", "annotations_detectron2_obj")
                 for p in sorted((dataset / folder / "val").glob("*.png"))] + sorted(predictions.glob("*.png"))
        if kind in ("decode", "decode-spng"):
            for path in files:
                decode(path)
        else:  # PIL releases the GIL while it decodes: the floor with both cores
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(decode, files))
        return {"kind": kind, "seconds": time.perf_counter() - start, "h_iou": None, "max_rss_mib": peak_rss_mib()}
    if kind == "official-style":
        from partbench.suites import load_suite  # the class lists (YAML and JSON; no numpy, no scipy)
        from partbench.testing.ovparts_reference import evaluate

        suite = load_suite(data["suite"])
        start = time.perf_counter()
        naming = (lambda image_id, obj: image_id) if data["per_image"] else (lambda image_id, obj: f"{image_id}__{obj}")
        h_iou = evaluate(dataset, "val", predictions, list(suite.classes), list(suite.object_classes),
                         set(suite.unseen_objects), prediction_name=naming)["h_iou"]
        return {"kind": kind, "seconds": time.perf_counter() - start, "h_iou": h_iou, "max_rss_mib": peak_rss_mib()}

    # What scoring imports on first use is imported here, before the clock: `in-process s` is scoring alone.
    import PIL.PngImagePlugin  # noqa: F401

    import partbench.data.ovparts  # noqa: F401
    import partbench.metrics.partseg  # noqa: F401
    import partbench.tasks.imported_maps  # noqa: F401
    import partbench.tasks.segmentation  # noqa: F401
    from partbench.run import ScoreRequest, score
    from partbench.scale.parallel import ProcessGroup

    group = ProcessGroup.from_env()  # set up before the clock starts: process start-up is not scoring
    group.barrier()
    start = time.perf_counter()
    doc = score(ScoreRequest(suite=data["suite"], data_root=Path(data["data_root"]), predictions=predictions,
                             split="val", name="bench", bootstrap=bootstrap, workers=0, processes=processes,
                             samples_path=Path(tempfile.mkdtemp()) / "samples.jsonl"))
    if doc is None:
        return None  # not rank 0: rank 0 reports for the group
    h_iou = doc["metrics"]["h_iou"]
    return {"kind": kind, "seconds": time.perf_counter() - start, "h_iou": h_iou, "max_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child
    would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- measuring -----------------------------------------------------------------------------------------------------
def timed(command: list[str], env: dict[str, str]) -> dict:
    """Run a command; its wall-clock, its CPU seconds (user + system, children included) and its last output line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = out.stdout.strip().splitlines()
    return {"process": wall, "cpu": cpu, "last": lines[-1] if lines else ""}


class Config:
    """One row: a worker process (in-process time and peak RSS reported by it) or the CLI (its results file)."""

    def __init__(self, label: str, n: int, data: dict, env: dict[str, str], worker: str | None = None,
                 bootstrap: int = 0, torchrun: int = 1, forked: int = 1, cli: list[str] | None = None,
                 out: Path | None = None):
        self.label, self.n, self.data, self.env, self.out = label, n, data, env, out
        if worker is not None:
            launcher = [sys.executable] if torchrun == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(torchrun)]
            self.command = [*launcher, __file__, "--worker", worker, "--data", json.dumps(data),
                            "--bootstrap", str(bootstrap), "--processes", str(forked)]
        else:
            script = Path(sys.executable).with_name("partbench")
            prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "partbench.cli.main"]
            self.shown = "partbench " + " ".join(["score", "--suite", data["suite"], "--data-root DATA",
                                                  "--predictions DATA/predictions", *(cli or [])])
            self.command = [*prefix, "score", "--suite", data["suite"], "--data-root", data["data_root"],
                            "--predictions", data["predictions"], "--output", str(out), "--force", *(cli or [])]
        self.runs: list[dict] = []

    def run_once(self) -> None:
        result = timed(self.command, self.env)
        if self.out is not None:  # the CLI: its h-IoU from the results it wrote
            report = {"seconds": None, "max_rss_mib": None,
                      "h_iou": json.loads(self.out.read_text())["metrics"]["h_iou"]}
        else:
            report = json.loads(result["last"])
        self.runs.append(report | {"process": result["process"], "cpu": result["cpu"]})

    def best(self) -> dict:
        """Each time's minimum over the repetitions (the least-disturbed one), the largest peak RSS."""
        best = {k: min(r[k] for r in self.runs) for k in ("process", "cpu")}
        seconds = [r["seconds"] for r in self.runs if r["seconds"] is not None]
        rss = [r["max_rss_mib"] for r in self.runs if r["max_rss_mib"] is not None]
        return best | {"seconds": min(seconds) if seconds else None, "max_rss_mib": max(rss) if rss else None,
                       "h_iou": self.runs[0]["h_iou"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="500x375", help="WxH of a Pascal-Part-116-layout split, or 'demo'")
    parser.add_argument("--images", type=int, default=300, help="images in the split (a quarter for the memory row)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-torchrun", action="store_true", help="skip the 2-process row")
    parser.add_argument("--worker", choices=["partbench", "official-style", "decode", "decode-2", "decode-spng"])
    parser.add_argument("--data", type=json.loads)
    parser.add_argument("--bootstrap", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1, help="(worker) forked scoring processes")
    args = parser.parse_args()
    if args.worker:
        report = worker(args.worker, args.data, args.bootstrap, args.processes)
        if report is not None:
            print(json.dumps(report))
        return

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = os.environ | {"OMP_NUM_THREADS": "1", "PARTBENCH_CACHE": str(work / "cache")}
        os.environ["PARTBENCH_CACHE"] = env["PARTBENCH_CACHE"]  # the demo's `run` in `prepare` too
        small, large = max(args.images // 4, 1), args.images
        data = {n: prepare(work, args.size, n) for n in (small, large)}
        out = work / "cli" / "results.json"
        big = data[large]
        configs = [
            Config("decode only (each PNG once), Pillow", large, big, env, worker="decode"),
            Config("decode only, Pillow, 2 threads", large, big, env, worker="decode-2"),
            Config("decode only, libspng (partbench's read_label_png)", large, big, env, worker="decode-spng"),
            Config("official-style loop", large, big, env, worker="official-style"),
            Config("partbench score (CLI, defaults)", large, big, env, cli=[], out=out),
            Config("partbench score (CLI) --bootstrap 0", large, big, env, cli=["--bootstrap", "0"], out=out),
            Config("partbench score (CLI) --processes 1", large, big, env, cli=["--processes", "1"], out=out),
            Config("partbench score (CLI) --processes 1 --bootstrap 0", large, big, env,
                   cli=["--processes", "1", "--bootstrap", "0"], out=out),
            Config("partbench score in-process, bootstrap 1000", large, big, env, worker="partbench", bootstrap=1000),
            Config("partbench score in-process, bootstrap 0", large, big, env, worker="partbench"),
            Config("partbench score in-process, bootstrap 0", small, data[small], env, worker="partbench"),
            Config("partbench score in-process, bootstrap 0, 2 forked processes", large, big, env,
                   worker="partbench", forked=2),
        ]
        if not args.no_torchrun:
            configs.append(Config("partbench score, 2 processes (torchrun, gloo)", large, big, env,
                                  worker="partbench", torchrun=2))
        for n in (small, large):  # untimed: builds the index and file-hash caches, as a first scoring does
            Config("warm-up", n, data[n], env, worker="partbench").run_once()
        for _ in range(args.repeat):  # rounds, so that every row sees the same changes of machine load
            for config in configs:
                config.run_once()
        rows = [(c.label, c.n, c.best()) for c in configs]
    print_report(rows, configs, args, small, large, load_before)


def print_report(rows: list[tuple[str, int, dict]], configs: list[Config], args: argparse.Namespace, small: int,
           large: int, load_before: float) -> None:
    from rich.console import Console
    from rich.table import Table

    title = (f"Scoring saved predictions: {args.size}, {args.images} images, best of {args.repeat} "
             f"(1-min load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f})")
    table = Table(title=title)
    for col in ("configuration", "images", "process s", "process CPU s", "in-process s", "peak RSS MiB", "h-IoU"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
    for label, n, r in rows:
        table.add_row(label, str(n), fmt(r["process"], ".3f"), fmt(r["cpu"], ".3f"), fmt(r["seconds"], ".3f"),
                      fmt(r["max_rss_mib"], ".1f"), fmt(r["h_iou"], ".4f"))
    console = Console(width=140)
    console.print(table)
    for config in configs:
        if hasattr(config, "shown"):
            console.print(f"  {config.shown}", highlight=False)
    by = {label: r for label, n, r in rows if n == large}
    official = by["official-style loop"]
    # Floors: each file decoded once, in one process, by libspng (what partbench decodes with) and by Pillow (what the
    # official-style loop decodes with).
    spng, pillow = by["decode only, libspng (partbench's read_label_png)"], by["decode only (each PNG once), Pillow"]
    same = all(abs(r["h_iou"] - official["h_iou"]) < 1e-9 for r in by.values() if r["h_iou"] is not None)
    console.print(f"same h-IoU in every {large}-image row: {same}")
    pairs = (("CLI, defaults (--bootstrap 1000)", by["partbench score (CLI, defaults)"], ("process",)),
             ("CLI, --bootstrap 0", by["partbench score (CLI) --bootstrap 0"], ("process",)),
             ("CLI, --processes 1", by["partbench score (CLI) --processes 1"], ("process", "cpu")),
             ("CLI, --processes 1 --bootstrap 0", by["partbench score (CLI) --processes 1 --bootstrap 0"],
              ("process", "cpu")),
             ("in-process, bootstrap 1000", by["partbench score in-process, bootstrap 1000"], ("seconds",)),
             ("in-process, bootstrap 0", by["partbench score in-process, bootstrap 0"], ("seconds",)))
    names = {"process": "wall", "cpu": "CPU", "seconds": "wall"}
    for label, ours, keys in pairs:
        parts = [f"{names[k]}: official-style / partbench {official[k] / ours[k]:.2f}x, partbench / decode only "
                 f"{ours[k] / spng[k]:.2f}x (libspng), {ours[k] / pillow[k]:.2f}x (Pillow)" for k in keys]
        console.print(f"{label}: " + "; ".join(parts))
    one = by["partbench score in-process, bootstrap 0"]
    for label in ("partbench score in-process, bootstrap 0, 2 forked processes",
                  "partbench score, 2 processes (torchrun, gloo)"):
        if label in by:
            console.print(f"{label.removeprefix('partbench score')} / 1 process (in-process, bootstrap 0): "
                          f"{one['seconds'] / by[label]['seconds']:.2f}x")
    rss = {n: r["max_rss_mib"] for label, n, r in rows if label == "partbench score in-process, bootstrap 0"}
    console.print(f"peak RSS {rss[small]:.1f} MiB at {small} images vs {rss[large]:.1f} MiB at {large} images")


if __name__ == "__main__":
    main()
