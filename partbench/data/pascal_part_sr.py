"""Pascal-Part SR, the recipe and its geometry: where a Pascal-Part image lands on the larger canvas a generator fills,
and the same map applied to its annotation.

The paper (PartConcepts, Sec. 3) says only that Pascal-Part was upsampled and outpainted with FLUX.2 "while preserving
the original annotations"; scales, outpaint extents and prompts are not given. `Recipe` holds our choices, every one
an option, and its hash is recorded beside every image made with it (docs/suites.md, "pascal-part-sr").

Geometry. The image is scaled by (sx, sy) = (sw / w, sh / h), sw = round(s * w), sh = round(s * h), and placed with
its top-left corner at (dx, dy) of a W x H canvas. Output pixel (u, v) inside the placed box comes from source pixel

    col = floor((u - dx + 0.5) / sx),   row = floor((v - dy + 0.5) / sy)

the pixel-centre convention PIL's resize uses for the image, so labels (nearest neighbour) and pixels share exactly
one map. It is computed in integers, `((2 (u - dx) + 1) * w) // (2 * sw)`, so no float rounding can move a boundary.
Scales are >= 1, so every source pixel reaches the output. Outside the box (the outpainted margin) there is no
annotation: label maps there get the caller's ignore value (255), and the boolean masks of the .mat format are 0
there, with the box stored in the same file (`sr.valid_box`) so a consumer can tell "not this object" from "never
annotated".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import string
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from partbench.data.pascal_part import PascalObject, read_annotation
from partbench.errors import PartbenchError

# Bump when the geometry or the prompt code changes what a recipe produces: it is part of the recipe hash, so images
# made by older code are redone on the next run.
GEOMETRY_VERSION = 1
DEFAULT_PROMPT = "a high-resolution, detailed photo of {objects}"
# VOC class keys as words a text encoder reads (the .mat files use these keys).
_WORDS = {"aeroplane": "airplane", "diningtable": "dining table", "table": "table", "pottedplant": "potted plant",
          "tvmonitor": "tv monitor", "motorbike": "motorbike"}


def _round(x: float) -> int:
    """Half up, not Python's half-to-even: 2.5 -> 3, so a margin never depends on the parity of its neighbour."""
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class Geometry:
    """Where one w x h source lands: a (sw x sh) scaled copy at (dx, dy) of a W x H canvas."""

    source_size: tuple[int, int]  # (w, h)
    canvas_size: tuple[int, int]  # (W, H)
    placement: tuple[int, int, int, int]  # (dx, dy, sw, sh)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The annotated region (x0, y0, x1, y1), end exclusive; everything else was outpainted."""
        dx, dy, sw, sh = self.placement
        return dx, dy, dx + sw, dy + sh

    def source_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols): the source row of each placed output row, the source column of each placed column."""
        (w, h), (_, _, sw, sh) = self.source_size, self.placement
        rows = ((2 * np.arange(sh, dtype=np.int64) + 1) * h) // (2 * sh)
        cols = ((2 * np.arange(sw, dtype=np.int64) + 1) * w) // (2 * sw)
        return rows, cols

    def transform(self, label: np.ndarray, fill: int | bool) -> np.ndarray:
        """A label map (or boolean mask) of the source's size, nearest neighbour under the image's map; `fill`
        outside the placed box."""
        (w, h), (W, H) = self.source_size, self.canvas_size
        if label.shape != (h, w):
            raise PartbenchError(f"label map is {label.shape[1]}x{label.shape[0]} but the image is {w}x{h} (WxH).")
        rows, cols = self.source_index()
        x0, y0, x1, y1 = self.box
        out = np.full((H, W), fill, dtype=label.dtype)
        out[y0:y1, x0:x1] = label.take(rows, axis=0).take(cols, axis=1)  # 2 gathers: faster than one 2-D index
        return out

    def mismatches(self, source: np.ndarray, output: np.ndarray, fill: int | bool) -> str | None:
        """None when `output` is exactly `source` under the map, else what differs (the check after writing).

        Every output pixel is checked: inside the box against the source pixel its centre maps back to, outside
        against `fill`."""
        (W, H) = self.canvas_size
        if output.shape != (H, W):
            return f"is {output.shape[1]}x{output.shape[0]}, the canvas is {W}x{H} (WxH)"
        rows, cols = self.source_index()
        x0, y0, x1, y1 = self.box
        inside = output[y0:y1, x0:x1]
        bad_inside = inside != np.asarray(source).take(rows, axis=0).take(cols, axis=1)
        # Counted without building a canvas-sized mask: this runs for every mask of every image.
        n_outside = np.count_nonzero(output != fill) - np.count_nonzero(inside != fill)
        if n_outside == 0 and not bad_inside.any():
            return None
        bad = output != fill
        bad[y0:y1, x0:x1] = bad_inside
        y, x = np.argwhere(bad)[0]
        where = "inside the placed image" if (x0 <= x < x1 and y0 <= y < y1) else "outside the placed image"
        return (f"{int(bad.sum())} pixel(s) differ from the source under the inverse map (first at x={x}, y={y}, "
                f"{where})")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a Pascal-Part SR image and its annotation, apart from the generator's own settings.

    short_side: the scaled image's short side in pixels (s = short_side / min(w, h), clamped to [1, max_scale]);
    scale: a fixed factor instead (>= 1; overrides short_side and max_scale);
    margins: outpainted margin per side (left, top, right, bottom) as a fraction of the scaled image's width (left,
    right) or height (top, bottom); the canvas is then rounded up to a multiple of `multiple` (FLUX.2: 16 pixels,
    VAE stride 8 times the 2x2 patch), the extra split between the two sides;
    prompt: a template with `{objects}` (the image's object classes as words: "person, dog and car");
    seed: the base seed; image k uses a seed drawn from (seed, image id), so a resumed or limited run makes the same
    image as a full one.
    """

    short_side: int = 1024
    scale: float | None = None
    max_scale: float = 4.0
    margins: tuple[float, float, float, float] = (0.125, 0.125, 0.125, 0.125)
    multiple: int = 16
    prompt: str = DEFAULT_PROMPT
    seed: int = 0

    def __post_init__(self):
        if self.short_side < 1:
            raise PartbenchError(f"Pascal-Part SR: short side must be positive, got {self.short_side}.")
        if self.scale is not None and not (1.0 <= self.scale <= 16.0):
            raise PartbenchError(f"Pascal-Part SR: scale must be in [1, 16] (this is upsampling), got {self.scale}.")
        if self.max_scale < 1.0:
            raise PartbenchError(f"Pascal-Part SR: max scale must be >= 1, got {self.max_scale}.")
        if len(self.margins) != 4 or not all(0.0 <= m <= 2.0 for m in self.margins):
            raise PartbenchError(f"Pascal-Part SR: margins are 4 fractions in [0, 2] (left, top, right, bottom), got "
                                 f"{self.margins}.")
        if self.multiple < 1:
            raise PartbenchError(f"Pascal-Part SR: multiple must be positive, got {self.multiple}.")
        if self.seed < 0:
            raise PartbenchError(f"Pascal-Part SR: seed must be >= 0, got {self.seed}.")
        fields = {f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None}
        if fields - {"objects"}:
            raise PartbenchError(f"Pascal-Part SR: the prompt template may use only {{objects}}, got "
                                 f"{sorted(fields - {'objects'})} in {self.prompt!r}.")

    def to_dict(self) -> dict:
        return asdict(self) | {"margins": list(self.margins), "geometry_version": GEOMETRY_VERSION}

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def geometry(self, width: int, height: int) -> Geometry:
        if width < 1 or height < 1:
            raise PartbenchError(f"Pascal-Part SR: image size {width}x{height} is empty.")
        s = self.scale if self.scale is not None else min(max(self.short_side / min(width, height), 1.0),
                                                          self.max_scale)
        sw, sh = max(width, _round(width * s)), max(height, _round(height * s))
        left, top, right, bottom = self.margins
        dx, canvas_w = self._axis(sw, _round(left * sw), _round(right * sw))
        dy, canvas_h = self._axis(sh, _round(top * sh), _round(bottom * sh))
        return Geometry((width, height), (canvas_w, canvas_h), (dx, dy, sw, sh))

    def _axis(self, size: int, before: int, after: int) -> tuple[int, int]:
        """(offset, canvas length) along one axis: margins, then rounded up to `multiple`, the extra split (the
        smaller half before)."""
        total = before + size + after
        rounded = -(-total // self.multiple) * self.multiple
        return before + (rounded - total) // 2, rounded

    def prompt_for(self, object_classes: list[str]) -> str:
        names = [_WORDS.get(c, c) for c in dict.fromkeys(object_classes)]
        objects = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names) or "a scene"
        return self.prompt.format(objects=objects)

    def image_seed(self, image_id: str) -> int:
        return int.from_bytes(hashlib.sha256(f"{self.seed}:{image_id}".encode()).digest()[:8], "little") % (2 ** 63)


