"""The cache key of a prediction is a fixed formula of the run's identity, so run folders written by earlier
releases keep being reused: the formula is restated here independently of `partbench.store.run_dir`."""

from __future__ import annotations

import hashlib
import json

from PIL import Image

from partbench.run import RunRequest, run


def _restated_key(identity: dict, fingerprint: str, sample_id: str) -> str:
    payload = {"method": identity["method"], "method_args": identity["method_args"], "suite": identity["suite"],
               "suite_version": identity["suite_version"], "split": identity["split"], "seed": identity["seed"],
               "fingerprint": fingerprint, "sample": sample_id, "cache_schema": 1}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_prediction_files_carry_the_documented_key(demo_root, tmp_path):
    outcome = run(RunRequest(method="random", suite="demo", data_root=demo_root, output_root=tmp_path, limit=3,
                             bootstrap=0))
    config = json.loads((outcome.run_dir / "config.json").read_text())
    assert config["fingerprint"] == "random-v1"
    for png in sorted((outcome.run_dir / "predictions").glob("*.png")):
        with Image.open(png) as im:
            assert im.text["partbench-cache-key"] == _restated_key(config, "random-v1", png.stem)
    again = run(RunRequest(method="random", suite="demo", data_root=demo_root, output_root=tmp_path, limit=3,
                           bootstrap=0))
    assert (again.predicted, again.cached) == (0, 3)
