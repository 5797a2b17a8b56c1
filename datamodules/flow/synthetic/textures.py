"""Procedural RGB textures (3, H, W), values in about [0, 1], drawn from a numpy Generator.

Two entry points:

- :func:`palette_texture` is the v1 generator's texture (palette-mapped fractal noise, optional
  stripes and grain), kept bit for bit: ``recipe="v1"`` pairs depend on every draw it makes.
- :func:`natural_texture` (v2) mixes families with the statistics of photographs: 1/f (fractal)
  noise, piecewise-flat regions with sharp edges of all orientations (cellular), repeated patterns
  (tiles, bricks, windows, checkers), textureless regions, fine high-frequency texture, and
  patchworks of two families; most are shaded by a smooth illumination field.

Random numbers always come from numpy (on the CPU) and are moved to ``device``, so a texture is the
same on any device up to float rounding. Reductions that feed pixel values are done in numpy's
fixed order, so textures do not depend on torch's thread count.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "TEXTURE_FAMILIES",
    "fractal_noise",
    "natural_texture",
    "palette",
    "palette_texture",
    "pixel_coordinates",
    "smooth_noise",
    "stripes",
    "value_noise",
]


def _from_numpy(array: np.ndarray, device: torch.device | str) -> torch.Tensor:
    return torch.from_numpy(array).to(device)


def value_noise(rng: np.random.Generator, height: int, width: int, cell: float, device="cpu") -> torch.Tensor:
    """Smooth noise (height, width), zero mean and unit variance per lattice value, features of ~``cell`` px.

    Coarse lattices are interpolated bicubically (bilinear creases would show); below 8 px cells
    bilinear interpolation looks the same and costs a quarter.
    """
    rows, cols = int(height / cell) + 3, int(width / cell) + 3
    lattice = _from_numpy(rng.standard_normal((1, 1, rows, cols), dtype=np.float32), device)
    mode = "bicubic" if cell >= 8 else "bilinear"
    upsampled = F.interpolate(lattice, scale_factor=cell, mode=mode, align_corners=False)[0, 0]
    top, left = rng.integers(0, max(1, upsampled.shape[0] - height)), rng.integers(0, max(1, upsampled.shape[1] - width))
    return upsampled[top : top + height, left : left + width]


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float, device="cpu") -> torch.Tensor:
    """Value noise (height, width) of large features (``cell`` >= ~16 px), synthesised at a quarter
    of the resolution and upsampled bilinearly (4 px creases are invisible at that smoothness)."""
    small = value_noise(rng, height // 4 + 2, width // 4 + 2, max(1.0, cell / 4), device)
    return F.interpolate(small[None, None], scale_factor=4, mode="bilinear", align_corners=False)[0, 0, :height, :width]


def fractal_noise(rng: np.random.Generator, height: int, width: int, coarsest: float, finest: float,
                  device="cpu") -> torch.Tensor:
    """Fractal noise (height, width) with octaves from ``coarsest`` to ``finest`` cell size (px) and a
    random spectral slope, standardised to zero mean and unit variance.

    Octave ``k`` has amplitude ``2^(-k slope)`` at twice the frequency of octave ``k - 1``: an
    amplitude spectrum ~ ``1 / f^slope`` (photographs: slope ~ 1). Synthesised like a Laplacian
    pyramid: the sum so far is upsampled 2x and the next octave's lattice added, so only the last
    upsampling works at full resolution.
    """
    slope = rng.uniform(0.3, 1.3)
    octaves = max(1, int(math.log2(coarsest / finest)) + 1)
    cell = coarsest / 2 ** (octaves - 1)
    rows, cols = int(height / coarsest) + 3, int(width / coarsest) + 3
    field = _from_numpy(rng.standard_normal((1, 1, rows, cols), dtype=np.float32), device)
    for octave in range(1, octaves):
        field = F.interpolate(field, scale_factor=2, mode="bicubic", align_corners=False)
        noise = rng.standard_normal(field.shape, dtype=np.float32)
        field += 2.0 ** (-octave * slope) * _from_numpy(noise, device)
    mode = "bicubic" if cell >= 8 else "bilinear"
    field = F.interpolate(field, scale_factor=cell, mode=mode, align_corners=False)[0, 0]
    top = rng.integers(0, max(1, field.shape[0] - height + 1))
    left = rng.integers(0, max(1, field.shape[1] - width + 1))
    field = field[top : top + height, left : left + width]
    # numpy's float64 reduction has a fixed order: pairs are bit-identical whatever torch's thread count.
    values = field.cpu().numpy()
    return (field - float(values.mean(dtype=np.float64))) / max(float(values.std(dtype=np.float64)), 1e-6)


def palette(rng: np.random.Generator, count: int, device="cpu") -> torch.Tensor:
    """(count, 3) colours in [0, 1] with random saturation around a random grey."""
    colours = rng.random((count, 3)) ** rng.uniform(0.6, 1.6)
    grey = colours.mean(axis=1, keepdims=True)
    return _from_numpy(grey + rng.uniform(0.2, 1.0) * (colours - grey), device).float()


def _palette_lookup(level: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear palette lookup as a 1-D bilinear sample: level (H, W) in [0, 1] -> (3, H, W);
    0 gives the first colour, 1 the last."""
    lookup = torch.stack([level * 2 - 1, torch.zeros_like(level)], dim=-1)
    return F.grid_sample(colours.T[None, :, None], lookup[None], mode="bilinear", align_corners=True)[0]


