"""The run directory: config, cached predictions, per-sample statistics, results.

```
runs/<suite>/<method>[@<args-hash>]/
  config.json      what produced the predictions (method, args, suite + version, split, seed, versions)
  predictions/     one PNG class-id map per sample, carrying its cache key in a text chunk; written atomically
  samples.jsonl    per-sample confusion entries (any metric convention can be recomputed from them)
  inputs.json      each sample's input fingerprint when last run (to name the samples whose data changed since)
  results.json     aggregate metrics (schema_version 1)
```
A prediction is reused when its file exists and the cache key stored inside it matches the current one, so a run
killed at any point resumes where it stopped and a half-written file can never be mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_json, read_json

if TYPE_CHECKING:
    import numpy as np

CACHE_SCHEMA = 2  # 2: keys cover the sample's input files
RESULTS_SCHEMA = 1
KEY_CHUNK = "partbench-cache-key"
# config.json fields that must agree for a directory's predictions to be reused.
IDENTITY_FIELDS = ("method", "method_args", "suite", "suite_version", "split", "seed")
# A run over the first N samples only (`--limit N`) is another run than the full one (its own folder, marked partial
# in tables), but its predictions are the same as the full run's: `limit` is in the run's identity, not in cache keys.
# A run scored on incomplete data (`--allow-incomplete-data` with files missing) is kept apart from the complete run
# (`data: "incomplete"`), so it never replaces the complete one's results.
RUN_FIELDS = IDENTITY_FIELDS + ("limit", "gt_resize", "data")
# Identity fields present only when set, so that cache keys made without them stay valid: `gt_resize` changes the
# ground truth and the object mask predictions are cut to (partbench.data.gt_resize).
OPTIONAL_KEY_FIELDS = ("gt_resize",)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def args_hash(method_args: dict[str, str], seed: int, limit: int | None = None, gt_resize: str | None = None,
              data: str | None = None) -> str:
    payload: dict[str, Any] = {"args": method_args, "seed": seed} | ({"limit": limit} if limit is not None else {})
    for key, value in (("gt_resize", gt_resize), ("data", data)):
        if value is not None:
            payload[key] = value
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:8]


def run_name(method: str, method_args: dict[str, str], seed: int, limit: int | None = None,
             gt_resize: str | None = None, data: str | None = None) -> str:
    """`random`, or `random@1a2b3c4d` when method arguments, a non-default seed, `--limit`, `--gt-resize` or
    incomplete data (`data="incomplete"`, `--allow-incomplete-data`) make it another run than the plain one."""
    if not method_args and seed == 0 and limit is None and gt_resize is None and data is None:
        return method
    return f"{method}@{args_hash(method_args, seed, limit, gt_resize, data)}"


def cache_key(identity: dict[str, Any], fingerprint: str, sample_id: str, inputs: str = "") -> str:
    """Everything that can change one prediction: method, args, weights fingerprint, suite version, sample, seed,
    and the content of the files the sample is read from (`inputs`: partbench.store.inputs)."""
    payload = {k: identity[k] for k in IDENTITY_FIELDS} | {
        k: identity[k] for k in OPTIONAL_KEY_FIELDS if identity.get(k) is not None} | {
        "fingerprint": fingerprint, "sample": sample_id, "inputs": inputs, "cache_schema": CACHE_SCHEMA}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def encode_label_png(label_map: np.ndarray, ignore_label: int, key: str | None = None) -> bytes:
    """A class-id map as an 8-bit PNG (ignore 255) or 16-bit PNG (ignore 65535), optionally carrying a cache key."""
    import numpy as np
    from PIL import Image, PngImagePlugin

    dtype = np.uint8 if ignore_label <= 255 else np.uint16
    image = Image.fromarray(np.ascontiguousarray(label_map.astype(dtype)))
    info = PngImagePlugin.PngInfo()
    if key is not None:
        info.add_text(KEY_CHUNK, key)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_cache_key(path: Path) -> str | None:
    """The cache key stored in a prediction PNG, or None if absent or the file is unreadable (then it is redone).

    `encode_label_png` writes the key as a tEXt chunk before the pixel data: the chunks before the first IDAT are
    walked here (the key's CRC checked) and nothing is decoded. A cached re-run asks this of every prediction, and
    Pillow's `Image.open` costs several times more per file."""
    import struct
    import zlib

    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_SIGNATURE:
                return None
            while len(header := f.read(8)) == 8:
                length, kind = struct.unpack(">I4s", header)
                if kind == b"IDAT":
                    return None
                if kind != b"tEXt":
                    f.seek(length + 4, 1)  # the chunk and its CRC
                    continue
                body, crc = f.read(length), f.read(4)
                if len(crc) < 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
                    return None
                keyword, _, text = body.partition(b"\0")
                if keyword == KEY_CHUNK.encode("latin-1"):
                    return text.decode("latin-1")
    except OSError:
        pass
    return None


# What a run folder holds before anything is computed (`RunDir.discard_if_unused`).
UNUSED_FILES = frozenset({"config.json", ".lock", "predictions"})


@dataclass
class RunDir:
    path: Path
    identity: dict[str, Any]
    made: list[Path] | None = field(default=None, repr=False, compare=False)  # by `create`, deepest first

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    @property
    def results_path(self) -> Path:
        return self.path / "results.json"

    @property
    def samples_path(self) -> Path:
        return self.path / "samples.jsonl"

    @classmethod
    def open(cls, output_root: Path, identity: dict[str, Any], force: bool = False) -> RunDir:
        """Create or reopen `output_root/<suite>/<run name>`, refusing one written for different settings."""
        name = run_name(identity["method"], identity["method_args"], identity["seed"], identity.get("limit"),
                        identity.get("gt_resize"), identity.get("data"))
        run = cls(Path(output_root) / identity["suite"] / name, identity)
        config_path = run.path / "config.json"
        if config_path.exists() and not force:
            old = read_json(config_path)
            diff = [k for k in RUN_FIELDS if old.get(k) != identity.get(k)]
            if diff:
                what = ", ".join(f"{k}: {old.get(k)!r} there, {identity.get(k)!r} now" for k in diff)
                raise PartbenchError(
                    f"{run.path} holds a run with other settings ({what}). Use --force to recompute it there, "
                    f"or --output to write elsewhere."
                )
        return run

    def create(self) -> None:
        """Make the folder, once the run is known to start (a refused run leaves nothing behind)."""
        if self.made is None:  # the first call: remember the folders it makes, deepest first
            self.made = []
            folder = self.predictions
            while not folder.exists() and folder != folder.parent:
                self.made.append(folder)
                folder = folder.parent
        self.predictions.mkdir(parents=True, exist_ok=True)

    def discard_if_unused(self) -> None:
        """Remove the folders `create` made, when the run failed before computing anything: they hold nothing but
        config.json, the lock and an empty predictions/. Anything else (a prediction, a temporary file, rows, a
        folder that was there before) is kept."""
        if not self.made or self.path not in self.made:
            return
        try:
            if any(self.predictions.iterdir()) or {p.name for p in self.path.iterdir()} - UNUSED_FILES:
                return
            for name in UNUSED_FILES - {"predictions"}:
                (self.path / name).unlink(missing_ok=True)
            for folder in self.made:
                folder.rmdir()  # fails, and stops, at a folder another run has written into since
        except OSError:
            pass

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this process: a second `partbench run` into it is refused instead of both writing the
        same files. An advisory `flock` on `.lock`, released when the process ends however it ends."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking
            yield
            return
        self.create()
        path = self.path / ".lock"
        with open(path, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise PartbenchError(f"{self.path} is being written by another partbench run (pid {holder}); wait for "
                                     f"it to finish, or write elsewhere with --output.") from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @property
    def inputs_path(self) -> Path:
        return self.path / "inputs.json"

    def read_inputs(self) -> dict[str, str]:
        """Sample id -> input fingerprint as the last run saw them (empty when unknown)."""
        try:
            samples = read_json(self.inputs_path).get("samples")
        except (PartbenchError, OSError, AttributeError):
            return {}
        return samples if isinstance(samples, dict) else {}

    def write_config(self, extra: dict[str, Any]) -> None:
        atomic_write_json(self.path / "config.json", self.identity | extra)

    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_json(self.results_path, results)

    def read_results(self) -> dict[str, Any] | None:
        if not self.results_path.is_file():
            return None
        try:
            return read_json(self.results_path)
        except PartbenchError:
            return None
