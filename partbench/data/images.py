"""Reading label maps with errors that name the file, and sharing each decoded map between the samples that read it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from partbench.errors import DataNotFoundError, PartbenchError
from partbench.store.run_dir import PNG_SIGNATURE

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def read_label_png(path: Path) -> np.ndarray:
    """A single-channel 8- or 16-bit PNG as an integer array (uint16 values are kept, as ADE's 65535 ignore needs)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: file not found.") from None
    except OSError as e:  # a folder, no permission, ...
        raise PartbenchError(f"{path}: cannot read PNG ({e.strerror or e}).") from None
    # pyspng holds the GIL while it decodes and Pillow does not: loader threads (`--workers`) decode in parallel
    # only with Pillow, so they use it.
    arr = _decode_gray8(data) if threading.current_thread() is threading.main_thread() else None
    return _decode_with_pil(path) if arr is None else arr


def _decode_gray8(data: bytes) -> np.ndarray | None:
    """An 8-bit grayscale PNG (what label maps almost always are) decoded by libspng, about twice as fast as
    Pillow's decoder and its conversion to an array; None for any other PNG, for a file libspng cannot decode (Pillow
    then says why) or where pyspng is not installed (it has no wheels for Linux on ARM or Intel Macs)."""
    # IHDR is the first chunk: bit depth at byte 24, colour type at 25 (0 = grayscale).
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR" or data[24] != 8 or data[25] != 0:
        return None
    try:
        import pyspng
    except ImportError:
        return None
    try:
        arr = pyspng.load(data, "L")
    except RuntimeError:
        return None
    return arr if arr.ndim == 2 else None


def _decode_with_pil(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                raise PartbenchError(f"{path}: a {im.format} file, not a PNG. Label maps must be lossless PNGs "
                                     f"(JPEG compression changes class ids at part boundaries).")
            if im.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
                raise PartbenchError(
                    f"{path}: a label map must be a single-channel 8- or 16-bit PNG, got mode {im.mode!r}."
                )
            arr = np.array(im)
    except PartbenchError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise PartbenchError(f"{path}: cannot read PNG ({e}).") from None
    if arr.ndim != 2:
        raise PartbenchError(f"{path}: expected a single-channel label map, got shape {arr.shape}.")
    return arr


def shared(arr: np.ndarray) -> np.ndarray:
    """`arr`, read-only: several samples hold it, so a consumer writing into it would change its neighbours' input."""
    arr.flags.writeable = False
    return arr


class _Entry(Generic[V]):
    __slots__ = ("lock", "value")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: V | None = None


class RecentDecodes(Generic[K, V]):
    """The last `keep` values decoded, each decoded once even when loader threads ask for it at the same time.

    Samples of one image are consecutive in every index, and loader threads run at most a few samples ahead, so a
    handful of entries lets an image's samples share one decode of its annotation maps or of an image-level
    prediction, while memory stays bounded whatever the split size. A failed decode is not kept: the next sample
    that asks decodes again and reports the same error for itself.
    """

    def __init__(self, decode: Callable[[K], V], keep: int = 4):
        self._decode = decode
        self._keep = keep
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def get(self, key: K) -> V:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                while len(self._entries) > self._keep:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
        # Per-entry lock: a thread asking for another file is not held up by this decode.
        with entry.lock:
            if entry.value is None:
                entry.value = self._decode(key)
            return entry.value
