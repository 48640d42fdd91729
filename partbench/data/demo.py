"""The `demo` suite's data: a small part-segmentation dataset drawn procedurally, needing no download.

Why it exists: a first run, the smoke tests and anyone debugging a method need a dataset that is always there, is
small, and still exercises what the real benchmarks do: textured backgrounds (so thresholding colour does not
segment objects), parts of varying colour (so colour alone does not name a part), left/right parts that are the
*object's own* left/right (as Pascal-Part annotates them), unseen objects that share part names with seen ones (as a
horse's do with a cow's), an object class without parts, several objects per image, occlusion, annotation gaps, and
image sizes that vary.

The files are written in exactly the OV-PARTS Pascal-Part-116 layout, so the real `ovparts-semantic` reader reads them:

    out_dir/
      images/{train,val}/<image_id>.jpg                        RGB JPEG, quality 95
      annotations_detectron2_part/{train,val}/<image_id>.png   uint8 'L': k = suite.classes[k], 255 = unlabelled
      annotations_detectron2_obj/{train,val}/<image_id>.png    uint8 'L': k = suite.object_classes[k], 255 = none
      annotations_detectron2_part/{train,val}_obj_label_count.json   {"<image_id>.png": [object ids present]}
      meta/{train,val}.json       generator's own record: per image, each object's class, facing, bbox (debugging,
                                  tests; no reader needs it)
      manifest.json               written last: generator version, seed, counts (see `demo_is_complete`)

The class lists come from `partbench/suites/demo.yaml` (one source of truth); every part a drawing names must be
listed there, or generation fails.

Determinism: each image has its own RNG, seeded from (seed, split, index), so a file depends on nothing but those three
(and the generator version): the same seed gives byte-identical files, and image `demo_val_0003` is the same whatever
`n_val` is. (Byte-identical holds for one numpy and Pillow version: JPEG/PNG encoders and float rounding may differ
between versions, which is why the manifest, not a checksum list, marks a finished generation.)
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from partbench.errors import PartbenchError
from partbench.store.atomic import atomic_write_bytes, atomic_write_json

# Bump when the drawings, the RNG use or the layout change: `demo_is_complete` then reports old data as stale.
GENERATOR_VERSION = 2  # 2: 240 train / 120 val images by default (was 48 / 24: too few to train a learned method,
# and 36 val samples left the left/right confusion rate too noisy to compare methods)
SUITE_NAME = "demo"
SPLITS = ("train", "val")
IGNORE = 255
JPEG_QUALITY = 95

# Image sizes vary a little so that readers, methods and metrics meet more than one size.
WIDTHS = (160, 176, 192)
HEIGHTS = (120, 128, 144)

RGB = tuple[int, int, int]
Point = tuple[float, float]

# Object classes with parts, and how each faces. "camera"/"away" for front/back views (figures, robots, vehicles);
# "left"/"right" (the image direction the head points) for side-view animals.
FACINGS = {
    "figure": ("camera", "away"),
    "robot": ("camera", "away"),
    "cow": ("left", "right"),
    "horse": ("left", "right"),
    "car": ("camera", "away"),
    "bus": ("camera", "away"),
    "ball": (None,),
}
PARTLESS = "ball"


# ---------------------------------------------------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _shade(rgb: RGB, factor: float) -> RGB:
    return tuple(int(min(max(round(c * factor), 0), 255)) for c in rgb)  # type: ignore[return-value]


def _jitter(rgb: RGB, rng: np.random.Generator, amount: float = 0.12) -> RGB:
    """The same colour a little lighter or darker: parts of one object differ slightly, as real ones do."""
    return _shade(rgb, 1.0 + rng.uniform(-amount, amount))


def _random_colour(rng: np.random.Generator, s: tuple[float, float] = (0.3, 0.85), v=(0.35, 0.95)) -> RGB:
    return _hsv(rng.random(), rng.uniform(*s), rng.uniform(*v))


SKIN_TONES = ((241, 204, 170), (224, 172, 130), (198, 134, 96), (141, 85, 54), (95, 60, 40))


# ---------------------------------------------------------------------------------------------------------------------
# Shapes and the pen that collects them
# ---------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One filled shape of an object drawing, in pixels relative to the object's origin.

    `part` is the part phrase the shape's pixels get (None: an object pixel with no part label, like an annotation
    gap); a `decor` shape only colours pixels (eyes, spots, grilles) and keeps the label already there.
    """

    kind: str  # "polygon" | "ellipse" | "line"
    points: tuple[Point, ...]  # polygon/line vertices; ellipse: two bbox corners
    fill: RGB
    part: str | None = None
    decor: bool = False
    width: int = 1  # lines only

    def extent(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        pad = self.width / 2 if self.kind == "line" else 0.0
        return min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad

    def shifted(self, dx: float, dy: float) -> Shape:
        return Shape(self.kind, tuple((x + dx, y + dy) for x, y in self.points), self.fill, self.part, self.decor,
                     self.width)


class Pen:
    """Collects the shapes of one object, mapping object-local units to pixels.

    Drawings are written in units of the object's size (`scale` pixels per unit), u to the image right and v down.
    `mirror` flips u: a side-view animal is drawn once, facing right, and mirrored to face left.
    """

    def __init__(self, scale: float, mirror: bool = False):
        self.scale = scale
        self.sign = -1.0 if mirror else 1.0
        self.shapes: list[Shape] = []

    def _pt(self, u: float, v: float) -> Point:
        return self.sign * u * self.scale, v * self.scale

    def polygon(self, part: str | None, pts: list[Point], fill: RGB, decor: bool = False) -> None:
        self.shapes.append(Shape("polygon", tuple(self._pt(u, v) for u, v in pts), fill, part, decor))

    def rect(self, part: str | None, u0: float, v0: float, u1: float, v1: float, fill: RGB, decor=False) -> None:
        self.polygon(part, [(u0, v0), (u1, v0), (u1, v1), (u0, v1)], fill, decor)

    def ellipse(self, part: str | None, cu: float, cv: float, ru: float, rv: float, fill: RGB, decor=False) -> None:
        (x0, y0), (x1, y1) = self._pt(cu - ru, cv - rv), self._pt(cu + ru, cv + rv)
        corners = ((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)))
        self.shapes.append(Shape("ellipse", corners, fill, part, decor))

    def bar(self, part: str | None, p0: Point, p1: Point, width: float, fill: RGB, decor=False) -> None:
        """A straight limb of the given width from p0 to p1 (square ends)."""
        (u0, v0), (u1, v1) = p0, p1
        length = math.hypot(u1 - u0, v1 - v0) or 1e-6
        nu, nv = -(v1 - v0) / length * width / 2, (u1 - u0) / length * width / 2
        self.polygon(part, [(u0 + nu, v0 + nv), (u1 + nu, v1 + nv), (u1 - nu, v1 - nv), (u0 - nu, v0 - nv)], fill,
                     decor)

    def capsule(self, part: str | None, p0: Point, p1: Point, width: float, fill: RGB) -> None:
        """A limb with rounded ends, so that joints between consecutive limbs leave no notch."""
        self.bar(part, p0, p1, width, fill)
        for u, v in (p0, p1):
            self.ellipse(part, u, v, width / 2, width / 2, fill)

    def line(self, pts: list[Point], width: float, fill: RGB) -> None:
        """A decoration stroke (mouths, grille bars, vents): colour only."""
        w = max(1, int(round(width * self.scale)))
        self.shapes.append(Shape("line", tuple(self._pt(u, v) for u, v in pts), fill, None, True, w))


