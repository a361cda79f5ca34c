"""Shell traits: the species-level morphology of ForamSim and how a specimen is drawn from it.

Each trait lives on a latent standard-normal axis. Species positions on that axis come from the
Brownian motion along the 18S tree (``traits.brownian_traits``), so the between-species spread
is 1 per trait; a specimen adds ``intra_spread`` * N(0, 1) on the same axis, so ``intra_spread``
is the intraspecific spread *relative to* the between-species spread. A latent value maps to the
trait's physical range through the normal CDF (uniform over the range for a typical species).

On top of the Brownian traits, a few species get published, diagnostic morphology (Schiebel &
Hemleben 2017, *Planktic Foraminifers in the Modern Ocean*; the mikrotax.org pforams database):
Orbulina universa's spherical final chamber, keeled and compressed Globorotalia menardii / tumida,
the conical spire of G. truncatulinoides, planispiral Globigerinella and Hastigerina, radially
elongate (clavate) chambers of Beella digitata, Hastigerina pelagica and Globigerinella adamsi,
the smooth glossy cortex of Sphaeroidinella, Pulleniatina and Candeina, the three-chambered final
whorl of G. ruber, and the opposite coiling of N. pachyderma (sinistral) and N. incompta (dextral).
These overrides replace only the listed traits, so the rest of each species still follows the tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

# name: (low, high). Order fixes the columns of the latent trait matrix.
TRAITS: dict[str, tuple[float, float]] = {
    "chambers_per_whorl": (3.4, 6.5),  # chambers in the final whorl
    "expansion": (1.08, 1.36),  # radius ratio between successive chambers
    "flatten": (0.55, 1.05),  # axial / radial chamber radius: compressed (keeled) .. globular
    "spire": (0.0, 0.9),  # trochospire height per whorl, in final-chamber radii (0 = planispiral)
    "tightness": (0.58, 0.86),  # chamber distance from the coil axis (low = chambers crowd the umbilicus)
    "aperture": (0.12, 0.42),  # aperture radius / final chamber radius
    "pores": (0.0, 1.0),  # pore contrast of the wall
    "spines": (0.0, 1.0),  # spine halo / hispid roughness
    "size": (0.62, 0.86),  # shell diameter / image side
    "keel": (0.0, 0.6),  # brightness of a peripheral keel
    "albedo": (0.65, 1.0),  # wall brightness
    "elongation": (1.0, 1.35),  # radial / tangential chamber radius
    "whorls": (1.6, 2.8),  # number of whorls drawn
    "final_inflation": (0.8, 1.3),  # final chamber radius / the coil's expectation (reduced .. bulla-like)
    "gloss": (0.1, 0.6),  # specular strength of the wall
    "suture_depth": (0.35, 0.85),  # brightness kept at sutures (low = deeply incised)
    "grain": (0.0, 0.6),  # fine surface roughness
    "ambient": (0.12, 0.35),  # light reaching shaded walls (thin, translucent walls look evenly lit)
    "dextral": (0.1, 0.9),  # probability of dextral coiling
}
TRAIT_NAMES: tuple[str, ...] = tuple(TRAITS)

# Published morphology, as physical trait values (see module docstring for the sources).
PUBLISHED: dict[str, dict[str, float]] = {
    "Orbulina_universa": {"final_sphere": 1.0, "pores": 0.9, "spines": 0.8},
    "Globorotalia_menardii": {"keel": 1.0, "flatten": 0.45, "spire": 0.1, "chambers_per_whorl": 5.5},
    "Globorotalia_tumida": {"keel": 0.9, "flatten": 0.5, "elongation": 1.3, "chambers_per_whorl": 5.0},
    "Globorotalia_truncatulinoides": {"spire": 1.5, "keel": 0.8, "flatten": 0.75, "chambers_per_whorl": 4.5},
    "Globigerinella_siphonifera": {"spire": 0.0},
    "Globigerinella_calida": {"spire": 0.0},
    "Globigerinella_adamsi": {"spire": 0.0, "elongation": 1.6},
    "Hastigerina_pelagica": {"spire": 0.0, "elongation": 1.5, "spines": 1.0},
    "Beella_digitata": {"elongation": 1.6},
    "Sphaeroidinella_dehiscens": {"pores": 0.05, "albedo": 1.0, "spines": 0.0, "gloss": 0.7},
    "Pulleniatina_obliquiloculata": {"pores": 0.1, "albedo": 0.95, "spines": 0.0, "gloss": 0.65},
    "Candeina_nitida": {"pores": 0.15, "albedo": 1.0, "spines": 0.0, "gloss": 0.7},
    "Globigerinoides_ruber": {"chambers_per_whorl": 3.4, "flatten": 1.0},
    "Neogloboquadrina_pachyderma": {"dextral": 0.03},
    "Neogloboquadrina_incompta": {"dextral": 0.97},
}

VIEWS = ("spiral", "umbilical", "edge")
VIEW_PROBS = (0.4, 0.4, 0.2)


@dataclass(frozen=True)
class Specimen:
    """Everything needed to render one image; one manifest row (``row()``)."""

    traits: dict[str, float]  # physical trait values after intraspecific jitter (and overrides)
    final_sphere: float  # 1 = the final chamber envelops the shell (Orbulina)
    dextral: bool
    view: str
    tilt: float  # radians away from the canonical view
    tilt_axis: float  # radians, direction of the tilt
    rotation: float  # in-plane rotation, radians
    scale: float  # multiplies the species size
    offset: tuple[float, float]  # shell centre offset, fraction of the image half-side
    light_azimuth: float  # radians
    light_elevation: float  # radians above the image plane
    light_gain: float
    background: float  # background grey level in [0, 1]
    blur: float  # Gaussian blur sigma in pixels at 128 px
    noise: float  # sensor noise sigma in [0, 1] grey units
    debris: int  # number of debris particles

    def row(self) -> dict[str, float | int | str]:
        """Flat, CSV-ready specimen parameters (rounded to keep the manifest readable)."""
        out: dict[str, float | int | str] = {k: round(v, 4) for k, v in self.traits.items() if k != "dextral"}
        out.update(
            final_sphere=self.final_sphere,
            coiling="dextral" if self.dextral else "sinistral",
            view=self.view,
            tilt=round(self.tilt, 4),
            rotation=round(self.rotation, 4),
            scale=round(self.scale, 4),
            light_azimuth=round(self.light_azimuth, 4),
            light_gain=round(self.light_gain, 4),
            blur=round(self.blur, 4),
            noise=round(self.noise, 4),
            debris=self.debris,
        )
        return out


def to_physical(latent: np.ndarray) -> np.ndarray:
    """Map latent standard-normal trait values to physical ranges.

    Args:
        latent: ``[..., len(TRAITS)]``.

    Returns:
        Same shape, column t in ``TRAITS[t]``'s (low, high).
    """
    lo = np.array([v[0] for v in TRAITS.values()])
    hi = np.array([v[1] for v in TRAITS.values()])
    return lo + (hi - lo) * ndtr(latent)


def sample_specimen(
    species: str,
    latent: np.ndarray,
    rng: np.random.Generator,
    *,
    intra_spread: float,
    nuisance: float,
    published: bool = True,
) -> Specimen:
    """Draw one specimen of a species.

    Args:
        species: image-class name (selects published overrides).
        latent: ``[len(TRAITS)]`` the species' latent trait vector.
        rng: the specimen's own generator.
        intra_spread: std of the specimen's latent jitter, in units of the between-species std (1).
        nuisance: multiplier on imaging nuisances (tilt, lighting, blur, noise, debris); 0 = clean.
        published: apply ``PUBLISHED``'s overrides (False: the Brownian traits only; the random stream is the
            same either way, so pose, light and every other draw of the specimen are unchanged).

    Returns:
        The specimen.
    """
    z = latent + intra_spread * rng.standard_normal(latent.shape)
    traits = dict(zip(TRAIT_NAMES, to_physical(z).tolist(), strict=True))
    overrides = PUBLISHED.get(species, {})
    for name, value in overrides.items():
        if name in traits:
            # Published traits vary within a species too, by the same relative spread.
            lo, hi = TRAITS[name]
            jitter = 0.25 * intra_spread * (hi - lo) * float(rng.standard_normal())
            if published:
                traits[name] = value + jitter
    traits["chambers_per_whorl"] = max(traits["chambers_per_whorl"], 3.0)
    traits["elongation"] = max(traits["elongation"], 1.0)
    view = VIEWS[int(rng.choice(3, p=VIEW_PROBS))]
    return Specimen(
        traits=traits,
        final_sphere=float(overrides.get("final_sphere", 0.0)) if published else 0.0,
        dextral=bool(rng.random() < traits["dextral"]),
        view=view,
        tilt=abs(float(rng.normal(0.0, 0.25 * nuisance))),
        tilt_axis=float(rng.uniform(0, 2 * math.pi)),
        rotation=float(rng.uniform(0, 2 * math.pi)),
        scale=float(np.exp(rng.normal(0.0, 0.08 * nuisance))),
        offset=(float(rng.normal(0, 0.04 * nuisance)), float(rng.normal(0, 0.04 * nuisance))),
        light_azimuth=float(rng.normal(-2.3, 0.5 * nuisance)),
        light_elevation=float(np.clip(rng.normal(0.9, 0.15 * nuisance), 0.35, 1.45)),
        light_gain=float(np.exp(rng.normal(0.0, 0.15 * nuisance))),
        background=float(np.clip(rng.normal(0.08, 0.03 * nuisance), 0.0, 0.3)),
        blur=float(abs(rng.normal(0.6, 0.5 * nuisance))),
        noise=float(abs(rng.normal(0.02, 0.015 * nuisance))),
        debris=int(rng.poisson(1.5 * nuisance)),
    )
