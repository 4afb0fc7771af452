"""Checks shared by the catalogue readers; every message names the file, line and column."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd


class InputError(ValueError):
    """A malformed input file: the message says where and what."""


def require_columns(df: pd.DataFrame, columns: Iterable[str], path: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")


def to_numeric(df: pd.DataFrame, columns: Iterable[str], path: str, first_line: int) -> pd.DataFrame:
    """Convert columns to numbers; text in a numeric column is an error naming line and column.

    ``first_line`` is the file line number of the first data row.
    """
    out = df.copy()
    for col in columns:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna() & (out[col].astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                             f"not a number: {out[col].iloc[row]!r}")
        out[col] = values
    return out


def check_sky_positions(df: pd.DataFrame, ra: str, dec: str, path: str, first_line: int) -> None:
    for col, lo, hi in ((ra, 0.0, 360.0), (dec, -90.0, 90.0)):
        bad = ~df[col].between(lo, hi)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                             f"{df[col].iloc[row]} is outside [{lo}, {hi}]")


def check_unique(df: pd.DataFrame, col: str, path: str, first_line: int) -> None:
    dup = df[col].duplicated(keep="first")
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{path}: line {first_line + row}, column '{col}': "
                         f"duplicate id {df[col].iloc[row]}")


def read_csv_checked(path: str, columns: Iterable[str], **kwargs) -> pd.DataFrame:
    """Read a CSV, turning parser errors (wrong field counts) into InputError naming the file."""
    try:
        df = pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {err}") from err
    require_columns(df, columns, path)
    return df


#: Physically possible values of the catalogue quantities (inclusive ends); the one home of these
#: ranges. A galaxy with a value outside (or not finite) is rejected with the value in its reason.
RANGES: dict[str, tuple[float, float]] = {
    "z": (0.0, 1.5),              # redshift; GSWLC-2 is z < 0.3, SDSS galaxies z < ~0.8
    "logmstar": (5.0, 13.0),      # log10 M*/M_sun
    "logmstarerr": (0.0, 2.0),    # dex
    "redchisq": (0.0, 1.0e6),
    "logLg": (5.0, 13.5),         # log10 L_g / L_sun (a user's own luminosity column)
    "logLg_err": (0.0, 2.0),      # dex
    "mag": (5.0, 35.0),           # apparent AB magnitude
    "star_mag": (-2.0, 35.0),     # a foreground star's apparent AB magnitude (Sirius: -1.5)
    "mag_err": (0.0, 5.0),
    "extinction": (0.0, 10.0),    # Galactic extinction, mag
    "logd25": (-1.0, 4.0),        # log10 of D25 in 0.1 arcmin: 0.01 to 1000 arcmin
    "d25_arcmin": (0.01, 1000.0),
    # M*/L_g in solar units: stellar populations of galaxies span ~0.1-10 in g (Bell & de Jong 2001;
    # Zibetti et al. 2009); the ends leave a factor ~3 for bursts, dust and SED-fit scatter. Outside,
    # the mass and the luminosity describe different objects (a cross-match or photometry error).
    "ml_g": (0.03, 50.0),
}
#: SDSS / GSWLC markers of a missing value.
MAGNITUDE_MISSING = (99.0, -99.0, -9999.0, 9999.0)


def range_reasons(values: np.ndarray, quantity: str, label: str | None = None) -> np.ndarray:
    """Per value: "" when finite and inside ``RANGES[quantity]``, else the reason (object array).
    NaN (missing) gives "" too: the caller decides what a missing value means."""
    lo, hi = RANGES[quantity]
    label = label or quantity
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), "", dtype=object)
    for i in np.flatnonzero(~np.isnan(values) & ~((values >= lo) & (values <= hi))):
        v = values[i]
        out[i] = (f"{label} = {v} is not finite" if not np.isfinite(v)
                  else f"{label} = {v:.6g} is outside [{lo:g}, {hi:g}]")
    return out


def first_reason(*reasons: np.ndarray) -> np.ndarray:
    """Element-wise the first non-empty reason of several reason arrays."""
    out = np.full(len(reasons[0]), "", dtype=object)
    for r in reasons:
        take = (out == "") & (np.asarray(r, dtype=object) != "")
        out[take] = np.asarray(r, dtype=object)[take]
    return out


def integer_valued(values: np.ndarray, where, column: str) -> np.ndarray:
    """A flag column: every value finite and a whole number, else InputError naming the row
    (``where(row, column)`` gives the location text)."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where(row, column)}: {values[row]} is not an integer flag")
    return values.astype(np.int64)