def _limb_end(start: Point, angle_deg: float, length: float, outward: int) -> Point:
    """End of a limb hanging from `start`, `angle_deg` from straight down, towards image side `outward` (+1 = right)."""
    a = math.radians(angle_deg)
    return start[0] + outward * length * math.sin(a), start[1] + length * math.cos(a)


def _own_side(facing: str, image_side: int) -> str:
    """The object's own side ("left"/"right") that appears on image side `image_side` (+1 = image right).

    An object facing the camera has its own left on the image right (Pascal-Part's convention); one facing
    away has it on the image left.
    """
    if facing == "camera":
        return "left" if image_side > 0 else "right"
    return "right" if image_side > 0 else "left"


# ---------------------------------------------------------------------------------------------------------------------
# Drawings, one per object class. Each draws in its own units (see each docstring) and names parts by phrase.
# ---------------------------------------------------------------------------------------------------------------------


def _draw_humanoid(pen: Pen, rng: np.random.Generator, facing: str, robot: bool) -> None:
    """A standing figure (or a boxy robot), front or back view; unit = body height, v=0 at the top of the head.

    The only cue to the facing is the face (eyes and mouth, or the robot's eye lights) drawn when it faces the camera;
    from behind, hair (or a back panel) shows instead. The arm poses are random and independent per side, so the
    two sides are not mirror images.
    """
    front = facing == "camera"
    j = lambda: rng.uniform(0.92, 1.08)  # noqa: E731 - small proportion jitter
    if robot:
        metal = _random_colour(rng, s=(0.08, 0.4), v=(0.5, 0.85))
        shirt = trousers = metal
        skin = _shade(metal, 0.85)
        shoes = _shade(metal, 0.55)
    else:
        shirt = _random_colour(rng)
        trousers = _random_colour(rng, v=(0.25, 0.7))
        skin = _jitter(SKIN_TONES[rng.integers(len(SKIN_TONES))], rng, 0.06)
        shoes = _random_colour(rng, s=(0.0, 0.5), v=(0.1, 0.35))
    # Long sleeves make the lower arm the shirt's colour, short ones skin-coloured: colour is not the lower arm's cue.
    sleeve = shirt if (robot or rng.random() < 0.5) else skin

    head_r, shoulder_w, hip_w = 0.075 * j(), 0.12 * j(), 0.055 * j()
    top_torso, waist = 0.2, 0.55 * j()
    shoulders = {s: (s * shoulder_w, top_torso + 0.03) for s in (-1, 1)}
    hips = {s: (s * hip_w, waist - 0.02) for s in (-1, 1)}

    # Legs and feet first: the torso covers the top of the legs.
    for s in (-1, 1):
        side = _own_side(facing, s)
        ankle = _limb_end(hips[s], rng.uniform(0, 14), 0.93 - waist, s)
        limb = pen.bar if robot else pen.capsule
        limb(f"{side} leg", hips[s], ankle, 0.075 if not robot else 0.08, _jitter(trousers, rng))
        foot_colour = _jitter(shoes, rng)
        if robot:
            pen.rect(f"{side} foot", ankle[0] - 0.05 + s * 0.015, ankle[1], ankle[0] + 0.05 + s * 0.015,
                     ankle[1] + 0.045, foot_colour)
        else:
            pen.ellipse(f"{side} foot", ankle[0] + s * 0.025, ankle[1] + 0.015, 0.048, 0.024, foot_colour)
        if robot:  # knee joint
            knee = ((hips[s][0] + ankle[0]) / 2, (hips[s][1] + ankle[1]) / 2)
            pen.ellipse(None, *knee, 0.03, 0.03, _shade(metal, 0.6), decor=True)

    # Torso: a trapezoid, shoulders wider than the waist (a box for the robot).
    torso_colour = _jitter(shirt, rng)
    if robot:
        pen.rect("torso", -shoulder_w, top_torso, shoulder_w, waist, torso_colour)
        if front:  # chest panel with indicator lights
            pen.rect(None, -0.06, top_torso + 0.07, 0.06, top_torso + 0.17, _shade(metal, 0.7), decor=True)
            for k in range(3):
                pen.ellipse(None, -0.035 + k * 0.035, top_torso + 0.12, 0.012, 0.012,
                            _random_colour(rng, s=(0.7, 1.0), v=(0.8, 1.0)), decor=True)
        else:  # back: vents
            for k in range(4):
                v = top_torso + 0.08 + k * 0.04
                pen.line([(-0.07, v), (0.07, v)], 0.012, _shade(metal, 0.5))
    else:
        pen.polygon("torso", [(-shoulder_w, top_torso), (shoulder_w, top_torso), (hip_w + 0.04, waist),
                              (-hip_w - 0.04, waist)], torso_colour)
        pen.rect(None, -hip_w - 0.04, waist - 0.03, hip_w + 0.04, waist, _shade(trousers, 0.7), decor=True)  # belt

    # Neck: an object pixel that no part class names (like annotation gaps between Pascal parts).
    pen.rect(None, -0.03, top_torso - 0.035, 0.03, top_torso + 0.005, _shade(skin, 0.9))

    _draw_head(pen, rng, front, robot, head_r, skin)

    # Arms after the torso, so a bent arm crosses in front of it.
    for s in (-1, 1):
        side = _own_side(facing, s)
        upper_angle = rng.uniform(8, 65)
        elbow = _limb_end(shoulders[s], upper_angle, 0.17, s)
        # The forearm bends either way, at times across the body (hands on hips), never up past horizontal.
        wrist = _limb_end(elbow, float(np.clip(upper_angle + rng.uniform(-50, 50), -35, 110)), 0.15, s)
        limb = pen.bar if robot else pen.capsule
        limb(f"{side} upper arm", shoulders[s], elbow, 0.06, _jitter(shirt, rng))
        limb(f"{side} lower arm", elbow, wrist, 0.05, _jitter(sleeve, rng))
        if robot:
            pen.ellipse(None, *elbow, 0.028, 0.028, _shade(metal, 0.6), decor=True)
            pen.rect(f"{side} hand", wrist[0] - 0.035, wrist[1] - 0.01, wrist[0] + 0.035, wrist[1] + 0.05,
                     _jitter(skin, rng))
        else:
            pen.ellipse(f"{side} hand", *wrist, 0.036, 0.036, _jitter(skin, rng, 0.05))


