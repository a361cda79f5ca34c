"""Render one ForamSim specimen: ellipsoidal chambers on a trochospiral coil, lit from above.

Geometry. Chamber ``k`` (counting back ``m`` chambers from the final one) has radius
``expansion**-m``, sits at angle ``-2*pi*m/chambers_per_whorl`` on a logarithmic coil (its distance
from the coil axis is proportional to its radius) and at a height that grows towards the apex for
older chambers (the trochospire). Each chamber is an ellipsoid with radial, tangential and axial
semi-axes ``(r*elongation, r, r*flatten)``. The shell is rotated to the specimen's view and projected
orthographically; every pixel solves one quadratic per chamber for the front surface (a z-buffer),
restricted to the chamber's exact projected bounding box, so the cost is that of a few small
vectorised numpy operations per chamber rather than per pixel.

Appearance. Lambert + a specular lobe (calcite is glossy), pores and spines from precomputed noise
tiles (sampled at random offsets, so no per-image noise synthesis), darkened sutures between
chambers, a dark aperture, an optional bright keel, a dark background with debris, then blur and
sensor noise. Everything random comes from the specimen's own generator.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import gaussian_filter

from visgen.sim.shells import Specimen


class Textures:
    """Noise tiles shared by all images of one run; ``[2*size, 2*size]`` float32 each.

    Built from ``seed`` alone, so every worker process builds identical tiles.
    """

    def __init__(self, size: int, seed: int) -> None:
        rng = np.random.default_rng([seed, 0x7E47])
        side = 2 * size
        px = size / 128.0
        # Pores: sparse pits, a little wider than a pixel at 128 px.
        pits = (rng.random((side, side)) < 0.05).astype(np.float32)
        pores = gaussian_filter(pits, 0.7 * px, mode="wrap")
        self.pores = (pores / pores.max()).astype(np.float32)
        # Speckle: fine bright grain for spine bases and the spine halo.
        speck = gaussian_filter(rng.standard_normal((side, side)).astype(np.float32), 0.6 * px, mode="wrap")
        self.speckle = np.clip(speck / speck.std(), 0, None).astype(np.float32)
        self.noise = rng.standard_normal((side, side)).astype(np.float32)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        r2 = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size / 2) ** 2
        self.vignette = (1.0 - 0.35 * r2).astype(np.float32)

    @staticmethod
    def crop(tile: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        """A random ``[size, size]`` window of a tile."""
        oy, ox = rng.integers(0, tile.shape[0] - size, size=2)
        return tile[oy : oy + size, ox : ox + size]


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation about a unit ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _view_matrix(sp: Specimen) -> np.ndarray:
    """Coil frame -> view frame (x right, y down the image, z towards the viewer)."""
    base = {"spiral": 0.0, "umbilical": math.pi, "edge": math.pi / 2}[sp.view]
    r0 = _rotation(np.array([1.0, 0.0, 0.0]), base)
    tilt_axis = np.array([math.cos(sp.tilt_axis), math.sin(sp.tilt_axis), 0.0])
    return _rotation(np.array([0.0, 0.0, 1.0]), sp.rotation) @ _rotation(tilt_axis, sp.tilt) @ r0


def shell_geometry(sp: Specimen) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Chambers of a specimen in the coil frame (final chamber radius 1).

    Returns:
        ``(centres [K,3], quad [K,3,3], inv [K,3,3], radial [K,3])``: ellipsoid ``(p-c)^T quad (p-c) <= 1``,
        its inverse (for projected extents) and each chamber's radial unit vector, oldest chamber first.
    """
    t = sp.traits
    cpw, elong = t["chambers_per_whorl"], t["elongation"]
    n = max(3, round(t["whorls"] * cpw))
    m = np.arange(n - 1, -1, -1, dtype=np.float64)
    r = t["expansion"] ** -m
    theta = (1.0 if sp.dextral else -1.0) * (-2 * math.pi * m / cpw)
    # Distance from the axis proportional to r: a logarithmic coil; tightness < 1 keeps neighbours overlapping.
    rho = r * (t["tightness"] * cpw / math.pi + (elong - 1.0))
    z = t["spire"] * 1.2 * (1.0 - r)
    cos, sin = np.cos(theta), np.sin(theta)
    centres = np.stack([rho * cos, rho * sin, z], axis=1)
    radial = np.stack([cos, sin, np.zeros(n)], axis=1)
    tangential = np.stack([-sin, cos, np.zeros(n)], axis=1)
    axial = np.broadcast_to([0.0, 0.0, 1.0], (n, 3))
    frame = np.stack([radial, tangential, axial], axis=2)  # [K, 3, 3], columns are the chamber axes
    # The final chamber departs from the coil's size law (reduced or inflated) without moving its centre.
    r_shape = r.copy()
    r_shape[-1] *= t["final_inflation"]
    semi = np.stack([r_shape * elong, r_shape, r_shape * t["flatten"]], axis=1)
    quad = frame @ (frame.transpose(0, 2, 1) / semi[:, :, None] ** 2)
    inv = frame @ (frame.transpose(0, 2, 1) * semi[:, :, None] ** 2)
    if sp.final_sphere:
        # Orbulina: the final chamber is a sphere enclosing the juvenile trochospire.
        big = 1.05 * float(np.max(np.linalg.norm(centres[:, :2], axis=1) + semi[:, 0]))
        centres = np.vstack([centres, [0.0, 0.0, float(z.mean())]])
        quad = np.concatenate([quad, np.eye(3)[None] / big**2])
        inv = np.concatenate([inv, np.eye(3)[None] * big**2])
        radial = np.vstack([radial, [1.0, 0.0, 0.0]])
    return centres, quad, inv, radial