#: spellings of angle units that astropy does not parse as such
_ANGLE_ALIASES = {"h": "hourangle", "hour": "hourangle", "hours": "hourangle", "hr": "hourangle",
                  "degrees": "deg", "arcmins": "arcmin", "arcsecs": "arcsec", "'": "arcmin", '"': "arcsec"}


def _parse_unit(name: str, physical_type: str | None = None):
    """An astropy unit from a file's unit text, as written or in lower case (FITS writers often
    use upper case: ``DEG``; ``H`` is an hour where an angle is expected, not a henry)."""
    from astropy import units as u

    for text in (name, name.lower()):
        try:
            unit = u.Unit(_ANGLE_ALIASES.get(text, text))
        except ValueError:
            continue
        if physical_type is None or (isinstance(unit, u.UnitBase) and unit.physical_type == physical_type):
            return unit   # with a physical type: a linear unit, never a log of one (dex(arcmin))
    raise ValueError("not a unit astropy knows" if physical_type is None else f"not an {physical_type}")


def angle_degrees(values: np.ndarray, unit: str | None, default: str, what: str) -> np.ndarray:
    """Convert an angle column to degrees from the file's unit, else the configured/default one."""
    from astropy import units as u

    name = unit or default
    try:
        factor = _parse_unit(name, "angle").to(u.deg)
    except (ValueError, u.UnitConversionError, u.UnitsError):
        raise InputError(f"{what}: unit {name!r} is not an angle (h, hourangle, deg, rad, ...)") from None
    return np.asarray(values, dtype=float) * factor


def log_d25(values: np.ndarray, unit: str | None, what: str) -> np.ndarray:
    """HyperLeda's ``logd25`` (log10 of D25 in 0.1 arcmin) from a column in the file's ``unit``.

    No unit, ``dex`` or a dimensionless one: already that log. A log of an angle (astropy's
    ``dex(arcmin)``, or the text ``[0.1arcmin]`` / ``log(0.1 arcmin)`` of VizieR and HyperLeda):
    converted to the 0.1 arcmin base. A plain angle (arcmin, arcsec, deg): a linear diameter,
    converted to the log. Any other unit is an InputError naming ``what`` (file and column)."""
    import re

    from astropy import units as u

    values = np.asarray(values, dtype=float)
    if not unit or not unit.strip():
        return values
    text = unit.strip()
    wrapped = re.fullmatch(r"\[(.+)\]|log\s*\((.+)\)|dex\s*\((.+)\)", text, flags=re.IGNORECASE)
    try:
        if wrapped:   # a log of the angle inside
            inner = next(g for g in wrapped.groups() if g).strip()
            number = re.fullmatch(r"([0-9.eE+-]+)\s*(.+)", inner)
            scale = float(number.group(1)) if number else 1.0
            base = _parse_unit(number.group(2) if number else inner)
            return values + np.log10(scale * base.to(u.arcmin) / 0.1)
        parsed = _parse_unit(text)
        if parsed == u.dex or parsed == u.dimensionless_unscaled:
            return values
        if getattr(parsed, "physical_unit", None) is not None and parsed.physical_unit.physical_type == "angle":
            return values + np.log10(parsed.physical_unit.to(u.arcmin) / 0.1)
        if isinstance(parsed, u.UnitBase) and parsed.physical_type == "angle":
            if parsed.scale != 1:   # "0.1 arcmin": HyperLeda's log base written without its log
                raise InputError(f"{what}: unit {unit!r} is a scaled angle: write log(0.1 arcmin) for HyperLeda's "
                                 "log10 of D25, or a plain angle (arcmin) for a linear diameter")
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(values * parsed.to(u.arcmin) / 0.1)
    except InputError:
        raise
    except (ValueError, u.UnitConversionError, u.UnitsError, StopIteration):
        pass
    raise InputError(f"{what}: unit {unit!r} is neither a log10 of D25 in 0.1 arcmin (no unit, dex, "
                     "[0.1arcmin]) nor an angle (a linear diameter in arcmin, arcsec or deg)")


