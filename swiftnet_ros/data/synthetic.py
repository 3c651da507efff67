"""Seeded synthetic road scenes with exact labels in Cityscapes trainIds.

A pinhole camera looks down a straight street: road with lane markings, sidewalks, facades and
vegetation along both sides, sky, and objects placed in 3-D (cars, persons, poles, traffic signs,
trees), painted far to near. Every pixel's label is the class of the surface that coloured it, so
the labels are exact. Colour alone does not tell the classes apart (grey cars, roads, buildings
and poles; green cars, signs and vegetation; white markings, clouds and signs; per-instance colours,
textures, shadows, lighting and noise): a classifier needs the context.

The scene layout comes from one random stream and the pixel noise from another, so a seed gives
the same scene at every image size, and always the same arrays at one size.
"""

import math
from typing import Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .base import LabelledDataset
from .labels import VOID, get_label_set

ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR = 0, 1, 2, 5, 7, 8, 10, 11, 13
SCENE_CLASSES = (ROAD, SIDEWALK, BUILDING, POLE, SIGN, VEGETATION, SKY, PERSON, CAR)

_FAR = 1e4  # metres; the last wall segment reaches the horizon


class _Camera:
    """Pinhole camera at height ``height`` above a flat ground, looking along +Z; Y is up."""

    def __init__(self, f: float, cx: float, cy: float, height: float) -> None:
        self.f, self.cx, self.cy, self.height = f, cx, cy, height

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points (X, Y, Z) -> (N, 2) pixel coordinates (pixel centres at integers)."""
        p = np.asarray(points, dtype=np.float64)
        z = np.maximum(p[:, 2], 0.3)
        return np.stack([self.cx + self.f * p[:, 0] / z, self.cy + self.f * (self.height - p[:, 1]) / z], 1)


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise of roughly unit amplitude with features of about ``cell`` pixels."""
    gh, gw = max(2, int(round(h / cell)) + 1), max(2, int(round(w / cell)) + 1)
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _jitter(rng: np.random.Generator, color: Sequence[float], amount: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255).astype(np.float32)


def _grey(rng: np.random.Generator, lo: float, hi: float, tint: float = 6.0) -> np.ndarray:
    return _jitter(rng, [rng.uniform(lo, hi)] * 3, tint)


