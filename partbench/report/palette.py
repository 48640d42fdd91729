"""One colour per part class of a suite, the same in every picture partbench draws of that suite.

Part phrases get well-separated hues (golden-angle steps; the same phrase on two objects, the same colour), and the
two sides of a mirrored pair share a hue: left is the darker shade, right the lighter one, so a side swap reads as
"right colour family, wrong shade" at a glance. Runs get their own qualitative colours (`RUN_COLOURS`), in the
order given.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

RGB = tuple[int, int, int]

RUN_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
               "#64b5cd")
IGNORE_RGB: RGB = (0, 0, 0)  # never drawn: ignored pixels show the image, dimmed


def run_colour(i: int) -> str:
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def _rgb(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(255 * r), round(255 * g), round(255 * b)


@dataclass(frozen=True)
class Palette:
    """`colours[k]` is class k's colour; `hex(k)` for HTML and matplotlib."""

    classes: tuple[str, ...]
    colours: tuple[RGB, ...]

    def hex(self, k: int) -> str:
        return "#%02x%02x%02x" % self.colours[k]

    def lut(self, ignore_label: int):
        """A (max(C, ignore) + 1, 3) uint8 look-up table from class id to colour."""
        import numpy as np

        table = np.zeros((max(len(self.colours), ignore_label) + 1, 3), dtype=np.uint8)
        table[: len(self.colours)] = self.colours
        return table


def suite_palette(suite) -> Palette:
    """The suite's colours, keyed by part phrase: `figure's head` and `robot's head` share a colour (as their
    names do), phrases take golden-angle steps around the hue circle in the order the suite lists them, and the two
    sides of a mirrored pair share a hue, left dark and right light."""
    from partbench.suites import part_of

    hues: dict[str, float] = {}
    colours = []
    for name in suite.classes:
        words = part_of(name).split()
        side = next((w for w in words if w in ("left", "right")), None)
        key = " ".join(w for w in words if w not in ("left", "right")) + (" (pair)" if side else "")
        hue = hues.setdefault(key, (0.61803398875 * len(hues) + 0.58) % 1.0)
        if side == "left":
            colours.append(_rgb(hue, 0.85, 0.55))
        elif side == "right":
            colours.append(_rgb(hue, 0.45, 0.98))
        else:
            colours.append(_rgb(hue, 0.7, 0.85))
    return Palette(tuple(suite.classes), tuple(colours))