#: spellings of a solar luminosity that astropy does not parse (compared in lower case)
_SOLAR_LUMINOSITY_ALIASES = ("l_sun", "lsol", "l_sol", "solar luminosity", "solar luminosities", "solum")


def _solar_luminosity_scale(text: str) -> float | None:
    """Solar luminosities per unit of ``text`` (``Lsun``, ``solLum``, ``1e10 Lsun``, ...), else None."""
    from astropy import units as u

    spelled = "solLum" if text.strip().lower() in _SOLAR_LUMINOSITY_ALIASES else text.strip()
    try:
        unit = u.Unit(spelled)
    except (ValueError, TypeError):
        return None
    if isinstance(unit, u.UnitBase) and unit.bases == [u.solLum] and unit.powers == [1]:
        return float(unit.scale)
    return None


def log_luminosity(values: np.ndarray, unit: str | None, what: str) -> tuple[np.ndarray, bool]:
    """A user's luminosity column as log10(L / L_sun), from the file's ``unit``, and whether the
    file held it linearly.

    No unit, ``dex``, a dimensionless one or a log of a solar luminosity (``dex(solLum)``,
    ``log(Lsun)``, ``[Lsun]``): already that log. A linear solar luminosity (``solLum``, ``Lsun``,
    ``1e10 Lsun``): converted to the log (a value <= 0 becomes -inf, which the range check rejects).
    Any other unit (erg/s, W, mag, ...) is an InputError naming ``what``: a band luminosity in
    physical units needs the band's solar luminosity, which the file does not give."""
    import re

    from astropy import units as u

    values = np.asarray(values, dtype=float)
    if not unit or not unit.strip():
        return values, False
    text = unit.strip()
    wrapped = re.fullmatch(r"\[(.+)\]|log(?:10)?\s*\((.+)\)|dex\s*\((.+)\)", text, flags=re.IGNORECASE)
    if wrapped:
        scale = _solar_luminosity_scale(next(g for g in wrapped.groups() if g))
        if scale is not None:
            return values + np.log10(scale), False
    scale = _solar_luminosity_scale(text)
    if scale is not None:
        positive = values > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.where(positive, values, 1.0) * scale)
        return np.where(positive, logs, np.where(np.isnan(values), np.nan, -np.inf)), True
    try:
        parsed = u.Unit(text)
    except (ValueError, TypeError):
        parsed = None
    if parsed is not None and (parsed == u.dex or parsed == u.dimensionless_unscaled):
        return values, False
    raise InputError(f"{what}: unit {unit!r} is neither a log10 of L / L_sun (no unit, dex, dex(solLum)) nor a "
                     "solar luminosity (solLum, Lsun); a luminosity in erg/s or W needs the band's solar "
                     "luminosity, which mlpipe does not assume")


def log_luminosity_error(errors: np.ndarray, unit: str | None, *, luminosity_log: np.ndarray,
                         luminosity_unit: str | None, what: str) -> np.ndarray:
    """The error of a user's luminosity in dex, from the error column's ``unit``: ``dex``, none or a
    log of a solar luminosity: dex; ``mag``: divided by 2.5; a linear solar luminosity: over
    L ln 10 (``luminosity_log`` is log10 L / L_sun). Without its own unit, the error of a linear
    luminosity is in the luminosity's unit (``luminosity_unit``). Any other unit is an InputError
    naming ``what``."""
    errors = np.asarray(errors, dtype=float)
    text = (unit or "").strip()
    if not text and luminosity_unit and _solar_luminosity_scale(luminosity_unit) is not None:
        text = luminosity_unit.strip()
    if text.lower() in ("mag", "mags", "magnitude", "magnitudes"):
        return errors / 2.5
    scale = _solar_luminosity_scale(text) if text else None
    if scale is not None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return errors * scale / (10.0 ** luminosity_log * np.log(10.0))
    if text:
        try:
            log_luminosity(errors, text, what)
        except InputError:
            raise InputError(f"{what}: unit {unit!r} is not an error of a luminosity (dex, mag, or a solar "
                             "luminosity)") from None
    return errors
