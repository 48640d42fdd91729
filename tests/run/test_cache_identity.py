"""The cache key of a prediction is a fixed formula of the run's identity and of the content of the sample's input
files, so run folders written by earlier releases keep being reused while the data is unchanged: the formula is
restated here independently of `partbench.store.run_dir` and `partbench.store.inputs`."""

from __future__ import annotations

import hashlib
import json

from PIL import Image

from partbench.run import RunRequest, run


def _restated_inputs(data_root, sample_id: str) -> str:
    """A demo sample is read from its image and its image's part and object maps: (path from the data root, SHA-256
    of the content) lines, sorted, hashed."""
    image_id = sample_id.split("__")[0]
    demo = data_root / "PartbenchDemo"
    files = [demo / "images" / "val" / f"{image_id}.jpg",
             demo / "annotations_detectron2_part" / "val" / f"{image_id}.png",
             demo / "annotations_detectron2_obj" / "val" / f"{image_id}.png"]
    lines = sorted(f"{p.relative_to(data_root).as_posix()}\t{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                   for p in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _restated_key(identity: dict, fingerprint: str, sample_id: str, inputs: str) -> str:
    payload = {"method": identity["method"], "method_args": identity["method_args"], "suite": identity["suite"],
               "suite_version": identity["suite_version"], "split": identity["split"], "seed": identity["seed"],
               "fingerprint": fingerprint, "sample": sample_id, "inputs": inputs, "cache_schema": 2}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_prediction_files_carry_the_documented_key(demo_root, tmp_path):
    outcome = run(RunRequest(method="random", suite="demo", data_root=demo_root, output_root=tmp_path, limit=3,
                             bootstrap=0))
    config = json.loads((outcome.run_dir / "config.json").read_text())
    assert config["fingerprint"] == "random-v1"
    for png in sorted((outcome.run_dir / "predictions").glob("*.png")):
        with Image.open(png) as im:
            inputs = _restated_inputs(demo_root, png.stem)
            assert im.text["partbench-cache-key"] == _restated_key(config, "random-v1", png.stem, inputs)
    again = run(RunRequest(method="random", suite="demo", data_root=demo_root, output_root=tmp_path, limit=3,
                           bootstrap=0))
    assert (again.predicted, again.cached) == (0, 3)
