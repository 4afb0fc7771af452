"""Build the galaxy sample from GSWLC-2, SDSS photometry, HyperLeda and GZ2.

Every galaxy that does not make it into ``sample.csv`` is in ``rejected.csv`` with the stage and
the reason (the galaxies of the chi2 cut also with their chi2 and M/L), and the count after each
step goes to the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.catalog.crossmatch import match_nearest
from mlpipe.catalog.ml_target import band_luminosity, mass_to_light
from mlpipe.catalog.split import shard_of, split_labels
from mlpipe.io.atomic import write_csv
from mlpipe.io.gswlc import MISSING as GSWLC_MISSING
from mlpipe.io.gswlc import read_gswlc
from mlpipe.io.gz2_catalog import read_gz2
from mlpipe.io.hyperleda import read_hyperleda
from mlpipe.io.photometry import BANDS, read_photometry
from mlpipe.io.validation import InputError, first_reason, range_reasons

log = logging.getLogger(__name__)
#: columns rejected.csv keeps for the galaxies of the chi2 cut (empty for the other rejections)
CHI2_KEPT = ("redchisq", "ml", "ml_err")


class _Rejects:
    """Collects rejected galaxies with their reasons."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def add(self, df: pd.DataFrame, mask: np.ndarray, stage: str, reasons,
            keep: tuple[str, ...] = ()) -> pd.DataFrame:
        """Record the rows under ``mask`` (with their ``keep`` columns) and return the rest."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            reason = reasons[mask] if isinstance(reasons, (np.ndarray, pd.Series)) else reasons
            self.frames.append(pd.DataFrame({"objid": df["objid"].to_numpy()[mask], "stage": stage,
                                             "reason": np.asarray(reason, dtype=object),
                                             **{col: df[col].to_numpy()[mask] for col in keep}}))
        kept = df[~mask].reset_index(drop=True)
        log.info("%-28s %7d kept, %6d rejected", stage, len(kept), int(mask.sum()))
        return kept

    def table(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=["objid", "stage", "reason", *CHI2_KEPT])
        return pd.concat(self.frames, ignore_index=True)


def _fmt(prefix: str, values: pd.Series, suffix: str = "") -> np.ndarray:
    return np.array([f"{prefix}{v:.3g}{suffix}" for v in values], dtype=object)


def _range_mask(gal: pd.DataFrame, checks: list[tuple[str, str]]) -> np.ndarray:
    """The first range problem of each row over (column, quantity) pairs; "" when none."""
    return first_reason(*(range_reasons(gal[col].to_numpy(), quantity, col) for col, quantity in checks))


def _match_hyperleda(gal: pd.DataFrame, path: str, *, leda_inputs: Mapping[str, Any], match_arcsec: float,
                     d25_min_arcmin: float, rejects: _Rejects) -> pd.DataFrame:
    """Each galaxy's HyperLeda counterpart and D25; the D25 cut."""
    leda = read_hyperleda(path, leda_inputs.get("columns"), leda_inputs.get("units"))
    m = match_nearest(gal["ra"], gal["dec"], leda["leda_ra"], leda["leda_dec"], radius_arcsec=match_arcsec)
    reason = np.where(m["status"] == "taken",
                      "HyperLeda counterpart is closer to another galaxy (near-duplicate)",
                      f"no HyperLeda counterpart within {match_arcsec} arcsec").astype(object)
    names = leda["leda_name"].to_numpy()
    for row in np.flatnonzero(m["status"].to_numpy() == "ambiguous"):
        first, second = m.loc[row, ["nearest", "second"]]
        reason[row] = (f"ambiguous HyperLeda counterpart: {names[first]} at {m.loc[row, 'sep_arcsec']:.2f} arcsec "
                       f"and {names[second]} at {m.loc[row, 'second_sep_arcsec']:.2f} arcsec")
    gal = pd.concat([gal, m[["index", "sep_arcsec"]].rename(columns={"sep_arcsec": "leda_sep_arcsec"})], axis=1)
    gal = rejects.add(gal, m["status"].to_numpy() != "matched", "hyperleda_match", reason)
    gal = pd.concat([gal.drop(columns="index"),
                     leda.iloc[gal["index"].to_numpy()].reset_index(drop=True)], axis=1)
    reason = gal.pop("d25_problem").to_numpy()
    gal = rejects.add(gal, reason != "", "hyperleda_d25", reason)
    return rejects.add(gal, ~(gal["d25_arcmin"] > d25_min_arcmin), "cut_d25",
                       _fmt("D25 = ", gal["d25_arcmin"], f" arcmin <= {d25_min_arcmin}"))


