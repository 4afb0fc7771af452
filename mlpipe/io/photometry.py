"""Photometry tables as users hold them: SDSS magnitudes (``modelMag``, ``cModelMag``, ... with
errors and Galactic extinction) or fluxes (nanomaggies or maggies with inverse variances, e.g. NSA's
``NMGY`` / ``NMGY_IVAR`` array columns), extinction-corrected or not, in any table format. A flux
column's own unit wins over the configured ``flux_unit``: (nano)maggies, or any spectral flux density
(Jy and its prefixes, erg s^-1 cm^-2 Hz^-1) converted to nanomaggies; another unit is an error.

Every reader output is the same: ``objid``, per band ``mag_<b>`` (extinction-corrected AB
magnitude) and ``mag_err_<b>``, and ``phot_problem``: "" for a galaxy whose required bands are
all usable, else the first reason (a missing-value marker such as 99 or -9999, inf, NaN, a flux
<= 0, a value outside its physical range).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.atomic import write_csv
from mlpipe.io.table import RawTable, read_table
from mlpipe.io.validation import (
    MAGNITUDE_MISSING,
    InputError,
    first_reason,
    log_luminosity,
    log_luminosity_error,
    range_reasons,
)

BANDS = "ugriz"
COLUMNS = ["objid"] + [f"{kind}_{b}" for kind in ("modelMag", "modelMagErr", "extinction")
                       for b in BANDS]
#: The defaults of ``inputs.photometry`` (workflow_config.yaml): SDSS modelMag ugriz with extinction.
DEFAULTS: dict[str, Any] = {"kind": "magnitudes", "magnitude": "modelMag", "flux_unit": "nanomaggies",
                            "extinction_corrected": False, "bands": BANDS, "band_order": BANDS,
                            "columns": {}}
#: nanomaggies per configured ``flux_unit`` (1 nanomaggy is AB magnitude 22.5, 3.631 uJy).
_NANOMAGGIES_PER = {"nanomaggies": 1.0, "maggies": 1.0e9}
_NANOMAGGY_ZERO_POINT = 22.5
#: 1 nanomaggy in Jy (erg s^-1 cm^-2 Hz^-1 of the AB zero point x 1e-9, over 1e-23 per Jy)
_NANOMAGGY_JY = physics.AB_ZERO_POINT_CGS * 1.0e-9 / 1.0e-23
_MAGGY_SPELLING = re.compile(r"^(nano|n)?(maggy|maggies|maggys|mgy)$")
#: markers of a missing value in a user's own extra columns (log L_g and its error)
EXTRA_MISSING = (-9999.0, -99.0)
ACCEPTED_FLUX_UNITS = ("nanomaggies, maggies, or a spectral flux density astropy converts "
                       "(Jy, mJy, uJy, nJy, erg s-1 cm-2 Hz-1, W m-2 Hz-1)")
_MAG_PER_LN = 2.5 / np.log(10.0)


def source_columns(settings: Mapping[str, Any], band: str) -> dict[str, str]:
    """Our names of a band's input columns (what ``columns`` maps): value, its error, extinction."""
    kind = settings["kind"]
    if kind == "magnitudes":
        mag = settings["magnitude"]
        out = {"value": f"{mag}_{band}", "error": f"{mag}Err_{band}"}
    else:
        out = {"value": f"flux_{band}", "error": f"flux_ivar_{band}"}
    if not settings["extinction_corrected"]:
        out["extinction"] = f"extinction_{band}"
    return out


