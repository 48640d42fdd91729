"""Reading label maps with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partbench.errors import DataNotFoundError, PartbenchError


def read_label_png(path: Path) -> np.ndarray:
    """A single-channel 8- or 16-bit PNG as an integer array (uint16 values are kept, as ADE's 65535 ignore needs)."""
    from PIL import Image

    if not Path(path).is_file():
        raise DataNotFoundError(f"{path}: file not found.")
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