def _gswlc_galaxies(path: str, columns: Mapping[str, str] | None, rejects: _Rejects) -> tuple[pd.DataFrame, int]:
    """The GSWLC rows with a usable SED fit (id, flags, redshift, mass and its error, chi2 in
    range), and the number of rows read."""
    gal = read_gswlc(path, columns).drop(columns="line")
    n_rows = len(gal)
    log.info("%-28s %7d", "GSWLC rows", n_rows)
    gal = rejects.add(gal, gal["objid"] <= 0, "gswlc_id",
                      _fmt("objid <= 0 (not a GSWLC galaxy, e.g. padding of a cross-match): ", gal["objid"]))
    flag = gal["flag_sed"].to_numpy()
    gal = rejects.add(gal, flag != 0, "gswlc_flags",
                      np.where(flag == GSWLC_MISSING, "no flag_sed (-99, blank or NULL): the SED fit's quality is unknown",
                               _fmt("SED fit flagged: flag_sed = ", gal["flag_sed"])))
    missing = gal[["z", "logmstar", "logmstarerr", "redchisq"]].isna().any(axis=1)
    gal = rejects.add(gal, missing, "gswlc_missing", "missing redshift, mass, mass error or chi2 (-99)")
    gal = rejects.add(gal, gal["z"] <= 0, "gswlc_redshift", _fmt("redshift <= 0: z = ", gal["z"]))
    gal = rejects.add(gal, gal["logmstarerr"] <= 0, "gswlc_mass_error",
                      _fmt("mass error <= 0: ", gal["logmstarerr"], " dex"))
    reason = _range_mask(gal, [("z", "z"), ("logmstar", "logmstar"), ("logmstarerr", "logmstarerr"),
                               ("redchisq", "redchisq")])
    return rejects.add(gal, reason != "", "gswlc_range", reason), n_rows


def _join_photometry(gal: pd.DataFrame, path: str, *, photometry_inputs: Mapping[str, Any] | None,
                     lum_column: str | None, rejects: _Rejects) -> pd.DataFrame:
    """Each galaxy's photometry row (and the user's own log10 L_g column ``lum_column`` with its
    error, when given), the galaxies without a usable one rejected."""
    lum_columns = [lum_column, f"{lum_column}_err"] if lum_column else []
    phot = read_photometry(path, photometry_inputs, lum_g_column=lum_column)
    gal = gal.merge(phot, on="objid", how="left", indicator=True)
    gal = rejects.add(gal, (gal.pop("_merge") != "both").to_numpy(), "photometry", "no photometry row for this objid")
    reason = gal.pop("phot_problem").to_numpy()
    gal = rejects.add(gal, reason != "", "photometry", reason)
    if lum_column:
        reason = first_reason(np.where(gal[lum_columns].isna().any(axis=1), f"no {lum_column} / {lum_column}_err", ""),
                              range_reasons(gal[lum_column].to_numpy(), "logLg", lum_column),
                              range_reasons(gal[f"{lum_column}_err"].to_numpy(), "logLg_err", f"{lum_column}_err"))
        gal = rejects.add(gal, reason != "", "luminosity", reason)
    return gal