def palette_texture(rng: np.random.Generator, height: int, width: int, scale: float, device="cpu") -> torch.Tensor:
    """The v1 texture (3, height, width) in about [0, 1]: palette-mapped fractal noise whose coarsest
    cell is 12-120 px (times ``scale``), optional stripes and 2 px grain."""
    coarsest = max(3.0, scale * math.exp(rng.uniform(math.log(12), math.log(120))))
    finest = max(2.0, coarsest / 2 ** rng.integers(2, 6))
    field = fractal_noise(rng, height, width, coarsest, finest, device)
    sharpness = math.exp(rng.uniform(math.log(0.5), math.log(6)))
    level = (0.5 + 0.5 * torch.tanh(sharpness * field)).clamp_(0, 1)
    texture = _palette_lookup(level, palette(rng, int(rng.integers(2, 6)), device))
    if rng.random() < 0.3:
        texture = texture * (1 - rng.uniform(0.3, 0.9) * stripes(rng, height, width, scale, device))
    if rng.random() < 0.5:
        texture = texture + rng.uniform(0.02, 0.08) * value_noise(rng, height, width, 2.0, device)
    return texture


def stripes(rng: np.random.Generator, height: int, width: int, scale: float, device="cpu") -> torch.Tensor:
    """Oriented, slightly wavy stripes (height, width) in [0, 1]."""
    angle = rng.uniform(0, math.pi)
    period = max(4.0, scale * math.exp(rng.uniform(math.log(4), math.log(40))))
    ys, xs = pixel_coordinates(height, width, device)
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * (2 * math.pi / period)
    phase = phase + rng.uniform(0, 3) * value_noise(rng, height, width, period * 4, device)
    # Edges of tanh(k sin) are about period / (pi k) px wide; keep them at least ~1 px (no aliasing).
    sharpness = min(rng.uniform(1, 10), period / 3)
    return 0.5 + 0.5 * torch.tanh(sharpness * torch.sin(phase))


