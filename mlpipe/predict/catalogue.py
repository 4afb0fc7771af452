"""The catalogue of new galaxies to predict: position, redshift, D25 (when images are used) and the
photometry of the bands the predictor reads, in any table format mlpipe reads.

Required columns: ``objid``, ``ra``, ``dec`` (degrees), ``z``; ``d25_arcmin`` (or HyperLeda's
``logd25``) when the predictor reads images; the photometry columns of ``inputs.photometry`` (SDSS
``modelMag_<band>`` with ``modelMagErr_<band>`` and ``extinction_<band>`` by default, or fluxes) for
the bands a colour predictor uses; the luminosity column the bundle was trained with
(``catalog.lum_g_column``, log10 L_g / L_sun) where it was. ``column_map`` = {our name: yours}.

``d25_arcmin`` is in arcmin unless the file gives it another angle unit (``arcsec``, ``deg``), which
is converted; a unit that is not an angle is an error. ``logd25`` is log10(D25 / 0.1 arcmin) and is
read as the HyperLeda reader reads it (:func:`mlpipe.io.validation.log_d25`): a log of another angle
(``[0.1arcmin]``, ``dex(arcmin)``) is rebased, a plain angle unit (``arcmin``, ``arcsec``, ``deg``)
means the column holds the diameter itself, which is converted to the log; another unit is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlpipe.io.photometry import DEFAULTS as PHOTOMETRY_DEFAULTS
from mlpipe.io.photometry import band_magnitudes, known_columns, source_columns, user_log_luminosity
from mlpipe.io.table import read_table
from mlpipe.io.validation import InputError, first_reason, log_d25, range_reasons

REQUIRED = ["objid", "ra", "dec", "z"]


def read_new_galaxies(path: str | Path, *, bands: str = "", needs_d25: bool = True,
                      photometry: Mapping[str, Any] | None = None, column_map: Mapping[str, str] | None = None,
                      extra_columns: Sequence[str] = (), optional_columns: Sequence[str] = (),
                      optional_bands: str = "", lum_g_column: str | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (galaxies, rejected). Rows with an unusable redshift, D25 (when ``needs_d25``; arcmin),
    magnitude of one of ``bands`` (99, -9999, inf, NaN, outside the physical range) or extra
    column are rejected with the reason; galaxies keep ``mag_<b>``/``mag_err_<b>`` per band.
    ``lum_g_column`` (the bundle's ``catalog.lum_g_column``, log10 L_g / L_sun), where the catalogue
    has it, is read and checked as the sample builder checks it: a missing value (blank, -99,
    -9999) or one outside ``RANGES['logLg']`` rejects the galaxy with the reason."""
    settings = {**PHOTOMETRY_DEFAULTS, **(photometry or {})}
    predict_map = column_map
    column_map = {**settings["columns"], **(column_map or {})}
    settings["columns"] = column_map
    if not Path(path).exists():
        raise InputError(f"{path}: no such catalogue of galaxies to predict")
    raw = read_table(path)
    found = raw.require(REQUIRED, column_map, what="inputs.predict.columns")
    df = pd.DataFrame({"objid": raw.ids(found["objid"])})
    dup = df["objid"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{raw.where(row, found['objid'])}: duplicate id {df['objid'].iloc[row]}")
    for name in ("ra", "dec", "z"):
        df[name] = raw.angles(found[name]) if name in ("ra", "dec") else raw.numbers(found[name])
    for name, lo, hi in (("ra", 0.0, 360.0), ("dec", -90.0, 90.0)):
        bad = ~df[name].between(lo, hi).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{raw.where(row, found[name])}: {df[name].iloc[row]} is outside [{lo:g}, {hi:g}]")
    z = df["z"].to_numpy()
    reasons = [np.where(~(z > 0), "redshift missing or <= 0", ""), range_reasons(z, "z", "redshift")]
    if needs_d25:
        d25_col, log_col = raw.find("d25_arcmin", column_map), raw.find("logd25", column_map)
        if d25_col is None and log_col is None:
            raise InputError(f"{path}: missing column d25_arcmin (or logd25), needed for the images' field of view")
        d25 = raw.angles(d25_col, unit="arcmin") if d25_col else np.full(len(df), np.nan)
        if log_col:   # where d25_arcmin is blank (or absent), from logd25
            from_log = 0.1 * 10.0 ** log_d25(raw.numbers(log_col), raw.unit(log_col), f"{path}, column '{log_col}'")
            d25 = np.where(np.isnan(d25), from_log, d25)
        df["d25_arcmin"] = d25
        reasons += [np.where(~(d25 > 0), "no D25 (needed for the field of view)", ""),
                    range_reasons(d25, "d25_arcmin", "D25 (arcmin)")]
    for band in bands:
        df[f"mag_{band}"], df[f"mag_err_{band}"], problem = band_magnitudes(raw, band, settings)
        reasons.append(problem)
    extra = raw.require(list(extra_columns), column_map, what="inputs.predict.columns")
    for name, col in extra.items():
        df[name] = raw.numbers(col)
        reasons.append(np.where(np.isfinite(df[name]), "", f"{col} is missing or not finite"))
    for band in optional_bands:  # read where the catalogue has them (L_g for M*); unusable values are NaN
        if band not in bands and raw.find(source_columns(settings, band)["value"], column_map) is not None:
            mag, mag_err, problem = band_magnitudes(raw, band, settings)
            df[f"mag_{band}"], df[f"mag_err_{band}"] = np.where(problem == "", mag, np.nan), mag_err
    for name in optional_columns:  # read where the catalogue has them
        col = raw.find(name, column_map)
        if col is not None:
            df[name] = raw.numbers(col)
    lum_col = raw.find(lum_g_column, column_map) if lum_g_column else None
    if lum_col is not None:  # the user's own log10 L_g / L_sun, checked as build-sample checks it
        df[lum_g_column] = lum = user_log_luminosity(raw, lum_col)[0]
        reasons += [np.where(np.isnan(lum), f"no {lum_col} (blank or a missing-value marker)", ""),
                    range_reasons(lum, "logLg", lum_col)]
    lum_columns = [lum_g_column, f"{lum_g_column}_err"] if lum_g_column else []
    known = [*known_columns(settings), "d25_arcmin", "logd25", *lum_columns, *optional_columns]
    # read where the catalogue has them: a map may name them for a catalogue that has not
    optional = [*(name for band in optional_bands for name in source_columns(settings, band).values()),
                *lum_columns, *optional_columns, "d25_arcmin", "logd25"]
    own = dict(predict_map or {})
    raw.check_column_map(own, "inputs.predict.columns", also_known=known, optional=optional)
    # the photometry table's map is the training catalogue's: only the columns this catalogue must have count
    raw.check_column_map({k: v for k, v in column_map.items() if k not in own}, "inputs.photometry.columns",
                         also_known=known, optional=[*known, *optional])
    reason = first_reason(*reasons)
    bad = reason != ""
    rejected = pd.DataFrame({"objid": df.loc[bad, "objid"], "reason": reason[bad]})
    return df[~bad].reset_index(drop=True), rejected.reset_index(drop=True)
