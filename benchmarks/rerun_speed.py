"""Seconds for `partbench run` on a finished `pascal-part` run (every prediction cached), against the same run's
first pass and against reading nothing but the index.

    python benchmarks/rerun_speed.py [--images 2000] [--size 375x500]

Writes a Pascal-Part layout in a temporary folder: N VOC-size images, each with a .mat in the official struct layout
(two objects, a person with four parts and a dog with three), the VOC val list naming them. Then, each command in
its own process (the CLI, as users run it; `--bootstrap 1000`, the default):

- first run of `random` (predicts and writes everything, builds the index cache),
- the same command again (everything cached: predictions, rows, index; best of `--repeat`, as are the floor and the
  baseline's cached re-run),
- the same again with `--bootstrap 0`,
- `--force`-free re-run after one .mat changed (one image re-indexed and re-scored),
- the floor: `python -c` listing the cached index only;
- with `--baseline-rev REV` (e.g. `cf244a4`, before rows were reused and the index cached): that revision's first
  run and cached re-run on the same data, from a temporary `git worktree` put first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_dataset(root: Path, n: int, h: int, w: int) -> None:
    import scipy.io
    from PIL import Image

    ann = root / "pascal-part/Annotations_Part"
    jpg = root / "VOCdevkit/VOC2010/JPEGImages"
    lists = root / "VOCdevkit/VOC2010/ImageSets/Main"
    for d in (ann, jpg, lists):
        d.mkdir(parents=True, exist_ok=True)
    person, dog = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    person[h // 8: 7 * h // 8, w // 8: w // 2] = 1
    dog[h // 2: 7 * h // 8, w // 2 + 10: 7 * w // 8] = 1
    quarter = np.array_split(np.argwhere(person), 4)
    person_parts = []
    for name, cells in zip(("head", "torso", "llarm", "rlleg"), quarter):
        m = np.zeros((h, w), np.uint8)
        m[cells[:, 0], cells[:, 1]] = 1
        person_parts.append((name, m))
    dog_parts = [(name, dog * (np.arange(h)[:, None] % 3 == k).astype(np.uint8))
                 for k, name in enumerate(("head", "torso", "lfleg"))]
    objects = np.zeros((1, 2), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for k, (cls, ind, mask, parts) in enumerate((("person", 15, person, person_parts), ("dog", 12, dog, dog_parts))):
        p_arr = np.zeros((1, len(parts)), dtype=[("part_name", "O"), ("mask", "O")])
        for j, part in enumerate(parts):
            p_arr[0, j] = part
        objects[0, k] = (cls, np.array([[ind]], np.uint8), mask, p_arr)
    image = Image.fromarray(np.full((h, w, 3), 127, np.uint8))
    ids = [f"2008_{i:06d}" for i in range(1, n + 1)]
    for image_id in ids:
        anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
        anno[0, 0] = (image_id, objects)
        scipy.io.savemat(str(ann / f"{image_id}.mat"), {"anno": anno})
        image.save(jpg / f"{image_id}.jpg")
    (lists / "val.txt").write_text("".join(f"{i}\n" for i in ids))


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return seconds


def best(cmd: list[str], env: dict[str, str], cwd: Path, repeat: int) -> float:
    """The least-disturbed of `repeat` runs of a command that changes nothing (a cached re-run)."""
    return min(timed(cmd, env, cwd) for _ in range(repeat))


def baseline_rows(rev: str, partbench: str, env: dict[str, str], tmp_path: Path, repeat: int
                  ) -> list[tuple[str, float]]:
    repo = Path(__file__).resolve().parents[1]
    tree = tmp_path / "baseline"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), rev], check=True,
                   capture_output=True)
    # The installed package maps partbench.adapters, .methods and .leaderboards to top-level folders of *this*
    # checkout (pyproject's package-dir); the worktree's own folders are linked into place so they win.
    for sub in ("adapters", "methods", "leaderboards"):
        if (tree / sub).is_dir() and not (tree / "partbench" / sub).exists():
            (tree / "partbench" / sub).symlink_to(tree / sub)
    try:
        old_env = env | {"PYTHONPATH": str(tree), "PARTBENCH_CACHE": str(tmp_path / "cache-baseline")}
        run = [partbench, "run", "-m", "random", "-s", "pascal-part", "--output", str(tmp_path / "runs-baseline")]
        return [(f"{rev}: first run", timed(run, old_env, tmp_path)),
                (f"{rev}: re-run, everything cached", best(run, old_env, tmp_path, repeat))]
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", default="375x500", help="HxW of every image")
    parser.add_argument("--baseline-rev", help="also time this git revision's first run and cached re-run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each cached command (best taken)")
    args = parser.parse_args()
    h, w = (int(x) for x in args.size.split("x"))
    partbench = str(Path(sys.executable).with_name("partbench"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        write_dataset(data, args.images, h, w)
        env = os.environ | {"PARTBENCH_DATA": str(data), "PARTBENCH_CACHE": str(tmp_path / "cache")}
        run = [partbench, "run", "-m", "random", "-s", "pascal-part", "--output", str(tmp_path / "runs")]
        rows = [("first run (predicts everything)", timed(run, env, tmp_path)),
                ("re-run, everything cached", best(run, env, tmp_path, args.repeat)),
                ("re-run, everything cached, --bootstrap 0",
                 best(run + ["--bootstrap", "0"], env, tmp_path, args.repeat))]
        mat = data / "pascal-part/Annotations_Part/2008_000001.mat"
        st = mat.stat()
        os.utime(mat, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        rows.append(("re-run after one .mat changed", timed(run, env, tmp_path)))
        index_only = [sys.executable, "-c",
                      "from partbench.suites import load_suite; from partbench.data.index_cache import cached_index;"
                      f"s = load_suite('pascal-part'); cached_index(s.make_reader({str(data)!r}), {str(data)!r}, "
                      "'val')"]
        if args.baseline_rev:
            rows += baseline_rows(args.baseline_rev, partbench, env, tmp_path, args.repeat)
        rows.append(("floor: loading the cached index alone", best(index_only, env, tmp_path, args.repeat)))
    floor = rows[-1][1]
    print(f"pascal-part, {args.images} images of {h}x{w}, `random`; seconds per command (one process each; "
          f"cached re-runs and the floor: best of {args.repeat})")
    print(f"{'command':<45} {'seconds':>8} {'x floor':>8}")
    for name, seconds in rows:
        print(f"{name:<45} {seconds:>8.2f} {seconds / floor:>8.2f}")


if __name__ == "__main__":
    main()
