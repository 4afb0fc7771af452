"""Draw the mock galaxy population: the hidden truth behind every mock catalogue and image.

Each relation is a documented config value (``mock:`` in workflow_config.yaml). M/L follows the
colour-M/L relation of a single stellar population, and departs from it, at fixed observed g-i,
through the galaxy's morphology, as in real galaxies:

- **composite populations** (bulge fraction): a disk galaxy is an old bulge plus a younger disc.
  Its g-i is light-weighted, its M/L is the light-weighted *linear* mean of the two, so a
  two-component galaxy has a higher M/L than the relation gives for its integrated colour, most
  at intermediate bulge fractions (Zibetti et al. 2009, MNRAS 400, 1181; Bell & de Jong 2001).
- **dust geometry** (axis ratio): the attenuation of a disc grows with inclination (Maller et al.
  2009, ApJ 691, 394), but the extra attenuation of inclined, optically thick lines of sight is
  nearly grey (Tuffs et al. 2004, A&A 419, 821; Disney et al. 1989): edge-on discs dim far more
  than they redden, so their M/L lies above the relation.
- **bursts** (irregulars): a recent burst dominates the light but not the mass, and its colour is
  redder than its M/L implies (nebular emission and the dust of birth clouds, Charlot & Fall 2000,
  ApJ 539, 718), so bursty galaxies lie below the relation (Bell & de Jong 2001, ApJ 550, 212,
  their burst models). The burst's light fraction sets the number of star-forming knots that the
  images and the GZ2 votes show.
- **age at fixed colour** (luminosity): older, more metal-rich populations at higher mass.

Features fade with redshift in GZ2 votes (mock/votes.py); the renderer (mock/render.py) draws
bulge, disc, dust lane, bar, arms and knots from the same truth.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics

TYPES = ("elliptical", "disk", "irregular")
MAX_DRAW_ROUNDS = 200
D25_CHUNK = 20000  # galaxies per chunk of the isophote search (bounds its memory)


def _schechter_log_mass(rng: np.random.Generator, n: int, cfg: Mapping[str, Any]) -> np.ndarray:
    """Log stellar masses from a Schechter function by rejection sampling."""
    lo, hi = cfg["log_mass_range"]
    m_star, alpha = cfg["schechter_log_mstar"], cfg["schechter_alpha"]
    grid = np.linspace(lo, hi, 2000)
    x = 10.0 ** (grid - m_star)
    pdf = x ** (alpha + 1.0) * np.exp(-x)
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


class _Distances:
    """Distance modulus and kpc per arcsec on a fine redshift grid (interpolated: astropy's
    integrals per galaxy dominated the draw; the grid is exact to < 1e-6 mag)."""

    def __init__(self, cosmo, z_range, n: int = 4000):
        self.grid = np.linspace(z_range[0], z_range[1], n)
        self.volume = cosmo.comoving_volume(self.grid).value
        self.distmod = physics.distance_modulus(self.grid, cosmo)
        self.kpc = physics.kpc_per_arcsec(self.grid, cosmo)

    def modulus(self, z):
        return np.interp(z, self.grid, self.distmod)

    def kpc_per_arcsec(self, z):
        return np.interp(z, self.grid, self.kpc)

    def volume_redshifts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Redshifts uniform in comoving volume between the grid's limits."""
        return np.interp(rng.uniform(self.volume[0], self.volume[-1], n), self.volume, self.grid)