def _draw_head(pen: Pen, rng: np.random.Generator, front: bool, robot: bool, r: float, skin: RGB) -> None:
    cv = 0.1
    if robot:
        pen.rect("head", -0.01, 0.0, 0.01, cv - r, skin)  # antenna: part of the head
        pen.ellipse("head", 0, 0.0, 0.02, 0.02, _random_colour(rng, s=(0.7, 1), v=(0.8, 1)))
        pen.rect("head", -r, cv - r * 0.9, r, cv + r, _jitter(skin, rng))
        if front:  # eye lights and a mouth grille
            eye = _random_colour(rng, s=(0.6, 1.0), v=(0.9, 1.0))
            for s in (-1, 1):
                pen.rect(None, s * 0.045 - 0.018, cv - 0.025, s * 0.045 + 0.018, cv + 0.005, eye, decor=True)
            pen.rect(None, -0.04, cv + 0.035, 0.04, cv + 0.055, _shade(skin, 0.45), decor=True)
        else:
            pen.rect(None, -r * 0.7, cv - r * 0.6, r * 0.7, cv + r * 0.7, _shade(skin, 0.75), decor=True)
            for k in (-1, 0, 1):
                pen.ellipse(None, k * 0.03, cv + 0.04, 0.008, 0.008, _shade(skin, 0.4), decor=True)
        return
    pen.ellipse("head", 0, cv, r, r * 1.15, skin)
    hair = _random_colour(rng, s=(0.2, 0.8), v=(0.08, 0.55))
    if front:  # hair on top, then eyes and a mouth: the cue that the figure faces the camera
        pen.ellipse(None, 0, cv - r * 0.8, r * 1.1, r * 0.55, hair, decor=True)
        for s in (-1, 1):
            pen.ellipse(None, s * 0.028, cv - 0.005, 0.011, 0.013, (30, 25, 25), decor=True)
        pen.ellipse(None, 0, cv + 0.045, 0.025, 0.011, (150, 40, 45), decor=True)
    else:  # the back of the head: hair over almost all of it
        pen.ellipse(None, 0, cv - r * 0.15, r * 1.1, r * 1.1, hair, decor=True)


