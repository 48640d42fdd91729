"""Input fingerprints: what each sample was predicted and scored from, so that nothing computed from older data is
reused after the data changed.

A sample's *input fingerprint* hashes, for each file it is read from (image, annotation maps, .mat, instance JSON),
the file's path relative to the data root and the SHA-256 of its content. A run's *data fingerprint* hashes the
sample ids and their input fingerprints in suite order; results.json records it so that tables can flag runs scored
on different data.

Content hashes are kept in a state file per data root (`<cache>/file-hashes/<root hash>.json`, the cache being
`$PARTBENCH_CACHE`, else `~/.cache/partbench`) beside each file's size and modification time, and a file is hashed
again only when those changed: the fast check DVC's state database makes. An edit that keeps both size and
modification time (`touch -r`) is not seen; `--rehash` hashes every file again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_json, read_json

STATE_SCHEMA = 1
# Hashing is I/O bound and hashlib releases the GIL on large buffers: threads overlap reads with hashing.
HASH_THREADS = 4


def cache_dir() -> Path:
    env = os.environ.get("PARTBENCH_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/partbench").expanduser()


@dataclass(frozen=True)
class DataFingerprint:
    """The inputs of one run's samples: a fingerprint per sample (suite order) and one for them all."""

    per_sample: dict[str, str]  # sample id -> input fingerprint
    fingerprint: str
    n_files: int

    def summary(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "n_input_files": self.n_files}


class FileHashes:
    """SHA-256 of files under one data root, reusing a stored hash while the file's size and mtime are unchanged."""

    def __init__(self, data_root: Path, rehash: bool = False):
        self.given_root = Path(data_root).absolute()
        # The given root's text, absolute and as given, for `name`'s fast path ('' when it is the working directory).
        given = str(Path(data_root))
        self._prefixes = tuple(dict.fromkeys((str(self.given_root).rstrip(os.sep) + os.sep,
                                              "" if given == "." else given.rstrip(os.sep) + os.sep)))
        self.root = Path(data_root).resolve()
        key = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        self.state_path = cache_dir() / "file-hashes" / f"{key}.json"
        self.entries: dict[str, list] = {} if rehash else self._read_state()
        self.changed = False

    def _read_state(self) -> dict[str, list]:
        try:
            state = read_json(self.state_path)
        except (PartbenchError, OSError):  # absent or unreadable: every file is hashed again, nothing is trusted
            return {}
        if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA or state.get("root") != str(self.root):
            return {}
        files = state.get("files")
        return files if isinstance(files, dict) else {}

    def name(self, path: Path) -> str:
        """The path as fingerprints record it: relative to the data root, so a moved data root keeps its hashes."""
        text = str(path)
        # The common case, by string: a Path's text is normalised (no '.', no '//'), so one that starts with the
        # given root's text (absolute, or relative as given) and has no '..' is relative_to's answer, without
        # building two more Path objects per file of every sample. (Any '..', even inside a name, takes the slow way.)
        if isinstance(path, PurePath) and ".." not in text:
            for prefix in self._prefixes:
                if text.startswith(prefix) and (prefix or not path.is_absolute()):
                    return text[len(prefix):].replace(os.sep, "/")
        try:  # relative paths, without a system call per path
            relative = Path(path).absolute().relative_to(self.given_root)
            if ".." not in relative.parts:  # else its name would depend on how the path is spelled
                return relative.as_posix()
        except ValueError:
            pass
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            return resolved.as_posix()

    def digests(self, paths: Iterable[Path]) -> dict[str, str]:
        """name -> content hash for each path (a missing file is an error naming it)."""
        todo: list[tuple[str, Path, int, int]] = []
        out: dict[str, str] = {}
        for path in dict.fromkeys(p if isinstance(p, Path) else Path(p) for p in paths):
            name = self.name(path)
            try:
                st = path.stat()
            except OSError as e:
                raise PartbenchError(f"{path}: cannot read this input file ({e.strerror or e}).") from None
            known = self.entries.get(name)
            if isinstance(known, list) and len(known) == 3 and known[:2] == [st.st_size, st.st_mtime_ns]:
                out[name] = known[2]
            else:
                todo.append((name, path, st.st_size, st.st_mtime_ns))
        if todo:
            from partbench.console import progress_bar

            with progress_bar(transient=True) as bar, ThreadPoolExecutor(HASH_THREADS) as pool:
                task = bar.add_task("hashing new or changed input files", total=len(todo), note="")
                for (name, _, size, mtime), digest in zip(todo, pool.map(lambda t: _sha256(t[1]), todo)):
                    self.entries[name] = [size, mtime, digest]
                    out[name] = digest
                    bar.advance(task)
            self.changed = True
        return out

    def save(self) -> None:
        """Store the hashes for the next run; a cache that cannot be written only costs hashing again."""
        if not self.changed:
            return
        try:
            atomic_write_json(self.state_path, {"schema": STATE_SCHEMA, "root": str(self.root), "files": self.entries})
        except OSError:
            pass
        self.changed = False


def fingerprint_inputs(data_root: Path, items: Sequence[Any], input_files: Callable[[Any], Sequence[Path]],
                       rehash: bool = False) -> DataFingerprint:
    """The input fingerprint of every item (`item.id` -> hash) and the data fingerprint of them all."""
    hashes = FileHashes(data_root, rehash=rehash)
    files = {item.id: list(input_files(item)) for item in items}
    digests = hashes.digests(p for paths in files.values() for p in paths)
    hashes.save()
    per_sample = {}
    for item_id, paths in files.items():
        named = sorted((n, digests[n]) for n in map(hashes.name, paths))
        per_sample[item_id] = _hash_lines(f"{n}\t{d}" for n, d in named)
    overall = _hash_lines(f"{i}\t{fp}" for i, fp in per_sample.items())
    return DataFingerprint(per_sample, overall, len(digests))


def _hash_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def _sha256(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise PartbenchError(f"{path}: cannot read this input file ({e.strerror or e}).") from None