def _band_values(raw: RawTable, name: str, band: str, settings: Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """A band's values and their column label: a per-band column, or one element of an array
    column mapped without the band suffix (``flux: NMGY`` with ``band_order: FNugriz``)."""
    column_map = settings["columns"]
    col = raw.find(name, column_map)
    if col is not None:
        return raw.numbers(col), col
    array_name = name.rsplit("_", 1)[0]
    col = raw.find(array_name, column_map)
    if col is not None and not raw.is_text and raw.columns[col].ndim == 2:
        order = settings["band_order"]
        if band not in order:
            raise InputError(f"{raw.path}: band {band} is not in inputs.photometry.band_order {order!r}")
        values = raw.array_numbers(col)
        if values.shape[1] != len(order):
            raise InputError(f"{raw.path}: column '{col}' has {values.shape[1]} elements per row, "
                             f"inputs.photometry.band_order {order!r} names {len(order)}")
        return values[:, order.index(band)], f"{col}[{order.index(band)}]"
    mapped = f" (mapped to '{column_map[name]}')" if name in column_map else ""
    raise InputError(f"{raw.path}: missing column {name}{mapped} for band {band}; map it with "
                     f"inputs.photometry.columns (the file has: {', '.join(list(raw.columns)[:40])})")


def _flux_unit(raw: RawTable, column: str, configured: str) -> tuple[str, float]:
    """(unit label, nanomaggies per unit) of a flux column: the file's own unit where it names one
    (nanomaggies, maggies, or any spectral flux density astropy converts: Jy and its prefixes,
    erg s^-1 cm^-2 Hz^-1), else the configured ``flux_unit``. Any other unit (``mag``, ``deg``,
    unparseable text) is an InputError naming file, column and unit."""
    from astropy import units as u

    unit = (raw.unit(column.split("[")[0]) or "").strip()
    if not unit:
        return configured, _NANOMAGGIES_PER[configured]
    spelled = _MAGGY_SPELLING.match(unit.lower().replace(" ", ""))
    if spelled:
        return ("nanomaggies", 1.0) if spelled.group(1) else ("maggies", _NANOMAGGIES_PER["maggies"])
    try:
        return unit, flux_density_unit(unit).to(u.Jy) / _NANOMAGGY_JY
    except u.UnitsError:
        raise InputError(f"{raw.path}: column '{column}' has unit {unit!r}, which is not a flux density; accepted: "
                         f"{ACCEPTED_FLUX_UNITS} (magnitudes: inputs.photometry.kind: magnitudes)") from None


def flux_density_unit(text: str):
    """An astropy unit from a file's unit text, the SDSS spellings of (nano)maggies (which astropy
    does not convert to Jy) read as 3.631 uJy and 3631 Jy; UnitsError when it is not a linear unit."""
    from astropy import units as u

    nmgy = u.def_unit("mlpipe_nanomaggy", _NANOMAGGY_JY * u.Jy)
    mgy = u.def_unit("mlpipe_maggy", _NANOMAGGIES_PER["maggies"] * _NANOMAGGY_JY * u.Jy)
    name = re.sub(r"(?i)(?<![a-z])(nanomagg(y|ies|ys)|nmgy)(?![a-z])", "mlpipe_nanomaggy", text)
    name = re.sub(r"(?i)(?<![a-z_])(magg(y|ies|ys)|mgy)(?![a-z])", "mlpipe_maggy", name)
    with u.add_enabled_units([nmgy, mgy]):
        parsed = u.Unit(name, parse_strict="silent")
    if not isinstance(parsed, u.UnitBase) or isinstance(parsed, u.UnrecognizedUnit):
        raise u.UnitsError(f"{text!r} is not a linear unit")
    return parsed


def _ivar_to_flux_unit(raw: RawTable, column: str, flux_nmgy_per_unit: float) -> float:
    """The factor that puts an inverse-variance column in the inverse square of its flux column's
    unit (``flux_nmgy_per_unit`` nanomaggies): 1 when the file gives it no unit (it is then in that
    unit's inverse square), else converted from its own unit (``1/uJy2``, ``nanomaggies^-2``); a
    unit that is not an inverse squared flux density is an InputError naming file, column and unit."""
    from astropy import units as u

    unit = (raw.unit(column.split("[")[0]) or "").strip()
    if not unit:
        return 1.0
    try:
        return flux_density_unit(unit).to(u.Jy**-2) * (flux_nmgy_per_unit * _NANOMAGGY_JY) ** 2
    except u.UnitsError:
        raise InputError(f"{raw.path}: column '{column}' has unit {unit!r}, which is not an inverse variance of a "
                         f"flux density (1 / flux^2); accepted: the inverse square of {ACCEPTED_FLUX_UNITS}, "
                         "or no unit (the inverse square of the flux column's unit)") from None


_MAGNITUDE_SPELLING = re.compile(r"^(ab)?(mag|mags|magnitude|magnitudes)?(ab)?$")


def _check_magnitude_unit(raw: RawTable, column: str) -> None:
    """A magnitude column (value, error or extinction) whose file gives it a unit must give a
    magnitude (mag, AB mag, ...): a flux unit means the table holds fluxes (``kind: fluxes``)."""
    unit = (raw.unit(column.split("[")[0]) or "").strip()
    spelled = re.sub(r"[\s_()]", "", unit.lower())
    if unit and not (spelled and _MAGNITUDE_SPELLING.match(spelled)):
        raise InputError(f"{raw.path}: column '{column}' has unit {unit!r}, not a magnitude; inputs.photometry.kind is "
                         "magnitudes (for fluxes set it to fluxes)")


def band_magnitudes(raw: RawTable, band: str, settings: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(extinction-corrected magnitude, its error, problem) of one band for every row."""
    names = source_columns(settings, band)
    value, value_col = _band_values(raw, names["value"], band, settings)
    error, error_col = _band_values(raw, names["error"], band, settings)
    if settings["kind"] == "magnitudes":
        _check_magnitude_unit(raw, value_col)
        _check_magnitude_unit(raw, error_col)
        marker = np.isin(value, MAGNITUDE_MISSING)
        problem = np.where(marker, np.array([f"{value_col} = {v:g} (missing-value marker)" for v in value], dtype=object), "")
        problem = first_reason(problem, np.where(np.isnan(value), f"{value_col} is missing", ""),
                               range_reasons(np.where(marker, np.nan, value), "mag", value_col))
        err_bad = np.isin(error, MAGNITUDE_MISSING) | np.isnan(error)
        problem = first_reason(problem, np.where(err_bad, f"{error_col} is missing", ""),
                               range_reasons(np.where(err_bad, np.nan, error), "mag_err", error_col))
        mag, mag_err = value, error
    else:
        unit, nmgy_per_unit = _flux_unit(raw, value_col, settings["flux_unit"])
        ivar_scale = _ivar_to_flux_unit(raw, error_col, nmgy_per_unit)
        good_flux = np.isfinite(value) & (value > 0)
        problem = np.where(good_flux, "", np.array([f"{value_col} = {v:g} is not a positive flux" for v in value],
                                                   dtype=object))
        good_ivar = np.isfinite(error) & (error > 0)
        problem = first_reason(problem, np.where(good_ivar, "", np.array(
            [f"{error_col} = {v:g} is not a positive inverse variance" for v in error], dtype=object)))
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = (_NANOMAGGY_ZERO_POINT - 2.5 * np.log10(nmgy_per_unit)
                   - 2.5 * np.log10(np.where(good_flux, value, np.nan)))
            mag_err = _MAG_PER_LN / (np.where(good_flux, value, np.nan)
                                     * np.sqrt(np.where(good_ivar, error * ivar_scale, np.nan)))
        problem = first_reason(problem, range_reasons(mag, "mag", f"the magnitude of {value_col} ({unit})"),
                               range_reasons(mag_err, "mag_err", f"the magnitude error of {value_col} and {error_col}"))
    if "extinction" in names:
        ext, ext_col = _band_values(raw, names["extinction"], band, settings)
        _check_magnitude_unit(raw, ext_col)
        problem = first_reason(problem, np.where(np.isnan(ext), f"{ext_col} is missing", ""),
                               range_reasons(ext, "extinction", ext_col))
        mag = mag - ext
    return mag, mag_err, problem


def user_log_luminosity(raw: RawTable, column: str, error_column: str | None = None
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """A user's own luminosity column (e.g. a Bayesian L_g) as log10(L / L_sun), and its error
    column in dex, each from the file's unit (:func:`~mlpipe.io.validation.log_luminosity`); a
    missing-value marker (-99, -9999, blank) is NaN."""
    what = f"{raw.path}, column '{column}'"
    values, _ = log_luminosity(raw.numbers(column, missing=EXTRA_MISSING), raw.unit(column), what)
    if error_column is None:
        return values, None
    errors = log_luminosity_error(raw.numbers(error_column, missing=EXTRA_MISSING), raw.unit(error_column),
                                  luminosity_log=values, luminosity_unit=raw.unit(column),
                                  what=f"{raw.path}, column '{error_column}'")
    return values, errors


def read_photometry(path: str | Path, settings: Mapping[str, Any] | None = None,
                    lum_g_column: str | None = None, required_bands: str | None = None) -> pd.DataFrame:
    """Read a photometry table. ``settings`` is ``inputs.photometry`` of the config (``DEFAULTS``
    where absent); the bands read are ``settings['bands']`` and each must be usable for a galaxy
    to pass (``required_bands`` narrows that, e.g. to the bands a bundle's predictor uses).
    ``lum_g_column``: a user's own luminosity column and its error ``<lum_g_column>_err``, read in
    their units (:func:`user_log_luminosity`).

    Returns objid, ``mag_<b>``, ``mag_err_<b>`` per band, ``<lum_g_column>`` (log10 L_g / L_sun) and
    ``<lum_g_column>_err`` (dex) where asked for, and ``phot_problem``.
    """
    settings = {**DEFAULTS, **(settings or {})}
    bands = settings["bands"] if required_bands is None else required_bands
    raw = read_table(path)
    found = raw.require(["objid"], settings["columns"], what="inputs.photometry.columns")
    df = pd.DataFrame({"objid": raw.ids(found["objid"])})
    # ids <= 0 are the padding rows of cross-matched tables (as in GSWLC): they match no galaxy
    dup = df["objid"].duplicated() & (df["objid"] > 0)
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{raw.where(row, found['objid'])}: duplicate id {df['objid'].iloc[row]}")
    problems = []
    for band in bands:
        df[f"mag_{band}"], df[f"mag_err_{band}"], problem = band_magnitudes(raw, band, settings)
        problems.append(problem)
    if lum_g_column:
        found = raw.require([lum_g_column, f"{lum_g_column}_err"], settings["columns"],
                            what="inputs.photometry.columns")
        df[lum_g_column], df[f"{lum_g_column}_err"] = user_log_luminosity(raw, found[lum_g_column],
                                                                          found[f"{lum_g_column}_err"])
    raw.check_column_map(settings["columns"], "inputs.photometry.columns", also_known=known_columns(settings))
    df["phot_problem"] = first_reason(*problems) if problems else ""
    return df


def known_columns(settings: Mapping[str, Any]) -> list[str]:
    """Our names of the photometry columns of every band (``source_columns``), and the array
    columns' names without the band (``flux: NMGY``): what ``columns`` may map whichever bands
    are read."""
    names = [name for band in BANDS for name in source_columns(settings, band).values()]
    return names + sorted({name.rsplit("_", 1)[0] for name in names})


def write_photometry(df: pd.DataFrame, path: str | Path) -> None:
    write_csv(df[COLUMNS].round(4), path)