def _draw_quadruped(pen: Pen, rng: np.random.Generator, facing: str, horse: bool) -> None:
    """A cow or a horse in side view, drawn facing image right (the pen mirrors it for "left"); unit = body length.

    An animal facing image right shows the camera its right flank (its own left, up x forward, points away), so its
    near-side legs are its right legs; facing left, its left legs. Near legs are drawn over the body and the far legs,
    far legs are thinner, darker and a little higher (further away): both stay visible and the side is inferable
    from the head's direction plus which legs occlude which.
    """
    near = "right" if facing == "right" else "left"
    far = "left" if near == "right" else "right"
    if horse:
        coat = _random_colour(rng, s=(0.25, 0.75), v=(0.3, 0.8))
        hair = _shade(coat, 0.45)
        body_c, body_r = (0.0, 0.40), (0.34, 0.13)
        leg_top, leg_bottom, leg_w = 0.42, 0.92, 0.055
    else:
        coat = _random_colour(rng, s=(0.05, 0.55), v=(0.45, 0.95))
        hair = _shade(coat, 0.6)
        body_c, body_r = (0.0, 0.42), (0.36, 0.17)
        leg_top, leg_bottom, leg_w = 0.45, 0.86, 0.075
    hoof = _shade(coat, 0.3)

    def leg(name: str, u: float, far_side: bool) -> None:
        dv = -0.04 if far_side else 0.0
        bottom = (u + rng.uniform(-0.03, 0.03), leg_bottom + dv)
        colour = _shade(coat, 0.62) if far_side else _jitter(coat, rng, 0.08)
        pen.bar(name, (u, leg_top + dv), bottom, leg_w * (0.85 if far_side else 1.0), colour)
        pen.rect(None, bottom[0] - leg_w / 2, bottom[1] - 0.05, bottom[0] + leg_w / 2, bottom[1], hoof, decor=True)

    # Far legs sit a little towards the head end of the body (a slight three-quarter view), so they peek out.
    leg(f"{far} front leg", 0.29, True)
    leg(f"{far} back leg", -0.19, True)

    # Tail before the body, so the body covers its root.
    if horse:
        pen.polygon("tail", [(-0.30, 0.31), (-0.35, 0.30), (-0.44, 0.55), (-0.42, 0.74), (-0.36, 0.72),
                             (-0.34, 0.45)], _jitter(hair, rng))
    else:
        pen.bar("tail", (-0.34, 0.33), (-0.40, 0.68), 0.025, _jitter(coat, rng))
        pen.ellipse("tail", -0.40, 0.70, 0.025, 0.045, hair)

    pen.ellipse("torso", *body_c, *body_r, _jitter(coat, rng, 0.06))
    if not horse:  # patches: colour varies inside a part
        patch = _shade(coat, 0.35) if rng.random() < 0.5 else _shade(coat, 1.6)
        for _ in range(rng.integers(2, 6)):
            pen.ellipse(None, rng.uniform(-0.3, 0.25), body_c[1] + rng.uniform(-0.1, 0.1), rng.uniform(0.04, 0.09),
                        rng.uniform(0.03, 0.07), patch, decor=True)

    neck_c = _jitter(coat, rng)
    head_c = _jitter(coat, rng)
    if horse:
        pen.polygon("neck", [(0.20, 0.33), (0.31, 0.47), (0.50, 0.14), (0.41, 0.05)], neck_c)
        pen.polygon(None, [(0.20, 0.31), (0.24, 0.30), (0.43, 0.05), (0.40, 0.04)], hair, decor=True)  # mane
        pen.polygon("head", [(0.40, 0.05), (0.45, -0.09), (0.48, 0.0), (0.52, 0.02), (0.66, 0.17), (0.62, 0.24),
                             (0.44, 0.15)], head_c)
        pen.ellipse(None, 0.63, 0.20, 0.035, 0.04, _shade(coat, 0.55), decor=True)  # muzzle
        pen.ellipse(None, 0.50, 0.06, 0.013, 0.013, (20, 15, 15), decor=True)  # eye
    else:
        pen.polygon("neck", [(0.24, 0.28), (0.28, 0.52), (0.47, 0.44), (0.45, 0.26)], neck_c)
        pen.ellipse("head", 0.44, 0.25, 0.05, 0.025, _shade(head_c, 0.9))  # ear
        pen.polygon("head", [(0.44, 0.24), (0.55, 0.22), (0.63, 0.38), (0.60, 0.46), (0.50, 0.46), (0.45, 0.36)],
                    head_c)
        pen.ellipse(None, 0.59, 0.42, 0.045, 0.04, _shade(_hsv(0.97, 0.4, 0.9), rng.uniform(0.8, 1.0)), decor=True)
        pen.ellipse(None, 0.53, 0.30, 0.013, 0.013, (20, 15, 15), decor=True)  # eye
        pen.polygon("horn", [(0.48, 0.24), (0.50, 0.13), (0.53, 0.23)], _hsv(0.12, 0.2, rng.uniform(0.8, 0.95)))

    # Near legs last: they cover the body's underside and the far legs.
    leg(f"{near} front leg", 0.23, False)
    leg(f"{near} back leg", -0.25, False)


def _draw_vehicle(pen: Pen, rng: np.random.Generator, facing: str, bus: bool) -> None:
    """A car or a bus seen from the front ("camera": headlights, grille) or the back ("away": red tail lights, rear
    window); unit = body width. The lights tell which end is seen, and with it which side is the vehicle's own left
    (on the image right when it faces the camera).
    """
    front = facing == "camera"
    paint = _random_colour(rng, s=(0.3, 0.9), v=(0.4, 0.95))
    glass = _hsv(rng.uniform(0.5, 0.65), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.45))
    tyre = _hsv(0, 0, rng.uniform(0.08, 0.18))
    plate_colour = (235, 235, 225) if rng.random() < 0.7 else (240, 200, 40)
    height = 1.14 if bus else 0.76  # bottom of the body
    wheel_top, wheel_bottom = height - (0.1 if not bus else 0.08), height + (0.1 if not bus else 0.1)

    for s in (-1, 1):  # wheels first: the body covers their tops
        side = _own_side(facing, s)
        inner, outer = (0.27, 0.43) if bus else (0.30, 0.44)
        pen.rect(f"{side} wheel", s * inner, wheel_top, s * outer, wheel_bottom, _jitter(tyre, rng, 0.2))

    body = _jitter(paint, rng, 0.05)
    if bus:
        pen.polygon("body", [(-0.47, 0.0), (0.47, 0.0), (0.5, 0.04), (0.5, height), (-0.5, height), (-0.5, 0.04)],
                    body)
        window = (-0.44, 0.16, 0.44, 0.6) if front else (-0.4, 0.1, 0.4, 0.38)
        pen.rect("window", *window, glass)
        if front:
            pen.line([(0.0, 0.16), (0.0, 0.6)], 0.02, _shade(paint, 0.5))  # split windscreen
            pen.rect(None, -0.34, 0.04, 0.34, 0.12, (25, 25, 25), decor=True)  # destination sign
            pen.rect(None, -0.25, 0.06, 0.25, 0.10, (250, 170, 30), decor=True)
        else:
            for k in range(5):  # engine grille
                v = 0.55 + k * 0.06
                pen.line([(-0.28, v), (0.28, v)], 0.02, _shade(paint, 0.45))
        mirror_u, mirror_v = (0.5, 0.64), (0.2, 0.34)
    else:
        pen.polygon("body", [(-0.38, 0.36), (-0.3, 0.06), (0.3, 0.06), (0.38, 0.36)], body)  # cabin
        pen.polygon("body", [(-0.5, 0.42), (-0.44, 0.36), (0.44, 0.36), (0.5, 0.42), (0.5, height), (-0.5, height)],
                    body)
        window = [(-0.33, 0.34), (-0.26, 0.1), (0.26, 0.1), (0.33, 0.34)]
        if not front:
            window = [(-0.3, 0.33), (-0.25, 0.13), (0.25, 0.13), (0.3, 0.33)]
        pen.polygon("window", window, glass)
        if front:
            pen.rect(None, -0.2, 0.44, 0.2, 0.55, (30, 30, 32), decor=True)  # grille
            for k in range(3):
                pen.line([(-0.18, 0.465 + k * 0.03), (0.18, 0.465 + k * 0.03)], 0.012, (90, 90, 95))
        else:
            pen.line([(-0.42, 0.4), (0.42, 0.4)], 0.012, _shade(paint, 0.6))  # boot lid
        mirror_u, mirror_v = (0.38, 0.49), (0.25, 0.33)
    pen.rect(None, -0.5, height - 0.06, 0.5, height, _shade(paint, 0.55), decor=True)  # bumper

    for s in (-1, 1):
        side = _own_side(facing, s)
        u0, u1 = mirror_u
        if bus:  # mirror on an arm reaching out from the top corner; the arm is part of the mirror
            pen.polygon(f"{side} mirror", [(s * 0.49, 0.08), (s * (u1 - 0.01), 0.1), (s * (u1 - 0.01), 0.2),
                                           (s * (u1 - 0.03), 0.2), (s * (u1 - 0.03), 0.12), (s * 0.49, 0.12)],
                        (40, 40, 40))
        pen.rect(f"{side} mirror", s * u0, mirror_v[0], s * u1, mirror_v[1], _jitter(paint, rng))
        lamp_v = (0.9 if bus else 0.47)
        if front:
            lamp = _hsv(0.14, rng.uniform(0.0, 0.3), 1.0)
            pen.ellipse(f"{side} headlight", s * 0.35, lamp_v, 0.085, 0.045 if not bus else 0.035, lamp)
        else:
            red = _hsv(rng.uniform(-0.02, 0.02), rng.uniform(0.75, 1.0), rng.uniform(0.65, 0.95))
            if bus:
                pen.rect(f"{side} tail light", s * 0.37, 0.7, s * 0.45, 0.95, red)
            else:
                pen.rect(f"{side} tail light", s * 0.3, 0.43, s * 0.46, 0.52, red)
    plate_v = (0.95, 1.02) if bus else ((0.6, 0.68) if front else (0.56, 0.64))
    pen.rect("license plate", -0.1, plate_v[0], 0.1, plate_v[1], plate_colour)
    pen.line([(-0.07, sum(plate_v) / 2), (0.07, sum(plate_v) / 2)], 0.012, (40, 40, 40))