def _add_ml_target(gal: pd.DataFrame, *, lum_column: str | None, cosmo, relative_error_floor: float) -> None:
    """The regression target: ``lum_g`` (L_sun), ``ml`` = M*/L_g and its error ``ml_err`` (solar units)."""
    if lum_column:  # the user's own (e.g. Bayesian) luminosity: log10(L_g / L_sun) and its error in dex
        gal["lum_g"] = 10.0 ** gal[lum_column]
        lum_error_mag = 2.5 * gal[f"{lum_column}_err"]
    else:
        gal["lum_g"] = band_luminosity(gal, z=gal["z"].to_numpy(), cosmo=cosmo)
        lum_error_mag = gal["mag_err_g"]
    gal["ml"], gal["ml_err"] = mass_to_light(logmstar_dex=gal["logmstar"], logmstar_err_dex=gal["logmstarerr"],
                                             lum_lsun=gal["lum_g"], lum_err_mag=lum_error_mag,
                                             relative_error_floor=relative_error_floor)


def _join_gz2(gal: pd.DataFrame, path: str | None, *, columns: Mapping[str, str] | None,
              match_arcsec: float) -> pd.DataFrame:
    """Each galaxy's GZ2 answers (``gz2_id``, the ``gz2_q*`` columns; NaN without a counterpart
    within ``match_arcsec``) and ``gz2_match``."""
    if path:
        gz2 = read_gz2(path, columns)
        gm = match_nearest(gal["ra"], gal["dec"], gz2["gz2_ra"], gz2["gz2_dec"], radius_arcsec=match_arcsec)
        matched = gm["status"].to_numpy() == "matched"
        if (gm["status"] == "ambiguous").any():
            log.info("%-28s %7d (two GZ2 entries at similar separations: no GZ2 answers)", "ambiguous GZ2 match",
                     int((gm["status"] == "ambiguous").sum()))
        gz2_cols = [c for c in gz2.columns if c.startswith("gz2_q")]
        gz2_rows = gz2.iloc[np.where(matched, gm["index"], 0)][["gz2_id", *gz2_cols]].reset_index(drop=True)
        gz2_rows[~matched] = np.nan
        gal = pd.concat([gal, gz2_rows], axis=1)
    else:
        matched = np.zeros(len(gal), dtype=bool)
    gal["gz2_match"] = matched
    log.info("%-28s %7d of %d", "with a GZ2 match", int(matched.sum()), len(gal))
    return gal


