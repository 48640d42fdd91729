"""`partbench data download`: fetch a dataset archive from its stable public URL, resumably, with a progress bar.

Resume: the archive is written to `<name>.part` next to its destination; a later call asks for the rest with an HTTP
`Range: bytes=<have>-` request and appends when the server answers 206 (a 200 answer means it ignored the range, so
the file restarts from zero). Only a complete, verified file is renamed to its final name.

Verification: a sha256 is checked when one is known. No checksum is recorded for these archives: the authors publish
none, and partbench has not downloaded them on a machine it can vouch for. Instead the Hugging Face `X-Linked-Etag`
header (the sha256 of an LFS file, sent by huggingface.co) is checked when present, and every archive is checked for
integrity (zip: every member's CRC; tar: every member read to the end), which catches truncation and corruption.

Archives that live on Google Drive or behind a login are not downloaded: the command prints the exact steps.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from partbench.errors import PartbenchError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """One downloadable archive (or, when `url` is None, the manual steps to get it)."""

    name: str
    file_name: str
    url: str | None
    sha256: str | None = None
    manual: str = ""
    note: str = ""


SOURCES: dict[str, Source] = {
    "pascal-part": Source(
        "pascal-part", "trainval.tar.gz", "http://roozbehm.info/pascal-parts/trainval.tar.gz",
        note="Pascal-Part annotations (Chen et al., CVPR 2014), about 78 MB; no licence is stated: research use, cite "
             "the paper. Mirror: http://www.stat.ucla.edu/~xianjie.chen/pascal_part_dataset/trainval.tar.gz"),
    "voc2010": Source(
        "voc2010", "VOCtrainval_03-May-2010.tar",
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
        note="PASCAL VOC2010 trainval images (about 1.3 GB; Flickr terms of use)."),
    "partimagenet": Source(
        "partimagenet", "PartImageNet_Seg.zip",
        "https://huggingface.co/datasets/turkeyju/PartImageNet/resolve/main/PartImageNet_Seg.zip",
        note="PartImageNet_Seg (about 3 GB), the authors' Hugging Face copy."),
    "partimagenet-ood": Source(
        "partimagenet-ood", "PartImageNet_OOD.zip",
        "https://huggingface.co/datasets/turkeyju/PartImageNet/resolve/main/PartImageNet_OOD.zip",
        note="PartImageNet_OOD, the original release (the authors' Hugging Face copy)."),
    "pascal-part-116": Source(
        "pascal-part-116", "PascalPart116.tar.gz", None,
        manual="PascalPart116 is on Google Drive (OV-PARTS release), which has no stable direct-download URL:\n"
               "  1. pip install gdown\n"
               "  2. gdown https://drive.google.com/uc?id=1QF0BglrcC0teKqx15vP8qJNakGgCWaEH -O PascalPart116.tar.gz\n"
               "     (or open https://github.com/OpenRobotLab/OV_PARTS#data-preparation and download it in a browser)\n"
               "  3. partbench data prepare pascal-part-116 --source PascalPart116.tar.gz"),
    "ade20k-part-234": Source(
        "ade20k-part-234", "ADE20KPart234.tar.gz", None,
        manual="ADE20KPart234 is on Google Drive (OV-PARTS release), which has no stable direct-download URL:\n"
               "  1. open https://github.com/OpenRobotLab/OV_PARTS#data-preparation and download the ADE20K-Part-234\n"
               "     archive in a browser (or with `gdown <its Drive id>`)\n"
               "  2. partbench data prepare ade20k-part-234 --source <the archive or its extracted folder>"),
}
ALIASES = {"partimagenet-to-pascal-part-116": "pascal-part-116"}


def get_source(name: str) -> Source:
    from partbench.errors import UnknownNameError

    name = ALIASES.get(name, name)
    if name not in SOURCES:
        raise UnknownNameError("dataset source", name, SOURCES)
    return SOURCES[name]


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

    from partbench.progress import progress_bar

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