def _zbuffer(c: np.ndarray, q: np.ndarray, half: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Front-surface depth and chamber index of every pixel (-inf / -1 on the background).

    Only depth and index are written per chamber; normals are derived afterwards from the winning
    chamber, so the loop does two masked copies per chamber instead of six.
    """
    zbuf = np.full((size, size), -np.inf, dtype=np.float32)
    cid = np.full((size, size), -1, dtype=np.int16)
    for k, (ck, mk, hk) in enumerate(zip(c.tolist(), q.tolist(), half.tolist(), strict=True)):
        if hk[0] < 0.3 and hk[1] < 0.3:
            continue  # a juvenile chamber smaller than a pixel, hidden by its successors anyway
        x0, x1 = max(int(ck[0] - hk[0]), 0), min(int(ck[0] + hk[0]) + 2, size)
        y0, y1 = max(int(ck[1] - hk[1]), 0), min(int(ck[1] + hk[1]) + 2, size)
        if x1 <= x0 or y1 <= y0:
            continue
        # Python floats keep the arithmetic in float32 (numpy scalars would promote it to float64).
        (m00, m01, m02), (_, m11, m12), (_, _, m22) = mk
        dx = np.arange(x0 + 0.5 - ck[0], x1 - ck[0], dtype=np.float32)[None, :]
        dy = np.arange(y0 + 0.5 - ck[1], y1 - ck[1], dtype=np.float32)[:, None]
        b = m02 * dx + m12 * dy
        disc = b * b - m22 * (m00 * dx * dx + (2 * m01) * dx * dy + m11 * dy * dy - 1.0)
        depth = (np.sqrt(np.maximum(disc, 0.0)) - b) * (1.0 / m22) + ck[2]
        zwin = zbuf[y0:y1, x0:x1]
        upd = (disc > 0) & (depth > zwin)
        np.copyto(zwin, depth, where=upd)
        np.copyto(cid[y0:y1, x0:x1], k, where=upd)
    return zbuf, cid


def render_specimen(sp: Specimen, size: int, tex: Textures, rng: np.random.Generator) -> np.ndarray:
    """Render a specimen.

    Args:
        sp: the specimen.
        size: image side in pixels.
        tex: the run's noise tiles (built for this ``size``).
        rng: the specimen's generator (texture offsets, debris).

    Returns:
        ``[size, size]`` uint8 greyscale image.
    """
    t = sp.traits
    rot = _view_matrix(sp)
    centres, quad, inv, radial = shell_geometry(sp)
    c = centres @ rot.T
    q = rot @ quad @ rot.T
    inv_v = rot @ inv @ rot.T
    half = np.sqrt(np.stack([inv_v[:, 0, 0], inv_v[:, 1, 1]], axis=1))
    lo, hi = (c[:, :2] - half).min(axis=0), (c[:, :2] + half).max(axis=0)
    ppu = t["size"] * sp.scale * size / float((hi - lo).max())  # pixels per unit
    centre_px = size / 2 * (1 + np.asarray(sp.offset)) - (lo + hi) / 2 * ppu
    c = c * ppu
    c[:, :2] += centre_px
    q = q / ppu**2
    zbuf, cid = _zbuffer(c, q, half * ppu, size)

    # Shade only the shell pixels, as 1-D float32 arrays: normals from the winning chamber's quadric gradient.
    mask = cid >= 0
    ys, xs = np.nonzero(mask)
    k = cid[ys, xs]
    pix = np.stack([xs.astype(np.float32) + 0.5, ys.astype(np.float32) + 0.5, zbuf[ys, xs]], axis=1)
    g = np.einsum("nij,nj->ni", q.astype(np.float32)[k], pix - c.astype(np.float32)[k])
    g /= np.linalg.norm(g, axis=1, keepdims=True) + 1e-12
    ce, se = math.cos(sp.light_elevation), math.sin(sp.light_elevation)
    light = np.array([ce * math.cos(sp.light_azimuth), ce * math.sin(sp.light_azimuth), se], np.float32)
    halfway = light + np.array([0.0, 0.0, 1.0], np.float32)  # Blinn-Phong: between light and viewer
    halfway /= np.linalg.norm(halfway)
    diffuse = np.clip(g @ light, 0, 1)
    spec = np.clip(g @ halfway, 0, 1) ** 24
    pores = Textures.crop(tex.pores, size, rng)[ys, xs]
    speck_img = Textures.crop(tex.speckle, size, rng)
    speck = speck_img[ys, xs]
    rough = 0.25 * t["spines"] + 0.4 * t["grain"]
    wall = t["albedo"] * (1.0 - 0.55 * t["pores"] * pores) * (1.0 + rough * (speck - 0.5))
    lit = t["ambient"] + (1.0 - t["ambient"]) * diffuse
    shade = sp.light_gain * (wall * lit + t["gloss"] * (1 - 0.6 * t["pores"]) * spec)
    if t["keel"] > 0.05:
        # Keel: a bright rim where the wall turns parallel to the coil axis on the chamber's outer side.
        along = g @ rot[:, 2].astype(np.float32)
        outward = np.einsum("ni,ni->n", g, (radial @ rot.T).astype(np.float32)[k])
        shade += t["keel"] * 0.9 * np.exp(-((along / 0.3) ** 2)) * np.clip(outward, 0, 1) ** 2

    # Compose in one float32 image; a single conversion to uint8 before the (PIL) blur.
    img = sp.background * tex.vignette
    img[ys, xs] = shade
    # Sutures: chamber boundaries inside the shell are grooves, darker in reflected light.
    suture = np.zeros_like(mask)
    suture[:, 1:] |= (cid[:, 1:] != cid[:, :-1]) & mask[:, 1:] & mask[:, :-1]
    suture[1:, :] |= (cid[1:, :] != cid[:-1, :]) & mask[1:, :] & mask[:-1, :]
    img[suture] *= t["suture_depth"]
    _aperture(img, sp, rot, ppu, centre_px, zbuf, centres[-1], radial[-1])
    _debris(img, sp.debris, size, rng)
    if t["spines"] > 0.05:
        # Spine halo: a thin bright fringe of speckle just outside the silhouette. A box blur is enough
        # for a fringe that the final blur softens anyway, and is ~3x cheaper than a Gaussian.
        halo_mask = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
        halo = np.asarray(halo_mask.filter(ImageFilter.BoxBlur(2.0 * size / 128)), np.float32) * (1 / 255)
        img += np.clip(halo - mask, 0, 1) * speck_img * (t["spines"] * 0.5)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L")
    if sp.blur > 0.05:
        pil = pil.filter(ImageFilter.GaussianBlur(sp.blur * size / 128))
    out = np.asarray(pil, np.float32) + (255 * sp.noise) * Textures.crop(tex.noise, size, rng)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _aperture(
    img: np.ndarray,
    sp: Specimen,
    rot: np.ndarray,
    ppu: float,
    centre_px: np.ndarray,
    zbuf: np.ndarray,
    final_centre: np.ndarray,
    final_radial: np.ndarray,
) -> None:
    """Darken the primary aperture at the umbilical base of the final chamber (``img`` in place).

    ``final_centre``/``final_radial`` are the final chamber's centre and radial unit vector in the coil
    frame (``shell_geometry``); the aperture sits towards the coil axis and down on the umbilical side.
    """
    if sp.final_sphere or rot[2, 2] > -0.2:
        # Hidden unless the umbilical side faces the viewer; Orbulina's apertures are areal pores,
        # already part of the wall texture.
        return
    t = sp.traits
    size = img.shape[0]
    p = final_centre - final_radial * 0.75 - np.array([0.0, 0.0, 0.75 * t["flatten"]])
    pv = rot @ p * ppu
    pv[:2] += centre_px
    rad = t["aperture"] * ppu
    x0, y0 = np.floor(pv[:2] - rad).astype(int).clip(0, size)
    x1, y1 = np.ceil(pv[:2] + rad).astype(int).clip(0, size)
    if x1 <= x0 or y1 <= y0:
        return
    dx = np.arange(x0, x1) + 0.5 - pv[0]
    dy = np.arange(y0, y1)[:, None] + 0.5 - pv[1]
    zwin = zbuf[y0:y1, x0:x1]
    # On the shell (finite depth) and not hidden behind another chamber.
    inside = (dx * dx + dy * dy < rad * rad) & np.isfinite(zwin) & (zwin < pv[2] + 0.25 * rad)
    img[y0:y1, x0:x1][inside] *= 0.15


def _debris(img: np.ndarray, count: int, size: int, rng: np.random.Generator) -> None:
    """Add dim out-of-focus particles (in place): the dust and fragments of real picking trays."""
    for _ in range(count):
        cx, cy = rng.uniform(0, size, 2)
        rad = rng.uniform(0.8, 3.0) * size / 128
        level = rng.uniform(0.1, 0.45)
        x0, x1 = int(max(cx - 3 * rad, 0)), int(min(cx + 3 * rad + 1, size))
        y0, y1 = int(max(cy - 3 * rad, 0)), int(min(cy + 3 * rad + 1, size))
        dx = np.arange(x0, x1) + 0.5 - cx
        dy = np.arange(y0, y1)[:, None] + 0.5 - cy
        blob = level * np.exp(-(dx * dx + dy * dy) / (2 * rad * rad))
        img[y0:y1, x0:x1] = np.maximum(img[y0:y1, x0:x1], blob)