def build_sample(paths: Mapping[str, str | None], *, catalog_cfg: Mapping[str, Any], cosmo_cfg: Mapping[str, Any],
                 inputs: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stage's entry point: return the (sample, rejected) tables, every GSWLC row in one of the two.

    ``paths``: the catalogues ``gswlc``, ``photometry``, ``hyperleda`` and ``gz2``; without
    ``hyperleda`` (a table-only run: no images) there is no D25 and no D25 cut, without ``gz2``
    no galaxy has GZ2 answers. ``catalog_cfg``, ``cosmo_cfg`` and ``inputs`` are the config's
    ``catalog``, ``cosmology`` and ``inputs`` sections (each catalogue's column map, units and the
    photometry kind). The sample has one row per galaxy, sorted by objid: the catalogues' columns,
    ``lum_g`` and ``lum_<band>`` (L_sun), ``ml`` and ``ml_err`` (M*/L_g, solar units),
    ``pixel_kpc`` (kpc per SDSS pixel), the ``gz2_q*`` answers with ``gz2_match``, ``split``
    (train | validation | test) and ``shard``. ``rejected``: objid, stage, reason (and chi2 and
    M/L for the chi2 cut, M/L for the M/L range).
    """
    inputs = inputs or {}
    cosmo = physics.cosmology(cosmo_cfg["H0"], cosmo_cfg["Om0"])
    rejects = _Rejects()
    gal, n_rows = _gswlc_galaxies(paths["gswlc"], inputs.get("gswlc", {}).get("columns"), rejects)
    lum_column = catalog_cfg["lum_g_column"]
    gal = _join_photometry(gal, paths["photometry"], photometry_inputs=inputs.get("photometry"),
                           lum_column=lum_column, rejects=rejects)
    if paths.get("hyperleda"):
        gal = _match_hyperleda(gal, paths["hyperleda"], leda_inputs=inputs.get("hyperleda", {}),
                               match_arcsec=catalog_cfg["hyperleda_match_arcsec"],
                               d25_min_arcmin=catalog_cfg["d25_min_arcmin"], rejects=rejects)
    else:  # a table-only sample (no images): no D25 needed
        log.info("%-28s %7s", "no HyperLeda catalogue", "no D25")
    gal = rejects.add(gal, ~(gal["z"] > catalog_cfg["z_min"]), "cut_redshift",
                      _fmt("z = ", gal["z"], f" <= {catalog_cfg['z_min']} (too near for a redshift distance)"))
    _add_ml_target(gal, lum_column=lum_column, cosmo=cosmo, relative_error_floor=catalog_cfg["relative_error_floor"])
    # after M/L, so that the galaxies the chi2 cut drops keep theirs (the paper's Fig. 2 shows them)
    gal = rejects.add(gal, ~(gal["redchisq"] < catalog_cfg["chi2_max"]), "cut_chi2",
                      _fmt("reduced chi2 = ", gal["redchisq"], f" >= {catalog_cfg['chi2_max']}"),
                      keep=CHI2_KEPT)
    reason = range_reasons(gal["ml"].to_numpy(), "ml_g", "M*/L_g")
    gal = rejects.add(gal, reason != "", "ml_range", reason, keep=("ml", "ml_err"))
    for band in [b for b in BANDS if f"mag_{b}" in gal.columns and b != "g"]:
        gal[f"lum_{band}"] = band_luminosity(gal, z=gal["z"].to_numpy(), cosmo=cosmo, band=band)
    gal["pixel_kpc"] = physics.kpc_per_arcsec(gal["z"].to_numpy(), cosmo) * physics.SDSS_PIXEL_ARCSEC
    gal = _join_gz2(gal, paths.get("gz2"), columns=inputs.get("gz2", {}).get("columns"),
                    match_arcsec=catalog_cfg["gz2_match_arcsec"])

    gal["split"] = split_labels(gal["objid"].to_numpy(), test_fraction=catalog_cfg["test_fraction"],
                                validation_fraction=catalog_cfg["validation_fraction"], seed=catalog_cfg["seed"])
    gal["shard"] = shard_of(gal["objid"].to_numpy(), n_shards=catalog_cfg["n_shards"])
    for split, count in gal["split"].value_counts().items():
        log.info("%-28s %7d", f"split {split}", count)
    rejected = rejects.table()
    if len(gal) + len(rejected) != n_rows:
        raise InputError(f"{paths['gswlc']}: {n_rows} GSWLC rows but {len(gal)} in the sample and "
                         f"{len(rejected)} rejected; every row must be in one of them")
    if len(gal) == 0:
        raise InputError(f"no galaxy of the {n_rows} GSWLC rows of {paths['gswlc']} passed: "
                         f"{rejection_summary(rejected)}")
    return gal.sort_values("objid").reset_index(drop=True), rejected


def rejection_summary(rejected: pd.DataFrame, examples: int = 3) -> str:
    """The rejections by stage, largest first, each with one of its reasons: what a user reads
    when no galaxy is left."""
    parts = []
    for stage, rows in sorted(rejected.groupby("stage"), key=lambda item: -len(item[1]))[:examples]:
        parts.append(f"{len(rows)} at {stage} (e.g. objid {rows['objid'].iloc[0]}: {rows['reason'].iloc[0]})")
    more = rejected["stage"].nunique() - len(parts)
    return "; ".join(parts) + (f"; {more} more stage(s)" if more > 0 else "")


def write_sample(sample: pd.DataFrame, rejected: pd.DataFrame, *, n_shards: int, outdir: str | Path) -> None:
    """sample.csv, rejected.csv and one catalogue per shard (every shard file, even an empty one)."""
    outdir = Path(outdir)
    write_csv(sample, outdir / "sample.csv")
    write_csv(rejected, outdir / "rejected.csv")
    for shard in range(n_shards):
        write_csv(sample[sample["shard"] == shard], outdir / "shards" / f"shard-{shard}.csv")
    # shards of an earlier run with more of them would hold galaxies of this run's shards too
    for stale in (outdir / "shards").glob("shard-*.csv"):
        index = stale.stem.removeprefix("shard-")
        if not (index.isdigit() and int(index) < n_shards):
            stale.unlink()