def pixel_coordinates(height: int, width: int, device="cpu", dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates (height, width) of every pixel, px."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                            torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return ys, xs


def _rotated_coordinates(rng: np.random.Generator, height: int, width: int, device, stretch: float = 1.0):
    """Pixel coordinates in a frame rotated by a random angle (mostly near axis-aligned, as in
    man-made scenes) and stretched by ``stretch`` along the first axis: two (height, width) maps."""
    angle = rng.normal(0, 0.1) if rng.random() < 0.6 else rng.uniform(0, math.pi)
    ys, xs = pixel_coordinates(height, width, device)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    return u / stretch, v


def _cellular(rng, height, width, scale, device) -> torch.Tensor:
    """Flat-shaded polygons with sharp, anti-aliased edges (a jittered-grid Voronoi tessellation):
    edges of every orientation, regions of one colour each (3, H, W)."""
    cell = max(4.0, scale * math.exp(rng.uniform(math.log(8), math.log(100))))
    u, v = _rotated_coordinates(rng, height, width, device, stretch=math.exp(rng.uniform(0, math.log(3))))
    u, v = u - float(u.min()) + cell, v - float(v.min()) + cell  # min and max are exact: order-free
    rows, cols = int(float(v.max()) / cell) + 3, int(float(u.max()) / cell) + 3
    seeds = _from_numpy(rng.random((2, rows * cols), dtype=np.float32), device)
    colours = palette(rng, int(rng.integers(3, 9)), device)
    labels = _from_numpy(rng.integers(0, len(colours), rows * cols), device)
    shade = _from_numpy(rng.normal(0, 0.06, (2, rows * cols)).astype(np.float32), device)
    row, col = torch.floor(v / cell).long(), torch.floor(u / cell).long()
    # The seeds of the 3x3 neighbouring cells (flat indices), and the two nearest of them.
    neighbours = torch.stack([(row + di).clamp(0, rows - 1) * cols + (col + dj).clamp(0, cols - 1)
                              for di in (-1, 0, 1) for dj in (-1, 0, 1)])

    def seed_position(index):
        return (index // cols + seeds[0].take(index)) * cell, (index % cols + seeds[1].take(index)) * cell

    sy, sx = seed_position(neighbours)
    distance = (v - sy) ** 2 + (u - sx) ** 2
    nearest_two, order = distance.topk(2, dim=0, largest=False)
    index = neighbours.gather(0, order)
    (y1, y2), (x1, x2) = sy.gather(0, order), sx.gather(0, order)
    # Distance (px) to the bisector of the two nearest seeds: the anti-aliased edge is 1 px wide.
    edge = (nearest_two[1] - nearest_two[0]) / (2 * torch.hypot(y2 - y1, x2 - x1).clamp_min(1e-3))
    weight = (0.5 + edge).clamp(0, 1)

    def cell_colour(k, y, x):
        gradient = (shade[0].take(k) * (v - y) + shade[1].take(k) * (u - x)) / cell
        return colours[labels.take(k)].permute(2, 0, 1) * (1 + gradient)

    return weight * cell_colour(index[0], y1, x1) + (1 - weight) * cell_colour(index[1], y2, x2)


def _repeated(rng, height, width, scale, device) -> torch.Tensor:
    """A periodic pattern (3, H, W): tiles or bricks with mortar, window grids, checkers or dots,
    each tile's colour jittered; the ambiguity of repetition is what a matcher must resolve."""
    period_u = max(4.0, scale * math.exp(rng.uniform(math.log(6), math.log(60))))
    period_v = period_u * math.exp(rng.uniform(-0.7, 0.7))
    u, v = _rotated_coordinates(rng, height, width, device)
    kind = rng.choice(["tiles", "bricks", "windows", "checker", "dots"])
    row = torch.floor(v / period_v)
    if kind == "bricks":
        u = u + 0.5 * period_u * torch.remainder(row, 2)
    column = torch.floor(u / period_u)
    fu, fv = u - column * period_u, v - row * period_v  # px inside the tile
    colours = palette(rng, 2, device)
    if kind == "checker":
        mask = torch.remainder(row + column, 2)
    elif kind == "dots":
        radius = rng.uniform(0.15, 0.45) * min(period_u, period_v)
        mask = (radius - torch.hypot(fu - period_u / 2, fv - period_v / 2) + 0.5).clamp(0, 1)
    else:  # tiles, bricks, windows: a rectangle inset from the tile's border (mortar / wall between)
        inset_u = rng.uniform(0.04, 0.4 if kind == "windows" else 0.15) * period_u + 0.5
        inset_v = rng.uniform(0.04, 0.4 if kind == "windows" else 0.15) * period_v + 0.5
        inside_u = torch.minimum(fu - inset_u, period_u - inset_u - fu)
        inside_v = torch.minimum(fv - inset_v, period_v - inset_v - fv)
        mask = (torch.minimum(inside_u, inside_v) + 0.5).clamp(0, 1)
    jitter_table = _from_numpy(rng.normal(0, rng.uniform(0, 0.12), (97, 3)).astype(np.float32), device)
    jitter = jitter_table[torch.remainder(row.long() * 31 + column.long() * 17, 97)].permute(2, 0, 1)
    return mask * (colours[0, :, None, None] + jitter) + (1 - mask) * colours[1, :, None, None]


def _flat(rng, height, width, scale, device) -> torch.Tensor:
    """A textureless region (3, H, W): one colour with a faint smooth gradient (walls, sky, paint)."""
    colour = palette(rng, 1, device)[0]
    shading = rng.uniform(0.005, 0.04) * smooth_noise(rng, height, width, max(8.0, scale * 150), device)
    return colour[:, None, None] * (1 + shading)


def _fine(rng, height, width, scale, device) -> torch.Tensor:
    """High-frequency texture (3, H, W) down to single pixels (fabric, gravel, foliage): the
    structure that sub-pixel motion needs to be measurable."""
    coarsest = max(2.0, scale * math.exp(rng.uniform(math.log(3), math.log(24))))
    field = fractal_noise(rng, height, width, coarsest, 1.0, device)
    level = (0.5 + 0.5 * torch.tanh(math.exp(rng.uniform(math.log(0.5), math.log(3))) * field)).clamp_(0, 1)
    return _palette_lookup(level, palette(rng, int(rng.integers(2, 5)), device))


def _patchwork(rng, height, width, scale, device) -> torch.Tensor:
    """Two textures of other families side by side, split along a fractal boundary (3, H, W)."""
    first, second = (_family(rng, _BASE_FAMILIES, height, width, scale, device) for _ in range(2))
    coarsest = max(8.0, scale * math.exp(rng.uniform(math.log(30), math.log(200))))
    boundary = fractal_noise(rng, height, width, coarsest, 2.0, device) + rng.normal(0, 0.5)
    # The unit-variance field changes by ~2 / coarsest per px at its coarsest octave: a ~1-2 px edge.
    mask = (0.5 + boundary * (coarsest / 2)).clamp(0, 1)
    return mask * first + (1 - mask) * second


_GENERATORS = {"fractal": palette_texture, "cellular": _cellular, "repeated": _repeated, "flat": _flat,
               "fine": _fine, "patchwork": _patchwork}
_BASE_FAMILIES = {"fractal": 0.35, "cellular": 0.25, "repeated": 0.15, "flat": 0.12, "fine": 0.13}
#: Texture family -> weight, the default mix of :func:`natural_texture`.
TEXTURE_FAMILIES = {**_BASE_FAMILIES, "patchwork": 0.15}


def _family(rng, families: dict[str, float], height, width, scale, device) -> torch.Tensor:
    names = list(families)
    weights = np.array([families[n] for n in names], dtype=np.float64)
    return _GENERATORS[names[rng.choice(len(names), p=weights / weights.sum())]](rng, height, width, scale, device)


def natural_texture(rng: np.random.Generator, height: int, width: int, scale: float, device="cpu",
                    families: dict[str, float] | None = None) -> torch.Tensor:
    """A v2 texture (3, height, width) in about [0, 1] of a family drawn with the weights
    ``families`` (family name -> weight; default :data:`TEXTURE_FAMILIES`), shaded half of the time
    by a smooth illumination field (+-5-25 %).

    ``scale`` multiplies feature sizes (1 at 384x512)."""
    texture = _family(rng, families or TEXTURE_FAMILIES, height, width, scale, device)
    if rng.random() < 0.5:
        cell = max(8.0, scale * math.exp(rng.uniform(math.log(40), math.log(300))))
        texture = texture * torch.exp(rng.uniform(0.05, 0.25) * smooth_noise(rng, height, width, cell, device))
    return texture.clamp(0, 1)