def _types(rng: np.random.Generator, log_mass: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Type fractions depend on mass: ellipticals dominate at high mass, irregulars at low mass."""
    t = cfg["types"]
    p_ell = t["elliptical_max_fraction"] / (1 + np.exp(-(log_mass - t["elliptical_log_mass"]) / 0.3))
    p_irr = t["irregular_max_fraction"] / (1 + np.exp((log_mass - t["irregular_log_mass"]) / 0.3))
    u = rng.random(log_mass.size)
    return np.where(u < p_ell, "elliptical", np.where(u < p_ell + p_irr, "irregular", "disk"))


def colour_of(log_ml: np.ndarray, ml: Mapping[str, Any]) -> np.ndarray:
    """Rest-frame g-i of a single stellar population with this dust-free log M/L_g."""
    return (np.asarray(log_ml) - ml["colour_zero_point"]) / ml["colour_slope"]


def combine(light_fraction: np.ndarray, log_ml_a: np.ndarray, colour_a: np.ndarray,
            log_ml_b: np.ndarray, colour_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log M/L_g and g-i of two populations, the first giving ``light_fraction`` of the g light:
    M/L is the light-weighted mean of the two M/L, g-i the colour of the summed g and i fluxes."""
    f = np.asarray(light_fraction)
    ml = f * 10.0 ** log_ml_a + (1 - f) * 10.0 ** log_ml_b
    i_over_g = f * 10.0 ** (0.4 * colour_a) + (1 - f) * 10.0 ** (0.4 * colour_b)
    return np.log10(ml), 2.5 * np.log10(i_over_g)


def _draw_batch(rng: np.random.Generator, n: int, cfg: Mapping[str, Any], dist: _Distances) -> pd.DataFrame:
    ml, dust, size, burst = cfg["mass_to_light"], cfg["dust"], cfg["size"], cfg["bursts"]
    log_mass = _schechter_log_mass(rng, n, cfg)
    z = dist.volume_redshifts(rng, n)
    kind = _types(rng, log_mass, cfg)
    ell, disk, irr = kind == "elliptical", kind == "disk", kind == "irregular"

    bulge_fraction = np.where(ell, 1.0, np.where(disk, rng.beta(*ml["bulge_fraction_beta"], n) * 0.8, 0.0))
    inclination = np.degrees(np.arccos(rng.random(n)))  # isotropic orientations
    axis_ratio = np.where(ell, rng.uniform(0.55, 1.0, n), np.where(
        disk, np.sqrt(np.cos(np.radians(inclination)) ** 2 * 0.96 + 0.04), rng.uniform(0.4, 0.9, n)))

    def population(log_ml_mean):
        """A stellar population with this mean dust-free log M/L: (log M/L, colour)."""
        log_ml_pop = log_ml_mean + rng.normal(0.0, ml["scatter_dex"], n)
        return log_ml_pop, colour_of(log_ml_pop, ml) + rng.normal(0.0, ml["colour_scatter_mag"], n)

    # ellipticals: one old population
    ell_ml, ell_col = population(ml["elliptical_log"] + ml["mass_slope"] * (log_mass - 11.0))
    # disk galaxies: an old bulge and a younger disc, mixed by the bulge's share of the g light
    bulge_ml, bulge_col = population(ml["bulge_log"] + ml["mass_slope"] * (log_mass - 10.5))
    disc_ml, disc_col = population(ml["disk_log"] + ml["mass_slope"] * (log_mass - 10.3))
    disk_ml, disk_col = combine(bulge_fraction, bulge_ml, bulge_col, disc_ml, disc_col)
    # irregulars: an underlying population and a burst that dominates the light, not the mass
    burst_fraction = np.where(irr, rng.uniform(*burst["light_fraction_range"], n), 0.0)
    under_ml, under_col = population(np.full(n, ml["irregular_log"]))
    burst_ml = np.full(n, burst["log_ml"])
    burst_col = colour_of(burst_ml, ml) + burst["colour_excess_mag"]
    irr_ml, irr_col = combine(burst_fraction, burst_ml, burst_col, under_ml, under_col)

    log_ml0 = np.select([ell, disk, irr], [ell_ml, disk_ml, irr_ml])
    colour0 = np.select([ell, disk, irr], [ell_col, disk_col, irr_col])
    outlier = rng.random(n) < ml["outlier_fraction"]
    shift = outlier * rng.choice([-1.0, 1.0], n) * ml["outlier_shift_dex"]
    log_ml0 = log_ml0 + shift
    colour0 = colour0 + shift / ml["colour_slope"]
    # At fixed colour, M/L still rises with mass (older, more metal-rich populations): a part of
    # M/L that the colour does not carry but the luminosities do.
    log_ml0 = log_ml0 + ml["mass_slope_at_fixed_colour"] * (log_mass - 10.5)

    # Dust: a face-on screen reddens like Galactic dust; the extra attenuation of an inclined disc
    # comes from optically thick lines of sight and is nearly grey.
    face_on_att = np.clip(rng.normal(dust["disk_face_on_ag"], 0.1, n), 0.0, None)
    cos_i = np.clip(np.cos(np.radians(inclination)), 0.05, 1.0)
    a_face = np.select([ell, disk, irr], [np.full(n, dust["elliptical_ag"]), face_on_att,
                                          np.full(n, dust["irregular_ag"])])
    a_incl = np.where(disk, face_on_att * dust["inclination_boost"] * (1 - cos_i), 0.0)
    a_g = a_face + a_incl
    log_ml = log_ml0 + 0.4 * a_g
    rest_g_minus_i = colour0 + dust["reddening_per_mag"] * a_face + dust["inclined_reddening_per_mag"] * a_incl
    # Observed-frame colour: redder with redshift, more so for red spectra (a K-correction that a
    # colour-only law cannot undo without the redshift).
    g_minus_i = rest_g_minus_i + cfg["k_correction_gi_per_z"] * z * np.clip(rest_g_minus_i, 0.2, None)

    log_lum_g = log_mass - log_ml
    g_abs = physics.SUN_ABS_MAG_G - 2.5 * log_lum_g
    g_app = g_abs + dist.modulus(z)

    log_re_kpc = np.select(
        [ell, disk, irr],
        [size["elliptical"][0] + size["elliptical"][1] * (log_mass - 11.0),
         size["disk"][0] + size["disk"][1] * (log_mass - 10.5),
         size["irregular"][0] + size["irregular"][1] * (log_mass - 9.5)])
    log_re_kpc += rng.normal(0.0, size["scatter_dex"], n)
    re_arcsec = 10 ** log_re_kpc / dist.kpc_per_arcsec(z)
    clumps = np.round(burst["clumps_min"] + (burst["clumps_max"] - burst["clumps_min"])
                      * (burst_fraction - burst["light_fraction_range"][0])
                      / max(np.ptp(burst["light_fraction_range"]), 1e-9) + rng.uniform(-0.5, 0.5, n))

    return pd.DataFrame({
        "type": kind, "z": z, "log_mass": log_mass, "bulge_fraction": bulge_fraction,
        "inclination_deg": inclination, "axis_ratio": axis_ratio,
        "position_angle_deg": rng.uniform(0, 180, n), "log_ml_intrinsic": log_ml0,
        "log_ml": log_ml, "a_g": a_g, "rest_g_minus_i": rest_g_minus_i, "g_minus_i": g_minus_i,
        "g_mag": g_app, "burst_fraction": burst_fraction,
        "re_arcsec": re_arcsec, "bulge_re_ratio": rng.uniform(0.12, 0.3, n),
        "has_bar": disk & (rng.random(n) < cfg["features"]["bar_fraction"]),
        "n_arms": np.where(disk, rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.55, 0.2, 0.1, 0.05]), 0),
        "arm_pitch_deg": rng.uniform(10, 35, n),
        "n_clumps": np.where(irr, np.clip(clumps, burst["clumps_min"], burst["clumps_max"]), 0).astype(int),
        "psf_fwhm_arcsec": np.clip(rng.normal(cfg["psf_fwhm_arcsec"], 0.2, n), 0.8, 2.5),
    })


