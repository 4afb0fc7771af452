"""Observe the mock population: the catalogues a survey would publish, in their real layouts."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe.io import photometry

OBJID_BASE = 1237645000000000000
PGC_BASE = 3000000


def sky_positions(rng: np.random.Generator, n: int, ra_range, dec_range) -> tuple[np.ndarray, np.ndarray]:
    """Positions uniform on the sphere inside an RA/Dec box."""
    ra = rng.uniform(*ra_range, n)
    sin_dec = rng.uniform(np.sin(np.radians(dec_range[0])), np.sin(np.radians(dec_range[1])), n)
    return ra, np.degrees(np.arcsin(sin_dec))


def offset_positions(rng: np.random.Generator, ra, dec, sigma_arcsec: float):
    """Scatter positions by a Gaussian of ``sigma_arcsec`` per axis (catalogue astrometry)."""
    d_dec = rng.normal(0, sigma_arcsec, len(ra)) / 3600.0
    d_ra = rng.normal(0, sigma_arcsec, len(ra)) / 3600.0 / np.cos(np.radians(dec))
    return (np.asarray(ra) + d_ra) % 360.0, np.clip(np.asarray(dec) + d_dec, -90, 90)


def assign_identity(pop: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """SDSS-like object ids and sky positions for every galaxy."""
    pop = pop.copy()
    pop["objid"] = OBJID_BASE + np.sort(rng.choice(10**12, len(pop), replace=False))
    pop["ra"], pop["dec"] = sky_positions(rng, len(pop), cfg["ra_range"], cfg["dec_range"])
    return pop


def gswlc_table(pop: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """SED-fit results: log M* with its error, reduced chi2 with a tail of bad fits."""
    n = len(pop)
    sed = cfg["sed_fit"]
    err = rng.uniform(*sed["log_mass_error_range"], n)
    bad = rng.random(n) < sed["bad_fit_fraction"]
    chi2 = np.where(bad, rng.uniform(5.0, 30.0, n), rng.gamma(2.0, 0.5, n))
    logm = pop["log_mass"].to_numpy() + rng.normal(0, err) + bad * rng.normal(0, 0.3, n)
    flag = (rng.random(n) < sed["flagged_fraction"]).astype(int)
    return pd.DataFrame({
        "objid": pop["objid"], "glxid": 2411500000000000000 + np.arange(n),
        "plate": rng.integers(266, 2974, n), "mjd": rng.integers(51578, 54663, n),
        "fiber_id": rng.integers(1, 641, n), "ra": pop["ra"].round(7), "dec": pop["dec"].round(7),
        "z": pop["z"].round(6), "redchisq": chi2, "logmstar": logm, "logmstarerr": err,
        "logsfrsed": rng.normal(0, 0.5, n), "logsfrsederr": rng.uniform(0.05, 0.3, n),
        "afuv": pop["a_g"] * 2.5, "afuverr": np.full(n, 0.2), "ab": pop["a_g"] * 1.3,
        "aberr": np.full(n, 0.1), "av": pop["a_g"] * 0.8, "averr": np.full(n, 0.1),
        "flag_sed": flag, "uv_survey": rng.integers(1, 4, n), "logsfraw": np.full(n, np.nan),
        "flag_wise": np.full(n, 5), "logsfruw": rng.normal(0, 0.5, n),
        "flag_unwise": np.zeros(n, dtype=int), "flag_mgs": np.ones(n, dtype=int)})


def photometry_table(pop: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """SDSS modelMag ugriz: colours follow g-i; observed magnitudes include Galactic extinction."""
    n = len(pop)
    g = pop["g_mag"].to_numpy()
    gi = pop["g_minus_i"].to_numpy()
    intrinsic = {"u": g + 0.6 + 1.1 * gi, "g": g, "r": g - 0.68 * gi, "i": g - gi,
                 "z": g - gi - (0.05 + 0.25 * gi)}
    ebv = rng.uniform(*cfg["galactic_ebv_range"], n)
    coeff = {"u": 5.155, "g": 3.793, "r": 2.751, "i": 2.086, "z": 1.479}  # SDSS A_band / E(B-V)
    out = {"objid": pop["objid"]}
    for b in photometry.BANDS:
        err = 0.01 + 0.02 * 10 ** (0.4 * (intrinsic[b] - 18.0))
        out[f"modelMag_{b}"] = intrinsic[b] + coeff[b] * ebv + rng.normal(0, err)
        out[f"modelMagErr_{b}"] = err
        out[f"extinction_{b}"] = coeff[b] * ebv
    return pd.DataFrame(out)[photometry.COLUMNS]


def hyperleda_table(pop: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """HyperLeda: arcsecond astrometry, logd25 with measurement scatter, some galaxies missing
    and unrelated galaxies added."""
    leda = cfg["hyperleda"]
    keep = rng.random(len(pop)) >= leda["missing_fraction"]
    ra, dec = offset_positions(rng, pop["ra"][keep], pop["dec"][keep], leda["position_sigma_arcsec"])
    d25 = np.maximum(pop["d25_arcmin"][keep].to_numpy(), 1e-3)
    logd25 = np.log10(d25 / 0.1) + rng.normal(0, leda["logd25_sigma"], keep.sum())
    n_extra = int(leda["extra_fraction"] * len(pop))
    ex_ra, ex_dec = sky_positions(rng, n_extra, cfg["ra_range"], cfg["dec_range"])
    table = pd.DataFrame({"leda_ra": np.concatenate([ra, ex_ra]),
                          "leda_dec": np.concatenate([dec, ex_dec]),
                          "logd25": np.concatenate([logd25, rng.uniform(-0.5, 1.0, n_extra)])})
    table = table.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)
    table["pgc"] = PGC_BASE + np.arange(len(table))
    table["leda_name"] = [f"PGC{p:07d}" for p in table["pgc"]]
    return table


def star_table(pop: pd.DataFrame, cfg: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """Foreground stars around every galaxy large enough to be imaged (density per arcmin^2,
    power-law magnitude counts), plus a few exactly on the galaxy's disk to test the subtraction."""
    st = cfg["stars"]
    rows = []
    for ra0, dec0, d25 in zip(pop["ra"], pop["dec"], pop["d25_arcmin"]):
        if d25 < st["min_d25_arcmin"]:
            continue
        half = 0.5 * cfg["render_fov_d25"] * max(d25, st["min_d25_arcmin"]) * 60.0  # arcsec
        area = (2 * half / 60.0) ** 2
        n = rng.poisson(st["density_per_arcmin2"] * area)
        dx, dy = rng.uniform(-half, half, (2, n))
        mags = st["mag_range"][1] - rng.exponential(st["mag_scale"], n)
        rows.append(np.column_stack([ra0 - dx / 3600.0 / np.cos(np.radians(dec0)),
                                     dec0 + dy / 3600.0, np.clip(mags, *st["mag_range"])]))
    data = np.concatenate(rows) if rows else np.empty((0, 3))
    return pd.DataFrame(data, columns=["ra", "dec", "psfMag_g"])