def _circle(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


class _Canvas:
    """Image (float RGB) and label painted together: every painted pixel gets its surface's class."""

    def __init__(self, height: int, width: int, noise: np.random.Generator) -> None:
        self.h, self.w = height, width
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.full((height, width), VOID, np.uint8)
        self.noise = noise
        self.min_px = max(2.0, width / 110.0)  # thin structures stay this many pixels wide

    def _mask(self, polys: Sequence[np.ndarray]) -> Optional[Tuple[int, int, int, int, np.ndarray]]:
        """Union of the polygons inside their clipped bounding box: (x0, y0, x1, y1, bool mask)."""
        pts = [np.round(np.asarray(p, np.float64) * 4).astype(np.int32) for p in polys]
        allp = np.concatenate(pts) // 4
        x0, y0 = max(int(allp[:, 0].min()), 0), max(int(allp[:, 1].min()), 0)
        x1, y1 = min(int(allp[:, 0].max()) + 2, self.w), min(int(allp[:, 1].max()) + 2, self.h)
        if x1 <= x0 or y1 <= y0:
            return None
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        offset = np.array([x0 * 4, y0 * 4], np.int32)
        for p in pts:  # one call each: overlapping polygons form a union, not an even-odd pattern
            cv2.fillPoly(mask, [p - offset], 1, cv2.LINE_8, shift=2)
        m = mask.view(bool)
        return (x0, y0, x1, y1, m) if m.any() else None

    def fill(self, polys: Sequence[np.ndarray], cls: Optional[int], color: Sequence[float],
             texture: float = 0.0, cell: float = 0.0, gradient: float = 0.0) -> None:
        """Fill polygons (pixel coordinates) with a colour (+ smooth texture, vertical gradient).

        ``cls=None`` paints the image only (markings keep the label underneath)."""
        box = self._mask(polys)
        if box is None:
            return
        x0, y0, x1, y1, m = box
        patch = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        patch[:] = np.asarray(color, np.float32)
        if texture > 0:
            n = _value_noise(self.noise, y1 - y0, x1 - x0, max(cell, 1.0))
            patch *= (1.0 + texture * n)[..., None]
        if gradient:
            t = np.linspace(0, 1, y1 - y0, dtype=np.float32)[:, None, None]
            patch *= 1.0 + gradient * (t - 0.5)
        self.image[y0:y1, x0:x1][m] = patch[m]
        if cls is not None:
            self.label[y0:y1, x0:x1][m] = cls

    def shade(self, polys: Sequence[np.ndarray], factor: float) -> None:
        """Darken the image inside polygons (shadows); labels stay."""
        box = self._mask(polys)
        if box is not None:
            x0, y0, x1, y1, m = box
            self.image[y0:y1, x0:x1][m] *= factor


class _Layout:
    """The street: lanes, sidewalks and the planes of the facades, in metres."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.lanes = int(rng.choice([2, 2, 3, 4]))
        self.lane_w = rng.uniform(2.9, 3.6)
        own = int(rng.integers(0, self.lanes))
        self.road_l = -(own + 0.5) * self.lane_w + rng.uniform(-0.5, 0.5)
        self.road_r = self.road_l + self.lanes * self.lane_w
        self.walk_l = rng.uniform(2.0, 5.0)
        self.walk_r = rng.uniform(2.0, 5.0)
        self.wall_l = self.road_l - self.walk_l
        self.wall_r = self.road_r + self.walk_r
        self.two_way = self.lanes == 2 and rng.random() < 0.6 or self.lanes == 4 and rng.random() < 0.5
        self.crosswalk = rng.uniform(8, 25) if rng.random() < 0.3 else None

    def lane_center(self, i: int) -> float:
        return self.road_l + (i + 0.5) * self.lane_w

    def oncoming(self, i: int) -> bool:
        return self.two_way and i < self.lanes // 2

    def sidewalk_x(self, rng: np.random.Generator, side: int, lo: float = 0.3, hi: float = 0.3) -> float:
        """A lateral position on the left (side=-1) or right (side=1) sidewalk."""
        if side < 0:
            return rng.uniform(self.wall_l + hi, self.road_l - lo)
        return rng.uniform(self.road_r + lo, self.wall_r - hi)


def _sky(cv: _Canvas, rng: np.random.Generator, cam: _Camera) -> None:
    """Gradient and clouds above the horizon (everything below it is covered by the ground)."""
    kind = rng.choice(["clear", "overcast", "dusk"], p=[0.5, 0.35, 0.15])
    if kind == "clear":
        top, low = _jitter(rng, (55, 105, 185), 20), _jitter(rng, (170, 200, 230), 15)
        cloud, cover = _grey(rng, 215, 250, 4), rng.uniform(0.0, 0.6)
    elif kind == "overcast":
        top, low = _grey(rng, 120, 190, 8), _grey(rng, 165, 225, 6)
        cloud, cover = _grey(rng, 110, 200, 6), rng.uniform(0.3, 0.9)
    else:
        top, low = _jitter(rng, (70, 80, 140), 20), _jitter(rng, (235, 160, 110), 20)
        cloud, cover = _jitter(rng, (120, 90, 110), 20), rng.uniform(0.0, 0.5)
    rows = min(int(math.ceil(cam.cy)) + 1, cv.h)
    t = np.clip(np.arange(rows, dtype=np.float32) / max(cam.cy, 1.0), 0, 1)[:, None, None]
    n = _value_noise(cv.noise, rows, cv.w, cv.w / 6) + 0.5 * _value_noise(cv.noise, rows, cv.w, cv.w / 20)
    alpha = np.clip((n - (1.2 - 2.0 * cover)) * 0.8, 0, 1)[..., None]
    cv.image[:rows] = (top * (1 - t) + low * t) * (1 - alpha) + cloud * alpha
    cv.label[:rows] = SKY


def _ground(cv: _Canvas, rng: np.random.Generator, cam: _Camera, lay: _Layout) -> None:
    """Road and sidewalks below the horizon, shaded per pixel from the ground point each pixel sees."""
    asphalt = _grey(rng, 55, 125, 5)
    walk_kind = rng.choice(["grey", "dark", "red", "beige"], p=[0.45, 0.2, 0.2, 0.15])
    walk = {"grey": _grey(rng, 120, 185), "dark": _grey(rng, 85, 115),
            "red": _jitter(rng, (150, 105, 95), 15), "beige": _jitter(rng, (175, 160, 135), 12)}[walk_kind]
    tile = np.float32(rng.uniform(0.3, 0.7))
    mark = _grey(rng, 200, 240, 4)
    yellow = _jitter(rng, (215, 180, 50), 15) if lay.two_way and rng.random() < 0.5 else mark
    edge_lines = rng.random() < 0.6
    dash_phase = rng.uniform(0, 9)
    sun_shadow = rng.uniform(2.0, 8.0) * rng.choice([-1, 1]) if rng.random() < 0.45 else None

    row0 = int(math.floor(cam.cy)) + 1
    if row0 >= cv.h:
        return
    f32 = np.float32
    d = np.arange(row0, cv.h, dtype=np.float32)[:, None] - f32(cam.cy)
    x = (np.arange(cv.w, dtype=np.float32)[None, :] - f32(cam.cx)) * (f32(cam.height) / d)
    z = np.broadcast_to(f32(cam.f * cam.height) / d, x.shape)
    px_per_m = f32(cam.f) / z  # how many pixels one metre covers at this depth

    road = (x >= lay.road_l) & (x < lay.road_r)
    img = np.where(road[..., None], asphalt, walk).astype(np.float32)
    h, w = road.shape
    img *= (1 + f32(0.07) * _value_noise(cv.noise, h, w, cv.w / 12))[..., None]

    # sidewalk tiles and curb; joints fade with distance instead of aliasing
    joint = ~road & ((np.mod(x / tile, f32(1)) < 0.06) | (np.mod(z / tile, f32(1)) < 0.06))
    img[joint] *= (1 - f32(0.25) * np.clip(px_per_m[joint] * f32(0.04) * tile, 0, 1))[:, None]
    curb = ~road & ((np.abs(x - f32(lay.road_l)) < 0.2) | (np.abs(x - f32(lay.road_r)) < 0.2))
    img[curb] *= f32(1.18)

    # lane markings: coverage of each pixel, so that far lines fade instead of breaking up
    white = np.zeros((h, w), np.float32)
    center = np.zeros((h, w), np.float32)
    dash = np.mod(z + f32(dash_phase), f32(9)) < 3.0
    for i in range(1, lay.lanes):
        xm = f32(lay.road_l + i * lay.lane_w)
        near = np.abs(x - xm) < 0.07
        if lay.two_way and i == lay.lanes // 2:
            center = np.maximum(center, near * np.clip(px_per_m * f32(0.14), 0, 1))
        else:
            white = np.maximum(white, (near & dash) * np.clip(px_per_m * f32(0.14), 0, 1))
    if edge_lines:
        near = (np.abs(x - f32(lay.road_l + 0.25)) < 0.07) | (np.abs(x - f32(lay.road_r - 0.25)) < 0.07)
        white = np.maximum(white, near * np.clip(px_per_m * f32(0.14), 0, 1))
    if lay.crosswalk is not None:
        zebra = road & (z >= lay.crosswalk) & (z < lay.crosswalk + 3.0) & (np.mod(x, f32(1)) < 0.5)
        white = np.maximum(white, zebra * np.clip(px_per_m * f32(0.5), 0, 1))
    for alpha, color in ((white, mark), (center, yellow)):
        sel = alpha > 0
        a = alpha[sel][:, None]
        img[sel] = img[sel] * (1 - a) + color * a
    if sun_shadow is not None:
        edge = lay.road_l + abs(sun_shadow) if sun_shadow < 0 else lay.road_r - abs(sun_shadow)
        img[(x < edge) if sun_shadow < 0 else (x > edge)] *= f32(0.55)
    cv.image[row0:] = img
    cv.label[row0:] = np.where(road, ROAD, SIDEWALK)


def _wall_segments(rng: np.random.Generator) -> List[dict]:
    """Facades and stretches of vegetation along one side, near to far."""
    segs, z = [], 0.0
    while z < _FAR:
        length = rng.uniform(8, 35) if z < 160 else _FAR
        building = rng.random() < 0.65
        seg = {"z0": z, "z1": z + length, "building": building}
        if building:
            kind = rng.choice(["grey", "beige", "brick", "white", "dark", "pastel"])
            seg["color"] = {"grey": _grey(rng, 80, 170), "beige": _jitter(rng, (190, 170, 140), 20),
                            "brick": _jitter(rng, (145, 75, 60), 20), "white": _grey(rng, 200, 235, 5),
                            "dark": _grey(rng, 40, 80), "pastel": _jitter(rng, (170, 190, 160), 35)}[kind]
            seg["height"] = rng.uniform(6, 25)
            seg["spacing"] = rng.uniform(2.5, 4.0)
            seg["floor"] = rng.uniform(2.8, 3.6)
            seg["win_w"], seg["win_h"] = rng.uniform(0.35, 0.6), rng.uniform(0.4, 0.6)
            seg["window"] = (_jitter(rng, (35, 45, 60), 15) if rng.random() < 0.6
                             else _jitter(rng, (140, 165, 190), 25))
            seg["hedge"] = rng.uniform(0.6, 1.3) if rng.random() < 0.25 else 0.0
            seg["green"] = _jitter(rng, (55, 95, 40), 20)
        else:
            seg["color"] = _jitter(rng, (60, 100, 40), 25)
            seg["height"] = rng.uniform(3, 12)
            seg["amp"], seg["freq"] = rng.uniform(0.5, 2.5), rng.uniform(0.2, 0.6)
            seg["phase"] = rng.uniform(0, 6.3)
        segs.append(seg)
        z += length
    return segs


def _column(segs: List[dict], key: str, default: Optional[float] = None) -> np.ndarray:
    """One value per wall segment (a number; an RGB colour when ``default`` is None), to index by segment."""
    return np.array([s.get(key, s["color"] if default is None else default) for s in segs], np.float32)


def _walls(cv: _Canvas, rng: np.random.Generator, cam: _Camera, lay: _Layout, side: int, dark: float) -> None:
    """One side's wall plane (X = const): each column sees one depth; rows between base and top are wall."""
    segs = _wall_segments(rng)
    xb = lay.wall_l if side < 0 else lay.wall_r
    dx = np.arange(cv.w, dtype=np.float64) - cam.cx
    cols = np.nonzero(dx < -0.5 if side < 0 else dx > 0.5)[0]
    zc = cam.f * xb / dx[cols]  # the depth each column sees on the wall
    cols, zc = cols[zc > 0.5], zc[zc > 0.5]
    if cols.size == 0:
        return
    idx = np.searchsorted(np.array([seg["z0"] for seg in segs[1:]]), zc, side="right")  # segment per column
    veg = ~np.array([seg["building"] for seg in segs])[idx]
    amp, freq, phase = (_column(segs, key, 0.0)[idx] for key in ("amp", "freq", "phase"))
    bumps = amp * (np.sin(zc * freq + phase) + 0.4 * np.sin(zc * 2.7 * freq))  # wavy tree tops
    top = _column(segs, "height", 0.0)[idx] + veg * bumps
    y_top = np.maximum(cam.cy + cam.f * (cam.height - top) / zc, 0)
    y_bot = np.minimum(cam.cy + cam.f * cam.height / zc, cv.h)
    r0, r1 = int(math.floor(y_top.min())), int(math.ceil(y_bot.max()))
    ys = np.arange(r0, r1, dtype=np.float64)[:, None]
    rr, cc = np.nonzero((ys >= y_top[None]) & (ys < y_bot[None]))  # the wall's pixels (row, column index)
    if rr.size == 0:
        return
    z = zc.astype(np.float32)[cc]
    wy = np.float32(cam.height) - (rr + np.float32(r0 - cam.cy)) * z / np.float32(cam.f)  # height on the wall
    seg, is_veg = idx[cc], veg[cc]

    # facades: windows on a grid in wall coordinates, shop windows on the ground floor, hedges
    floor, hedge_h = _column(segs, "floor", 1.0)[seg], _column(segs, "hedge", 0.0)[seg]
    along = (z - _column(segs, "z0", 0.0)[seg]) / _column(segs, "spacing", 1.0)[seg]
    u = np.abs(np.mod(along, np.float32(1)) - np.float32(0.5))
    v = np.abs(np.mod(wy / floor, np.float32(1)) - np.float32(0.5))
    window = (~is_veg & (wy > floor) & (wy < _column(segs, "height", 0.0)[seg] - 0.6)
              & (u < _column(segs, "win_w", 0.0)[seg] / 2) & (v < _column(segs, "win_h", 0.0)[seg] / 2))
    window |= ~is_veg & (wy > 0.4) & (wy < 2.4) & (u < 0.42) & (hedge_h == 0)
    hedge = ~is_veg & (wy < hedge_h)
    leafy = is_veg | hedge
    img = _column(segs, "color")[seg]
    img[window] = _column(segs, "window")[seg[window]]
    img[hedge] = _column(segs, "green")[seg[hedge]]

    h, w = r1 - r0, cols.size
    n = (_value_noise(cv.noise, h, w, cv.w / 90) + 0.6 * _value_noise(cv.noise, h, w, cv.w / 25))[rr, cc]
    shade = (1 + np.where(leafy, np.float32(0.22), np.float32(0.04)) * n) * np.float32(dark)
    shade *= 1 - np.float32(0.12) * np.clip(wy / np.float32(20), 0, 1) * ~leafy  # darker towards the roof
    img *= shade[:, None]
    cv.image[rr + r0, cols[cc]] = img
    cv.label[rr + r0, cols[cc]] = np.where(leafy, VEGETATION, BUILDING)


def _car_color(rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(["grey", "silver", "white", "black", "red", "blue", "green", "yellow", "beige"],
                      p=[0.2, 0.15, 0.15, 0.12, 0.1, 0.1, 0.08, 0.05, 0.05])
    return {"grey": _grey(rng, 60, 130), "silver": _grey(rng, 150, 200), "white": _grey(rng, 210, 240, 4),
            "black": _grey(rng, 20, 45), "red": _jitter(rng, (170, 30, 30), 25),
            "blue": _jitter(rng, (40, 60, 140), 25),
            "green": _jitter(rng, (55, 100, 45), 20), "yellow": _jitter(rng, (215, 190, 50), 20),
            "beige": _jitter(rng, (180, 165, 130), 15)}[kind]


def _front(x0: float, x1: float, y0: float, y1: float, z: float) -> np.ndarray:
    """A rectangle facing the camera (constant Z)."""
    return np.array([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)])


def _side(x: float, z0: float, z1: float, y0: float, y1: float) -> np.ndarray:
    """A rectangle along the street (constant X)."""
    return np.array([(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)])


def _flat(x0: float, x1: float, z0: float, z1: float, y: float) -> np.ndarray:
    """A horizontal rectangle (constant Y)."""
    return np.array([(x0, y, z0), (x1, y, z0), (x1, y, z1), (x0, y, z1)])


def _car(rng: np.random.Generator, lay: _Layout, lane: int, z: float) -> Tuple[float, Callable]:
    xc = lay.lane_center(lane) + rng.uniform(-0.35, 0.35)
    w, length = rng.uniform(1.65, 1.95), rng.uniform(3.9, 4.8)
    body_top, roof = rng.uniform(0.85, 1.05), rng.uniform(1.35, 1.75)
    inset, cab0, cab1 = rng.uniform(0.1, 0.2), rng.uniform(0.2, 0.35), rng.uniform(0.65, 0.8)
    color = _car_color(rng)
    glass = _jitter(rng, (45, 55, 70), 20) if rng.random() < 0.7 else _grey(rng, 110, 160)
    lamp = _jitter(rng, (200, 30, 30), 20) if not lay.oncoming(lane) else _grey(rng, 215, 250, 4)

    def draw(cv: _Canvas, cam: _Camera) -> None:
        xl, xr = xc - w / 2, xc + w / 2
        zf, zb = z + cab0 * length, z + cab1 * length

        def paint(points: np.ndarray, color: Sequence[float], gradient: float = 0.0) -> None:
            cv.fill([cam.project(points)], CAR, color, gradient=gradient)

        cv.shade([cam.project(_flat(xl - 0.1, xr + 0.1, z - 0.3, z + length, 0.0))], 0.45)
        paint(_flat(xl + inset, xr - inset, zf, zb, roof), color * 1.08)
        xs = xl if xl > 0 else xr if xr < 0 else None  # the side facing the camera, if any
        if xs is not None:
            xi = xs + inset if xs == xl else xs - inset
            paint(_side(xi, zf, zb, body_top, roof), glass)
            paint(_side(xs, z, z + length, 0.25, body_top), color * 0.72, gradient=-0.3)
            t = np.linspace(0, 2 * math.pi, 16, endpoint=False)
            for zw in (z + 0.8, z + length - 0.8):
                wheel = np.stack([np.full(16, xs), 0.33 + 0.33 * np.sin(t), zw + 0.33 * np.cos(t)], 1)
                paint(wheel, (25, 25, 25))
        paint(np.array([(xl, body_top, z), (xr, body_top, z), (xr - inset, body_top, zf),
                        (xl + inset, body_top, zf)]), color * 1.04)
        paint(_front(xl + inset, xr - inset, body_top, roof, zf), color)
        paint(_front(xl + inset + 0.08, xr - inset - 0.08, body_top + 0.05, roof - 0.06, zf), glass)
        for x0, x1 in ((xl, xl + 0.3), (xr - 0.3, xr)):  # wheels below the body
            paint(_front(x0, x1, 0.0, 0.35, z + 0.2), (22, 22, 22))
        paint(_front(xl, xr, 0.25, body_top, z), color * 0.9, gradient=-0.25)
        paint(_front(xl, xr, 0.25, 0.42, z), color * 0.5)
        for x0, x1 in ((xl + 0.08, xl + 0.38), (xr - 0.38, xr - 0.08)):
            paint(_front(x0, x1, 0.62, 0.78, z), lamp)
        paint(_front(xc - 0.26, xc + 0.26, 0.45, 0.57, z), (225, 225, 215))

    return z, draw


def _person(rng: np.random.Generator, x: float, z: float) -> Tuple[float, Callable]:
    s = rng.uniform(1.55, 1.9) / 1.75
    shirt = _car_color(rng) if rng.random() < 0.6 else _jitter(rng, rng.uniform(30, 220, 3), 10)
    pants = [_jitter(rng, (40, 50, 80), 15), _grey(rng, 25, 90), _jitter(rng, (160, 140, 110), 20)][
        int(rng.integers(0, 3))]
    skin = _jitter(rng, [(225, 185, 160), (170, 120, 90), (110, 75, 55)][int(rng.integers(0, 3))], 12)
    hair = _grey(rng, 20, 90, 15)
    step = rng.uniform(-0.12, 0.12) * s
    swing = rng.uniform(-0.08, 0.08) * s

    def draw(cv: _Canvas, cam: _Camera) -> None:
        def poly(pts: Sequence[Tuple[float, float]]) -> np.ndarray:
            return cam.project(np.array([(x + px * s, py * s, z) for px, py in pts]))

        cv.fill([poly([(-0.17, 0.0), (-0.03, 0.0), (-0.02, 0.9), (-0.16, 0.9)])
                 + np.array([[cam.f * step / z, 0]] * 2 + [[0, 0]] * 2)], PERSON, pants)
        cv.fill([poly([(0.03, 0.0), (0.17, 0.0), (0.16, 0.9), (0.02, 0.9)])
                 - np.array([[cam.f * step / z, 0]] * 2 + [[0, 0]] * 2)], PERSON, pants * 0.85)
        torso = poly([(-0.19, 0.85), (0.19, 0.85), (0.23, 1.45), (-0.23, 1.45)])
        cv.fill([torso], PERSON, shirt, gradient=0.2)
        for sx in (-1, 1):
            arm = poly([(sx * 0.22, 1.45), (sx * 0.31, 1.43), (sx * 0.3 + swing * sx, 0.82),
                        (sx * 0.22 + swing * sx, 0.82)])
            cv.fill([arm], PERSON, shirt * 0.85)
        cv.fill([poly([(-0.05, 1.42), (0.05, 1.42), (0.05, 1.53), (-0.05, 1.53)])], PERSON, skin)
        c = cam.project(np.array([(x, 1.635 * s, z)]))[0]
        r = cam.f * 0.115 * s / z
        cv.fill([_circle(c[0], c[1], r * 0.9, r)], PERSON, skin)
        cv.fill([_circle(c[0], c[1] - r * 0.35, r * 0.92, r * 0.7)], PERSON, hair)

    return z, draw


def _bar(cam: _Camera, cv: _Canvas, x: float, z: float, y0: float, y1: float, width: float) -> np.ndarray:
    """A vertical bar in the image, at least ``cv.min_px`` wide however far away."""
    (xa, ya), (_, yb) = cam.project(np.array([(x, y0, z), (x, y1, z)]))
    half = max(cam.f * width / (2 * z), cv.min_px / 2)
    return np.array([(xa - half, ya), (xa + half, ya), (xa + half, yb), (xa - half, yb)])


def _pole_color(rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(["grey", "dark", "green", "silver"], p=[0.4, 0.25, 0.15, 0.2])
    return {"grey": _grey(rng, 90, 150), "dark": _grey(rng, 35, 70), "green": _jitter(rng, (45, 75, 50), 12),
            "silver": _grey(rng, 160, 200)}[kind]


def _pole(rng: np.random.Generator, x: float, z: float, toward_road: float) -> Tuple[float, Callable]:
    height, width, color = rng.uniform(5.0, 8.0), rng.uniform(0.25, 0.4), _pole_color(rng)
    arm = rng.uniform(1.0, 2.0) if rng.random() < 0.6 else 0.0

    def draw(cv: _Canvas, cam: _Camera) -> None:
        if arm:
            xe = x + toward_road * arm
            (xa, ya), (xb, yb) = cam.project(np.array([(x, height - 0.1, z), (xe, height - 0.1, z)]))
            t = max(cam.f * 0.18 / z, cv.min_px) / 2
            cv.fill([np.array([(xa, ya - t), (xb, yb - t), (xb, yb + t), (xa, ya + t)])], POLE, color)
            (lx, ly), = cam.project(np.array([(xe, height - 0.1, z)]))
            lw, lh = max(cam.f * 0.5 / z, cv.min_px * 2), max(cam.f * 0.15 / z, cv.min_px)
            cv.fill([np.array([(lx - lw / 2, ly), (lx + lw / 2, ly), (lx + lw / 2, ly + lh),
                               (lx - lw / 2, ly + lh)])], POLE, color * 0.8)
        cv.fill([_bar(cam, cv, x, z, 0.0, height, width)], POLE, color, gradient=0.25)

    return z, draw


def _sign(rng: np.random.Generator, x: float, z: float) -> Tuple[float, Callable]:
    kind = rng.choice(["round_red", "round_blue", "triangle", "square_blue", "green", "diamond", "white"])
    bottom, r = rng.uniform(2.0, 2.6), rng.uniform(0.4, 0.6)
    pole_color = _pole_color(rng)
    red, white = _jitter(rng, (200, 30, 35), 20), _grey(rng, 200, 240, 5)
    blue, green = _jitter(rng, (30, 70, 160), 20), _jitter(rng, (40, 110, 60), 20)
    yellow, black = _jitter(rng, (225, 190, 40), 15), _grey(rng, 20, 50)

    def draw(cv: _Canvas, cam: _Camera) -> None:
        (cx, cy), = cam.project(np.array([(x, bottom + r, z)]))
        rp = max(cam.f * r / z, cv.min_px * 2)
        cv.fill([_bar(cam, cv, x, z, 0.0, bottom + r, 0.09)], POLE, pole_color, gradient=0.2)

        def shape(name: str, k: float) -> np.ndarray:
            if name == "circle":
                return _circle(cx, cy, rp * k, rp * k)
            if name == "triangle":
                return np.array([(cx, cy - rp * k), (cx + rp * k * 1.1, cy + rp * k * 0.8),
                                 (cx - rp * k * 1.1, cy + rp * k * 0.8)])
            if name == "diamond":
                return np.array([(cx, cy - rp * k), (cx + rp * k, cy), (cx, cy + rp * k), (cx - rp * k, cy)])
            hw, hh = rp * k * (1.8 if name == "wide" else 1.0), rp * k * 0.8
            return np.array([(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)])

        layers = {"round_red": [("circle", 1.0, red), ("circle", 0.72, white)],
                  "round_blue": [("circle", 1.0, white), ("circle", 0.88, blue)],
                  "triangle": [("triangle", 1.0, red), ("triangle", 0.62, white)],
                  "square_blue": [("square", 1.0, white), ("square", 0.85, blue)],
                  "green": [("wide", 1.0, white), ("wide", 0.85, green)],
                  "diamond": [("diamond", 1.0, white), ("diamond", 0.85, yellow)],
                  "white": [("square", 1.0, black), ("square", 0.85, white)]}[kind]
        for name, k, color in layers:
            cv.fill([shape(name, k)], SIGN, color)

    return z, draw


def _tree(rng: np.random.Generator, x: float, z: float) -> Tuple[float, Callable]:
    trunk_h, trunk_w = rng.uniform(1.8, 3.0), rng.uniform(0.25, 0.4)
    trunk = _jitter(rng, (90, 75, 60), 20)
    leaves = _jitter(rng, (60, 105, 40), 25) * rng.uniform(0.7, 1.2)
    blobs = [(rng.uniform(-1.2, 1.2), rng.uniform(0.5, 2.5), rng.uniform(1.0, 2.0))
             for _ in range(int(rng.integers(3, 7)))]

    def draw(cv: _Canvas, cam: _Camera) -> None:
        cv.fill([_bar(cam, cv, x, z, 0.0, trunk_h + 0.5, trunk_w)], VEGETATION, trunk, gradient=0.3)
        polys = []
        for bx, by, br in blobs:
            (px, py), = cam.project(np.array([(x + bx, trunk_h + by, z)]))
            polys.append(_circle(px, py, cam.f * br / z, cam.f * br / z * 0.9))
        cv.fill(polys, VEGETATION, leaves, texture=0.25, cell=max(cam.f * 0.4 / z, 1.5))

    return z, draw


def _objects(rng: np.random.Generator, lay: _Layout) -> List[Tuple[float, Callable]]:
    objs = []
    taken: List[Tuple[int, float]] = []
    for _ in range(int(rng.integers(1, 7))):
        lane, z = int(rng.integers(0, lay.lanes)), rng.uniform(5, 45)
        if all(lane != ln or abs(z - zo) > 7 for ln, zo in taken):
            taken.append((lane, z))
            objs.append(_car(rng, lay, lane, z))
    for _ in range(int(rng.integers(1, 6))):
        z = rng.uniform(4, 20)
        if lay.crosswalk is not None and rng.random() < 0.25:
            objs.append(_person(rng, rng.uniform(lay.road_l + 0.5, lay.road_r - 0.5), lay.crosswalk + 1.5))
        else:
            objs.append(_person(rng, lay.sidewalk_x(rng, int(rng.choice([-1, 1])), 0.6), z))
    for _ in range(int(rng.integers(1, 5))):
        side = int(rng.choice([-1, 1]))
        x = (lay.road_l - 0.5) if side < 0 else (lay.road_r + 0.5)
        objs.append(_pole(rng, x, rng.uniform(5, 30), -side))
    for _ in range(int(rng.integers(1, 4))):
        side = int(rng.choice([-1, 1]))
        objs.append(_sign(rng, (lay.road_l - 0.6) if side < 0 else (lay.road_r + 0.6), rng.uniform(5, 30)))
    for _ in range(int(rng.integers(1, 5))):
        objs.append(_tree(rng, lay.sidewalk_x(rng, int(rng.choice([-1, 1])), 1.0, 0.8), rng.uniform(6, 45)))
    return objs


def _light(cv: _Canvas, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(0.65, 1.25) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    sigma, blur = rng.uniform(2.0, 7.0), rng.random() < 0.3
    vignette = rng.uniform(0.0, 0.3)
    yy = np.linspace(-1, 1, cv.h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, cv.w, dtype=np.float32)[None, :]
    img = cv.image * ((1 - vignette * (xx * xx + yy * yy) / 2)[..., None] * gain.astype(np.float32))
    spread = int(round(sigma * 1.7))  # uniform noise with a standard deviation of about sigma
    img += cv.noise.integers(-spread, spread + 1, img.shape, dtype=np.int8)
    if blur:
        img = cv2.GaussianBlur(img, (3, 3), 0.8)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _check_size(size: Sequence[int]) -> Tuple[int, int]:
    if len(size) != 2 or int(size[0]) < 16 or int(size[1]) < 16:
        raise ValueError("scene size must be (height, width) with both >= 16, got {!r}".format(size))
    return int(size[0]), int(size[1])


def make_scene(seed: int, size: Tuple[int, int] = (256, 512)) -> Tuple[np.ndarray, np.ndarray]:
    """One road scene: (RGB uint8 H x W x 3, Cityscapes trainId uint8 H x W); size is (height, width)."""
    height, width = _check_size(size)
    rng = np.random.default_rng([int(seed), 0])  # layout: independent of the image size
    cv = _Canvas(height, width, np.random.default_rng([int(seed), 1, height, width]))
    cam = _Camera(f=width * rng.uniform(0.65, 0.9), cx=width * (0.5 + rng.uniform(-0.12, 0.12)),
                  cy=height * rng.uniform(0.33, 0.52), height=rng.uniform(1.25, 1.8))
    lay = _Layout(rng)
    _sky(cv, rng, cam)
    _ground(cv, rng, cam, lay)
    lit = rng.choice([-1, 1])
    for side in (-1, 1):
        _walls(cv, rng, cam, lay, side, dark=1.0 if side == lit else rng.uniform(0.65, 0.9))
    for _, draw in sorted(_objects(rng, lay), key=lambda o: -o[0]):
        draw(cv, cam)
    return _light(cv, rng), cv.label


class SyntheticDataset(LabelledDataset):
    """``num`` scenes; item i is ``make_scene(seed + i, size)``: (float 3 x H x W RGB 0-255, int64 H x W).

    ``transform(image, label, rng)`` works on the numpy arrays (see ``swiftnet_ros.data.transforms``)
    and gets a generator seeded from (seed, epoch, index): set the epoch with ``set_epoch``."""

    def __init__(self, num: int, seed: int, size: Tuple[int, int] = (256, 512),
                 transform: Optional[Callable] = None) -> None:
        if int(num) < 1:
            raise ValueError("SyntheticDataset needs num >= 1 scenes, got {}".format(num))
        super().__init__(get_label_set("cityscapes"), transform, seed)
        self.num, self.size = int(num), _check_size(size)

    def __len__(self) -> int:
        return self.num

    def load(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.num:
            raise IndexError("index {} out of range for {} scenes".format(index, self.num))
        return make_scene(self.seed + index, self.size)


def _colour_bins(image: np.ndarray, bins: int) -> np.ndarray:
    q = (image.astype(np.int64) * bins) >> 8
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def per_pixel_colour_baseline(train_seeds: Sequence[int], test_seeds: Sequence[int],
                              size: Tuple[int, int] = (128, 256), bins: int = 32,
                              num_classes: int = 19) -> np.ndarray:
    """Confusion matrix (rows: truth, columns: prediction) of the best classifier that sees one pixel.

    It learns, for every colour (RGB quantised to ``bins`` levels per channel), the class that
    colour most often has in the training scenes, and predicts that for the test scenes' pixels
    (colours never seen: the most frequent class). It shows how far colour alone gets."""
    counts = np.zeros((bins ** 3, num_classes), np.int64)
    for seed in train_seeds:
        image, label = make_scene(seed, size)
        valid = label != VOID
        flat = _colour_bins(image, bins)[valid] * num_classes + label[valid]
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    table = counts.argmax(1)
    table[counts.sum(1) == 0] = counts.sum(0).argmax()
    matrix = np.zeros((num_classes, num_classes), np.int64)
    for seed in test_seeds:
        image, label = make_scene(seed, size)
        valid = label != VOID
        pred = table[_colour_bins(image, bins)[valid]]
        matrix += np.bincount(label[valid].astype(np.int64) * num_classes + pred,
                              minlength=num_classes ** 2).reshape(num_classes, num_classes)
    return matrix