def _draw_ball(pen: Pen, rng: np.random.Generator) -> None:
    """A beach ball; unit = diameter. Its pixels are object pixels with no part class (like Pascal's boat)."""
    pen.ellipse(None, 0, 0, 0.5, 0.5, _random_colour(rng, s=(0.6, 1.0), v=(0.7, 1.0)))
    start, n = rng.uniform(0, 2 * math.pi), 3
    for k in range(n):  # alternate wedges in a second colour
        a0 = start + k * 2 * math.pi / n
        arc = [(0.6 * math.cos(a0 + t * math.pi / n / 6), 0.6 * math.sin(a0 + t * math.pi / n / 6)) for t in range(7)]
        pen.polygon(None, [(0.0, 0.0), *arc], _random_colour(rng, s=(0.6, 1.0), v=(0.7, 1.0)), decor=True)
    pen.ellipse(None, -0.15, -0.18, 0.09, 0.07, (250, 250, 250), decor=True)  # highlight


# Object size ranges as a fraction of the image: (unit length relative to image height or width, which).
SIZES = {
    "figure": ((0.5, 0.85), "h"),
    "robot": ((0.5, 0.85), "h"),
    "cow": ((0.3, 0.48), "w"),
    "horse": ((0.32, 0.5), "w"),
    "car": ((0.28, 0.45), "w"),
    "bus": ((0.24, 0.34), "w"),
    "ball": ((0.1, 0.18), "h"),
}


def draw_object(cls: str, facing: str | None, scale: float, rng: np.random.Generator) -> list[Shape]:
    """The shapes of one object of class `cls`, `scale` pixels per drawing unit."""
    pen = Pen(scale, mirror=(facing == "left"))
    if cls in ("figure", "robot"):
        _draw_humanoid(pen, rng, facing, robot=(cls == "robot"))
    elif cls in ("cow", "horse"):
        _draw_quadruped(pen, rng, facing, horse=(cls == "horse"))
    elif cls in ("car", "bus"):
        _draw_vehicle(pen, rng, facing, bus=(cls == "bus"))
    elif cls == PARTLESS:
        _draw_ball(pen, rng)
    else:
        raise PartbenchError(f"demo generator: no drawing for object class {cls!r}.")
    return pen.shapes


# ---------------------------------------------------------------------------------------------------------------------
# Rasterising one object into a layer
# ---------------------------------------------------------------------------------------------------------------------

_NO_PART = 254  # label-canvas value of object pixels without a part class (0 = not the object)


@dataclass
class ObjectLayer:
    """One rendered object, cropped to its silhouette: colours, part ids (255 = none) and its mask."""

    cls: str
    facing: str | None
    rgb: np.ndarray  # h x w x 3 uint8
    part: np.ndarray  # h x w uint8, suite class ids, 255 = unlabelled or outside
    mask: np.ndarray  # h x w bool, the silhouette


@dataclass
class DemoIds:
    """The suite's class and object ids, as the generator needs them."""

    class_ids: dict[str, int]  # "<object>'s <part>" -> part id
    object_ids: dict[str, int]  # object -> object id
    part_classes: tuple[str, ...]  # objects that have part classes, in suite order

    @classmethod
    def from_suite(cls, suite) -> DemoIds:
        # Both directions fail loudly: a drawn object the YAML lacks, or a YAML object with parts nothing draws.
        missing = [o for o in FACINGS if o not in suite.object_classes]
        undrawn = [o for o in suite.object_classes if o not in FACINGS]
        if missing or undrawn:
            raise PartbenchError(
                f"{suite.source_file}: object_classes and the demo generator disagree (generator draws {missing} that "
                f"the YAML lacks; the YAML lists {undrawn} that nothing draws)."
            )
        return cls(
            class_ids={c: i for i, c in enumerate(suite.classes)},
            object_ids={o: i for i, o in enumerate(suite.object_classes)},
            part_classes=tuple(o for o in suite.object_classes if suite.part_ids_of(o)),
        )

    def part_id(self, obj: str, part: str) -> int:
        name = f"{obj}'s {part}"
        if name not in self.class_ids:
            raise PartbenchError(
                f"demo generator draws {name!r}, which partbench/suites/demo.yaml does not list; add it there (and "
                "bump the suite version) or fix the drawing."
            )
        return self.class_ids[name]


