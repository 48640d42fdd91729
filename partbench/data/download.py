"""`partbench data download`: fetch a dataset archive from its stable public URL, resumably, with a progress bar.

Resume: the archive is written to `<name>.part` next to its destination; a later call asks for the rest with an HTTP
`Range: bytes=<have>-` request and appends when the server answers 206 (a 200 answer means it ignored the range, so
the file restarts from zero). Only a complete, verified file is renamed to its final name.

What to download is data: each suite YAML's `download:` entries (file name, URL, optional sha256, note, or the manual
steps), read by `partbench.suites.datasets`.

Verification: a sha256 is checked when the YAML gives one. The shipped suites give none: the authors publish none,
and partbench has not downloaded the archives on a machine it can vouch for. Instead the Hugging Face
`X-Linked-Etag` header (the sha256 of an LFS file, sent by huggingface.co) is checked when present, and every archive
is checked for integrity (zip: every member's CRC; tar: every member read to the end), which catches truncation and
corruption.

Archives that live on Google Drive or behind a login are not downloaded: the command prints the YAML's `manual` steps.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zipfile
import zlib
from pathlib import Path

from partbench.errors import PartbenchError
from partbench.suites.datasets import Source, find_source

__all__ = ["Source", "get_source", "download", "check_archive", "sha256_of"]

CHUNK = 1 << 20


def get_source(name: str) -> Source:
    """The archive `partbench data download NAME` fetches: a suite YAML's `download:` entry of that name, or the one
    entry of the suite of that name (for a suite with `data_from`, the entry of the suite it shares data with)."""
    return find_source(name)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_archive(path: Path, name: str | None = None) -> None:
    """Raise if a zip or tar archive is truncated or corrupt (every member is read to the end). `name` gives the
    archive type when `path` is a temporary `.part` file."""
    name = (name or path.name).lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            if bad is not None:
                raise PartbenchError(f"{path}: member {bad!r} is corrupt (CRC mismatch).")
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            if name.endswith((".gz", ".tgz")):
                # tarfile stops at the end-of-archive marker; reading the gzip stream to its end checks its CRC.
                with gzip.open(path, "rb") as g:
                    while g.read(CHUNK):
                        pass
            with tarfile.open(path) as t:
                for member in t:
                    if member.isfile():
                        f = t.extractfile(member)
                        while f is not None and f.read(CHUNK):
                            pass
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, OSError) as e:
        raise PartbenchError(f"{path}: archive is truncated or corrupt ({e}). Delete it and download again.") from None


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download `url` to `dest`, resuming a previous partial download; returns `dest` once complete and verified."""
    import urllib.error
    import urllib.request

    from partbench.console import progress_bar

    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "partbench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise PartbenchError(f"{url}: HTTP {e.code} {e.reason}.") from None
    except (urllib.error.URLError, OSError) as e:
        raise PartbenchError(f"{url}: cannot connect ({getattr(e, 'reason', e)}).") from None
    expected = sha256 or _linked_etag(response)
    if response is not None:
        with response:
            if have and response.status != 206:
                have = 0  # the server ignored the range: start over
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            mode = "ab" if have else "wb"
            with open(part, mode) as f, progress_bar(transient=not progress) as bar:
                task = bar.add_task(f"downloading {dest.name}", total=total, completed=have,
                                    note="resumed" if have else "")
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, ValueError) as e:
                        raise PartbenchError(f"{url}: connection lost after {part.stat().st_size} bytes ({e}); "
                                             f"run the same command again to resume.") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    bar.advance(task, len(chunk))
            if total is not None and part.stat().st_size < total:
                raise PartbenchError(f"{url}: got {part.stat().st_size} of {total} bytes; run the same command "
                                     "again to resume.")
    if expected:
        got = sha256_of(part)
        if got != expected:
            part.unlink()
            raise PartbenchError(f"{url}: sha256 {got} does not match the expected {expected}; the partial file was "
                                 "deleted, download again.")
    check_archive(part, dest.name)
    part.replace(dest)
    return dest


def _linked_etag(response) -> str | None:
    """huggingface.co sends an LFS file's sha256 as `X-Linked-Etag`; use it when it looks like one."""
    if response is None:
        return None
    etag = (response.headers.get("X-Linked-Etag") or "").strip('"').lower()
    return etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None