def parse_margins(text: str) -> tuple[float, float, float, float]:
    """`0.125` (every side), `0.1,0.2` (left/right, top/bottom) or `l,t,r,b`, fractions of the scaled image."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise PartbenchError(f"--margin: expected 1, 2 or 4 comma-separated fractions, got {text!r}.") from None
    if len(values) == 1:
        return (values[0],) * 4
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    if len(values) == 4:
        return tuple(values)  # type: ignore[return-value]
    raise PartbenchError(f"--margin: expected 1, 2 or 4 comma-separated fractions, got {text!r}.")


# ---------------------------------------------------------------------------------------------------------------------
# The geometry applied to the files: the .mat written, and the check of what was written


_MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, written by partbench (Pascal-Part SR)".ljust(116)


def encode_mat(imname: str, objects: list[PascalObject], geo: Geometry, recipe_hash: str) -> bytes:
    """The official struct layout (anno.imname, anno.objects(k).class/class_ind/mask/parts(j).part_name/mask), masks
    transformed by `geo`, plus a variable `sr` the Pascal-Part reader does not read: the geometry, so a consumer can
    ignore the outpainted margin (`valid_box` = x0, y0, x1, y1, end exclusive)."""
    import scipy.io

    objs = np.zeros((1, len(objects)), dtype=[("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")])
    for k, o in enumerate(objects):
        parts = np.zeros((0, 0))
        if o.parts:
            parts = np.zeros((1, len(o.parts)), dtype=[("part_name", "O"), ("mask", "O")])
            for j, p in enumerate(o.parts):
                parts[0, j] = (p.name, geo.transform(p.mask, False).astype(np.uint8))
        objs[0, k] = (o.class_name, np.array([[o.class_ind]], dtype=np.uint8),
                      geo.transform(o.mask, False).astype(np.uint8), parts)
    anno = np.zeros((1, 1), dtype=[("imname", "O"), ("objects", "O")])
    anno[0, 0] = (imname, objs)
    sr = {"valid_box": np.array(geo.box, dtype=np.int32), "source_size": np.array(geo.source_size, dtype=np.int32),
          "canvas_size": np.array(geo.canvas_size, dtype=np.int32), "recipe": recipe_hash}
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"anno": anno, "sr": sr}, do_compression=True)
    # The 116-byte text header carries a "Created on" time: a fixed text instead, so the same input gives the same
    # bytes (MATLAB and scipy read only the version and byte-order fields after it).
    return _MAT_HEADER + buf.getvalue()[len(_MAT_HEADER):]


def check_outputs(image_path: Path, mat_path: Path, objects: list[PascalObject], geo: Geometry, source_image,
                  min_psnr: float) -> tuple[float | None, list[str]]:
    """(interior PSNR, problems) of the files as written, read back with the Pascal-Part reader's own parser."""
    from PIL import Image

    problems = []
    _, written = read_annotation(mat_path)
    shape = [(o.class_name, [p.name for p in o.parts]) for o in objects]
    if [(o.class_name, [p.name for p in o.parts]) for o in written] != shape:
        problems.append(f"{mat_path}: objects or parts differ from the source's")
    else:
        for k, (o, w) in enumerate(zip(objects, written), 1):
            pairs = [(f"object {k} ({o.class_name}) mask", o.mask, w.mask)]
            pairs += [(f"object {k} part {p.name!r}", p.mask, q.mask) for p, q in zip(o.parts, w.parts)]
            for what, before, after in pairs:
                diff = geo.mismatches(before, after, False)
                if diff:
                    problems.append(f"{mat_path}: {what} {diff}")
    with Image.open(image_path) as im:
        made = im.convert("RGB")
    if made.size != geo.canvas_size:
        problems.append(f"{image_path}: image is {made.size[0]}x{made.size[1]}, the canvas {geo.canvas_size[0]}x"
                        f"{geo.canvas_size[1]}")
        return None, problems
    psnr = interior_psnr(made, source_image, geo)
    if psnr < min_psnr:
        problems.append(f"{image_path}: the placed image scaled back down is {psnr:.1f} dB from the source (minimum "
                        f"{min_psnr:g}): the generator did not keep the image in its box")
    return psnr, problems


def interior_psnr(made, source, geo: Geometry) -> float:
    """PSNR (dB, capped at 99) of the canvas's placed box, Lanczos-resized back to the source size, vs the source."""
    from PIL import Image

    back = np.asarray(made.crop(geo.box).resize(source.size, Image.Resampling.LANCZOS), dtype=np.float64)
    mse = float(np.mean((back - np.asarray(source, dtype=np.float64)) ** 2))
    return 99.0 if mse == 0 else min(99.0, round(10 * np.log10(255.0 ** 2 / mse), 2))