def rasterise(cls: str, facing: str | None, shapes: list[Shape], space: DemoIds) -> ObjectLayer:
    """Draw the shapes into a label canvas and a colour canvas with the same coordinates (so they agree pixel for
    pixel), cropped to the silhouette."""
    x0 = min(s.extent()[0] for s in shapes)
    y0 = min(s.extent()[1] for s in shapes)
    x1 = max(s.extent()[2] for s in shapes)
    y1 = max(s.extent()[3] for s in shapes)
    size = (int(math.ceil(x1 - x0)) + 5, int(math.ceil(y1 - y0)) + 5)
    labels, colours = Image.new("L", size, 0), Image.new("RGB", size, (0, 0, 0))
    draw_l, draw_c = ImageDraw.Draw(labels), ImageDraw.Draw(colours)
    for shape in shapes:
        shape = shape.shifted(2 - x0, 2 - y0)
        value = _NO_PART if shape.part is None else 1 + space.part_id(cls, shape.part)
        targets = [(draw_c, shape.fill)] + ([] if shape.decor else [(draw_l, value)])
        for draw, fill in targets:
            if shape.kind == "polygon":
                draw.polygon(list(shape.points), fill=fill)
            elif shape.kind == "ellipse":
                draw.ellipse([*shape.points[0], *shape.points[1]], fill=fill)
            else:
                draw.line(list(shape.points), fill=fill, width=shape.width)
    lab = np.asarray(labels)
    mask = lab > 0
    ys, xs = np.nonzero(mask)
    crop = np.s_[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    part = np.where((lab == _NO_PART) | ~mask, IGNORE, lab.astype(np.int16) - 1).astype(np.uint8)
    return ObjectLayer(cls, facing, np.asarray(colours)[crop].copy(), part[crop].copy(), mask[crop].copy())


def _texture_object(layer: ObjectLayer, rng: np.random.Generator) -> None:
    """Light the flat colours: a gradient across the object, soft blotches and grain, so no part is one colour."""
    h, w = layer.mask.shape
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / max(w, 1) - 0.5) * math.cos(a) + (yy / max(h, 1) - 0.5) * math.sin(a)
    light = 1.0 + rng.uniform(0.15, 0.35) * ramp + 0.12 * (_fbm(rng, h, w, (8, 4)) - 0.5)
    rgb = layer.rgb.astype(np.float32) * light[..., None] + rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    layer.rgb = np.clip(rgb, 0, 255).astype(np.uint8)


def _annotation_gaps(layer: ObjectLayer, rng: np.random.Generator) -> None:
    """On some objects, leave the 1-pixel seams between different parts unlabelled, as real annotators do."""
    if rng.random() >= 0.4:
        return
    p = layer.part
    seam = np.zeros_like(layer.mask)
    seam[:, :-1] |= (p[:, :-1] != p[:, 1:]) & layer.mask[:, :-1] & layer.mask[:, 1:]
    seam[:-1, :] |= (p[:-1, :] != p[1:, :]) & layer.mask[:-1, :] & layer.mask[1:, :]
    layer.part = np.where(seam, IGNORE, p).astype(np.uint8)


def render_object(
    cls: str, facing: str | None, scale: float, rng: np.random.Generator, space: DemoIds
) -> ObjectLayer:
    """Draw, rasterise and texture one object; the result is placed into an image by `make_image`."""
    layer = rasterise(cls, facing, draw_object(cls, facing, scale, rng), space)
    _texture_object(layer, rng)
    _annotation_gaps(layer, rng)
    return layer


# ---------------------------------------------------------------------------------------------------------------------
# Backgrounds
# ---------------------------------------------------------------------------------------------------------------------


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: a coarse random grid, bilinearly upsampled."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    return np.asarray(grid.resize((gw * cell, gh * cell), Image.BILINEAR))[:h, :w]


def _fbm(rng: np.random.Generator, h: int, w: int, cells=(32, 16, 8)) -> np.ndarray:
    """Several octaves of value noise, in [0, 1]."""
    total = sum(_noise(rng, h, w, c) / (k + 1) for k, c in enumerate(cells))
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / (hi - lo + 1e-6)


def _mix(c1: RGB, c2: RGB, t: np.ndarray) -> np.ndarray:
    a, b = np.array(c1, np.float32), np.array(c2, np.float32)
    return a + (b - a) * t[..., None]