def isophotal_d25_arcmin(df: pd.DataFrame, limit_mu_b: float, b_minus_g: float) -> np.ndarray:
    """Major-axis diameter at mu_B = 25 mag/arcsec^2, with (1+z)^4 surface-brightness dimming.

    Bulge and disk are Sersic n=4 and n=1; an inclined, optically thin disk is brighter along its
    major axis by 1/cos(i) (capped at 10) and dimmed by its dust. The profile falls monotonically,
    so the isophote is found by bisection in log radius between 0.05" and 300" (0 when even the
    centre is fainter, 300" when the whole range is brighter).
    """
    bt = df["bulge_fraction"].to_numpy()
    total = df["g_mag"].to_numpy()
    re = df["re_arcsec"].to_numpy()
    n_main = np.where((df["type"] == "irregular").to_numpy(), 0.8, 1.0)
    boost = np.minimum(1.0 / np.clip(np.cos(np.radians(df["inclination_deg"].to_numpy())), 0.1, 1), 10.0) \
        * 10 ** (-0.4 * df["a_g"].to_numpy() * 0.5)
    re_bulge = np.where(bt >= 1, re, re * df["bulge_re_ratio"].to_numpy())
    bulge_mag = total - 2.5 * np.log10(np.maximum(bt, 1e-9))
    main_mag = total - 2.5 * np.log10(np.maximum(1 - bt, 1e-9))
    offset = b_minus_g + 10 * np.log10(1 + df["z"].to_numpy())

    def mu_b(r):
        bulge = np.where(bt > 0, physics.sersic_intensity(r, bulge_mag, re_bulge, 4.0), 0.0)
        main = np.where(bt < 1, physics.sersic_intensity(r, main_mag, re, n_main) * boost, 0.0)
        return -2.5 * np.log10(np.maximum(bulge + main, 1e-300)) + offset

    lo, hi = np.full(len(df), np.log(0.05)), np.full(len(df), np.log(300.0))
    inner_faint = mu_b(np.exp(lo)) >= limit_mu_b
    outer_bright = mu_b(np.exp(hi)) < limit_mu_b
    with np.errstate(over="ignore"):
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            brighter = mu_b(np.exp(mid)) < limit_mu_b
            lo, hi = np.where(brighter, mid, lo), np.where(brighter, hi, mid)
    radius = np.where(inner_faint, 0.0, np.where(outer_bright, 300.0, np.exp(lo)))
    return 2.0 * radius / 60.0


def draw_population(cfg: Mapping[str, Any], cosmo) -> pd.DataFrame:
    """The galaxies that the mock spectroscopic survey targets (brighter than its flux limit)."""
    rng = np.random.default_rng(cfg["seed"])
    dist = _Distances(cosmo, cfg["redshift_range"])
    batches, kept = [], 0
    for _ in range(MAX_DRAW_ROUNDS):
        batch = _draw_batch(rng, 4 * cfg["n_galaxies"], cfg, dist)
        batch = batch[batch["g_mag"] < cfg["flux_limit_g"]]
        batches.append(batch)
        kept += len(batch)
        if kept >= cfg["n_galaxies"]:
            break
    else:
        raise RuntimeError("mock population: too few galaxies pass the flux limit; widen the ranges")
    pop = pd.concat(batches, ignore_index=True).iloc[: cfg["n_galaxies"]].reset_index(drop=True)
    pop["d25_arcmin"] = np.concatenate([
        isophotal_d25_arcmin(pop.iloc[i: i + D25_CHUNK], 25.0, cfg["b_minus_g"])
        for i in range(0, len(pop), D25_CHUNK)]) if len(pop) else np.empty(0)
    return pop