def make_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured background (noise, stripes, gradient, tiles or a horizon), with grain; HxWx3 uint8.

    Its colours are drawn from the same ranges as objects', so a method cannot find objects by colour.
    """
    c1 = _random_colour(rng, s=(0.1, 0.8), v=(0.25, 0.95))
    c2 = _random_colour(rng, s=(0.1, 0.8), v=(0.25, 0.95))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = ("noise", "stripes", "gradient", "tiles", "horizon")[rng.integers(5)]
    if kind == "noise":
        img = _mix(c1, c2, _fbm(rng, h, w))
    elif kind == "stripes":
        a, period = rng.uniform(0, math.pi), rng.uniform(6, 20)
        wave = np.sin(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / period + rng.uniform(0, 6.3))
        img = _mix(c1, c2, 0.5 + 0.5 * np.tanh(3 * wave)) * (0.85 + 0.3 * _fbm(rng, h, w))[..., None]
    elif kind == "gradient":
        a = rng.uniform(0, 2 * math.pi)
        ramp = xx * math.cos(a) + yy * math.sin(a)
        ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
        img = _mix(c1, c2, np.clip(ramp + 0.3 * (_fbm(rng, h, w) - 0.5), 0, 1))
    elif kind == "tiles":
        cell = int(rng.integers(12, 29))
        gh, gw = h // cell + 1, w // cell + 1
        tint = rng.uniform(0.8, 1.2, (gh, gw)).astype(np.float32)
        img = np.array(c1, np.float32) * np.kron(tint, np.ones((cell, cell), np.float32))[:h, :w, None]
        grout = ((yy.astype(int) % cell) < 2) | ((xx.astype(int) % cell) < 2)
        img[grout] = c2
    else:  # a horizon: sky gradient above, noisy ground below
        horizon = int(h * rng.uniform(0.3, 0.65))
        sky = _mix(c1, _shade(c1, 1.4), yy / h)
        ground = _mix(c2, _shade(c2, 0.6), _fbm(rng, h, w, (16, 8, 4)))
        img = np.where((yy < horizon)[..., None], sky, ground)
    img = img + rng.normal(0, rng.uniform(3, 8), (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------------
# One image: choose objects, place them, composite
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class PlacedObject:
    layer: ObjectLayer
    x0: int
    y0: int
    drawn: int  # silhouette pixels in the layer (whether or not inside the image)


@dataclass
class DemoImage:
    image_id: str
    rgb: np.ndarray
    part: np.ndarray
    obj: np.ndarray
    meta: dict = field(default_factory=dict)


def _choose_classes(rng: np.random.Generator, primary: str, part_classes: tuple[str, ...]) -> list[str]:
    """1-3 objects: the primary one, then others, a third of them a second instance of the primary's class (the
    reader takes the union per class), plus sometimes a part-less ball."""
    n = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
    classes = [primary]
    others = [c for c in part_classes if c != primary]
    for _ in range(n - 1):
        classes.append(primary if rng.random() < 0.35 else others[rng.integers(len(others))])
    if rng.random() < 0.25:  # behind or in front of the others
        classes.insert(int(rng.integers(1, len(classes) + 1)), PARTLESS)
    return classes


def _clip(x0: int, y0: int, h: int, w: int, height: int, width: int):
    """Slices of the image and of a layer placed at (x0, y0), for the part of the layer inside the image."""
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
    return np.s_[iy0:iy1, ix0:ix1], np.s_[iy0 - y0: iy1 - y0, ix0 - x0: ix1 - x0]


def _place(layers: list[ObjectLayer], height: int, width: int, rng: np.random.Generator) -> list[PlacedObject]:
    """Place the layers in drawing order; each may overlap earlier ones, but every object keeps >= 60% of its
    silhouette visible and >= 85% inside the image. An object that finds no such place (after 40 tries) is dropped,
    except the first, which always fits."""
    owner = np.full((height, width), -1, np.int32)  # index of the placed object owning each pixel
    placed: list[PlacedObject] = []
    for layer in layers:
        h, w = layer.mask.shape
        drawn = int(layer.mask.sum())
        for attempt in range(41):
            if attempt == 40:
                if placed:
                    break
                x0, y0 = (width - w) // 2, (height - h) // 2
            else:
                # Real photos crop objects at the border: let a few percent fall outside.
                x0 = int(rng.integers(-(w // 16), max(width - w + w // 16, -(w // 16)) + 1))
                y0 = int(rng.integers(-(h // 16), max(height - h + h // 16, -(h // 16)) + 1))
            img_sl, lay_sl = _clip(x0, y0, h, w, height, width)
            m = layer.mask[lay_sl]
            if attempt < 40:
                if m.sum() < 0.85 * drawn:
                    continue
                covered = np.bincount(owner[img_sl][m] + 1, minlength=len(placed) + 1)[1:]
                visible = np.bincount(owner.ravel() + 1, minlength=len(placed) + 1)[1:]
                if any(visible[k] - covered[k] < 0.6 * p.drawn for k, p in enumerate(placed)):
                    continue
            owner[img_sl][m] = len(placed)
            placed.append(PlacedObject(layer, x0, y0, drawn))
            break
    return placed


def make_image(seed: int, split: str, index: int, primary: str, space: DemoIds) -> DemoImage:
    """Generate image `index` of `split`: background, objects, label maps and the generator's own record."""
    rng = np.random.default_rng([seed, _split_key(split), index])
    width, height = int(rng.choice(WIDTHS)), int(rng.choice(HEIGHTS))
    rgb = make_background(rng, height, width)
    part = np.full((height, width), IGNORE, np.uint8)
    obj = np.full((height, width), IGNORE, np.uint8)

    layers = []
    for cls in _choose_classes(rng, primary, space.part_classes):
        facing = FACINGS[cls][rng.integers(len(FACINGS[cls]))]
        (lo, hi), axis = SIZES[cls]
        scale = rng.uniform(lo, hi) * (height if axis == "h" else width)
        layers.append(render_object(cls, facing, scale, rng, space))

    objects = []
    owner = np.full((height, width), -1, np.int32)
    for order, p in enumerate(_place(layers, height, width, rng)):
        h, w = p.layer.mask.shape
        img_sl, lay_sl = _clip(p.x0, p.y0, h, w, height, width)
        m = p.layer.mask[lay_sl]
        # Later objects overwrite earlier ones in the image and in both label maps alike: occlusion stays consistent.
        rgb[img_sl][m] = p.layer.rgb[lay_sl][m]
        part[img_sl][m] = p.layer.part[lay_sl][m]
        obj[img_sl][m] = space.object_ids[p.layer.cls]
        owner[img_sl][m] = order
        objects.append({"class": p.layer.cls, "facing": p.layer.facing, "drawn_pixels": p.drawn})
    for order, record in enumerate(objects):  # what is left visible once everything is drawn
        ys, xs = np.nonzero(owner == order)
        record["visible_pixels"] = int(len(xs))
        record["bbox"] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None

    image_id = f"demo_{split}_{index:04d}"
    return DemoImage(image_id, rgb, part, obj, {"size": [height, width], "objects": objects})


def _split_key(split: str) -> int:
    """A stable integer per split name, so train and val draw from different RNG streams."""
    return int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "little")


def _primary_schedule(seed: int, split: str, part_classes: tuple[str, ...]) -> list[str]:
    """The main object class of image i is schedule[i % len]: every class (seen and unseen) appears in every split
    even when it is small, in an order that differs between splits and seeds."""
    rng = np.random.default_rng([seed, _split_key(split)])
    return [part_classes[k] for k in rng.permutation(len(part_classes))]


# ---------------------------------------------------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------------------------------------------------

IMAGES, PART_ANN, OBJ_ANN, META = "images", "annotations_detectron2_part", "annotations_detectron2_obj", "meta"
MANIFEST = "manifest.json"
_ID_RE = re.compile(r"^demo_(?P<split>[a-z]+)_\d{4,}\.(jpg|png)$")


def _encode(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":  # HxWx3 uint8 -> RGB
        Image.fromarray(arr).save(buf, "JPEG", quality=JPEG_QUALITY)
    else:  # HxW uint8 -> 'L'
        Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _write_image(out_dir: Path, split: str, img: DemoImage) -> None:
    atomic_write_bytes(out_dir / IMAGES / split / f"{img.image_id}.jpg", _encode(img.rgb, "JPEG"))
    atomic_write_bytes(out_dir / PART_ANN / split / f"{img.image_id}.png", _encode(img.part, "PNG"))
    atomic_write_bytes(out_dir / OBJ_ANN / split / f"{img.image_id}.png", _encode(img.obj, "PNG"))


def _remove_stale(out_dir: Path, split: str, keep: set[str]) -> None:
    """Delete images of this split that an earlier, larger generation left behind (the reader would read them)."""
    for folder, ext in ((IMAGES, "jpg"), (PART_ANN, "png"), (OBJ_ANN, "png")):
        for path in (out_dir / folder / split).glob(f"demo_{split}_*.{ext}"):
            if _ID_RE.match(path.name) and path.stem not in keep:
                path.unlink()


def _samples_in(img: DemoImage, space: DemoIds) -> int:
    """Samples the reader makes of this image: object classes with parts whose part ground truth is not empty."""
    labelled = img.part != IGNORE
    return sum(
        1
        for cls in space.part_classes
        if np.any((img.obj == space.object_ids[cls]) & labelled)
    )


class _Progress:
    """The project's progress bar (rich, on stderr), or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self) -> _Progress:
        if self.enabled:
            from partbench.console import progress_bar

            self._bar = progress_bar()
            self._bar.__enter__()
            self._task = self._bar.add_task("demo", total=self.total)
        return self

    def advance(self, split: str) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, description=f"demo {split}")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)


def _generate_split(out_dir: Path, seed: int, split: str, n: int, space: DemoIds, bar: _Progress) -> dict:
    schedule = _primary_schedule(seed, split, space.part_classes)
    label_count, meta = {}, {}
    n_objects, n_samples, by_class = 0, 0, dict.fromkeys(space.object_ids, 0)
    for i in range(n):
        img = make_image(seed, split, i, schedule[i % len(schedule)], space)
        _write_image(out_dir, split, img)
        label_count[f"{img.image_id}.png"] = sorted(int(v) for v in np.unique(img.obj) if v != IGNORE)
        meta[img.image_id] = img.meta
        n_objects += len(img.meta["objects"])
        n_samples += _samples_in(img, space)
        for record in img.meta["objects"]:
            by_class[record["class"]] += 1
        bar.advance(split)
    _remove_stale(out_dir, split, {Path(k).stem for k in label_count})
    # Where the OV-PARTS code looks for it: gt_root + "_obj_label_count.json".
    atomic_write_json(out_dir / PART_ANN / f"{split}_obj_label_count.json", label_count)
    atomic_write_json(out_dir / META / f"{split}.json", meta)
    return {"images": n, "objects": n_objects, "samples": n_samples, "objects_by_class": by_class}


def generate_demo(out_dir: Path, seed: int = 0, n_train: int = 240, n_val: int = 120, progress: bool = False) -> dict:
    """Write the demo dataset into `out_dir` (the CLI passes `<data-root>/PartbenchDemo`) and return its summary.

    Deterministic: the same seed (and generator version) gives byte-identical files. Each file is written atomically
    and `manifest.json` last, so an interrupted run leaves a directory that `demo_is_complete` rejects. The summary
    is the manifest plus `out_dir`: `splits[split]` holds `images`, `objects` (instances drawn, ball included),
    `samples` (what the reader makes: image x object class with parts) and `objects_by_class`.
    """
    from partbench.suites import load_suite

    if not isinstance(seed, int) or seed < 0:
        raise PartbenchError(f"demo seed must be a non-negative integer, not {seed!r}.")
    counts = {"train": n_train, "val": n_val}
    for split, n in counts.items():
        if not isinstance(n, int) or n < 0:
            raise PartbenchError(f"demo: the number of {split} images must be a non-negative integer, not {n!r}.")
    suite = load_suite(SUITE_NAME)
    space = DemoIds.from_suite(suite)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # From here until the new manifest is written, the directory reads as incomplete.
    (out_dir / MANIFEST).unlink(missing_ok=True)

    with _Progress(progress, n_train + n_val) as bar:
        splits = {split: _generate_split(out_dir, seed, split, counts[split], space, bar) for split in SPLITS}
    manifest = {
        "generator": "partbench.data.demo",
        "generator_version": GENERATOR_VERSION,
        "suite": suite.name,
        "suite_version": suite.version,
        "class_list_hash": suite.class_list_hash,
        "seed": seed,
        "splits": splits,
    }
    atomic_write_json(out_dir / MANIFEST, manifest)
    return {**manifest, "out_dir": str(out_dir)}


def demo_is_complete(out_dir: Path, seed: int | None = None) -> bool:
    """True when `out_dir` holds a finished generation by this generator version, for the current demo class list
    (and for `seed`, if given): the manifest exists and every split has exactly the files it lists."""
    from partbench.suites import load_suite

    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("generator_version") != GENERATOR_VERSION:
            return False
        if seed is not None and manifest.get("seed") != seed:
            return False
        if manifest.get("class_list_hash") != load_suite(SUITE_NAME).class_list_hash:
            return False
        for split in SPLITS:
            n = int(manifest["splits"][split]["images"])
            for folder, ext in ((IMAGES, "jpg"), (PART_ANN, "png"), (OBJ_ANN, "png")):
                if sum(1 for _ in _ids_in(out_dir / folder / split, split, ext)) != n:
                    return False
            if not (out_dir / PART_ANN / f"{split}_obj_label_count.json").is_file():
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _ids_in(folder: Path, split: str, ext: str) -> Iterator[Path]:
    if folder.is_dir():
        yield from (p for p in folder.glob(f"demo_{split}_*.{ext}") if _ID_RE.match(p.name))
