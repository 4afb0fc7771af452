"""Image flux units: from the header's BUNIT or zero point, else from the configuration
(``data.real.image_unit``), as erg s^-1 cm^-2 Hz^-1 per image unit."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from mlpipe import physics
from mlpipe.preprocess.errors import Rejected

#: erg s^-1 cm^-2 Hz^-1 per nanomaggy (AB zero point 3631 Jy)
NANOMAGGY_CGS = 3.631e-29
#: BUNIT spellings of each unit (compared in lower case, after a per-pixel suffix is dropped)
NANOMAGGY_NAMES = ("nanomaggy", "nanomaggies", "nmgy", "nanomaggys")
COUNT_NAMES = ("adu", "adus", "count", "counts", "ct", "cts", "dn", "data number", "data numbers")
#: BUNITs astropy reads as a flux density that are no pixel unit (a magnitude system's name)
NOT_PIXEL_UNITS = ("ab", "st", "mag", "abmag", "stmag")
#: header keys that may hold a counts image's AB zero point (magnitude of one count), in order
#: (not MAGZPT: CASU's is per second of exposure)
ZERO_POINT_KEYS = ("MAGZP", "MAGZERO", "PHOTZP", "ZEROPT", "ZEROPNT", "ZP")
#: header keys giving the counts of a source of a fixed magnitude: FLUXMAG0 (magnitude 0, LSST /
#: HSC) and FLUX20 (magnitude 20, SDSS fpC frames)
FLUX_AT_MAGNITUDE_KEYS = {"FLUXMAG0": 0.0, "FLUX20": 20.0}
#: mag: header zero points further apart than this reject the galaxy (5 % in flux)
ZERO_POINT_TOLERANCE_MAG = 0.05
UNITS = ("nanomaggies", "counts")
#: a per-pixel suffix of BUNIT ("nanomaggy/pixel", "ADU per pixel"): the pixel's own unit
_PER_PIXEL = re.compile(r"\s*((/|\bper\b)\s*(pixel|pix|px)s?|\s(pixel|pix|px)(\^|\*\*)?-1)\s*$", flags=re.IGNORECASE)


@dataclass(frozen=True)
class ImageUnit:
    name: str          # "nanomaggies", "counts" or "flux density" (a Jy-like BUNIT)
    cgs: float         # erg s^-1 cm^-2 Hz^-1 per image unit
    source: str        # where it came from: "BUNIT", "config", "header MAGZP" (the key of a zero point
                       # without BUNIT), with ", zero point MAGZP" where the header gave a counts unit's


def _zero_point_cgs(zero_point_mag: float) -> float:
    return physics.AB_ZERO_POINT_CGS * 10.0 ** (-0.4 * zero_point_mag)


def _header_number(value) -> float | None:
    """A header value as a number: a real, or text holding one; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _card_zero_point(value, *, flux_magnitude: float | None) -> float | None:
    """A header card as an AB zero point (mag), or None where it is unusable: a magnitude in (0, 50)
    where ``flux_magnitude`` is None, else counts > 0 of a source of magnitude ``flux_magnitude``."""
    number = _header_number(value)
    if number is None or not math.isfinite(number):
        return None
    if flux_magnitude is None:
        return number if 0 < number < 50 else None
    return flux_magnitude + 2.5 * math.log10(number) if number > 0 else None


def header_zero_point(header) -> tuple[float, str] | None:
    """The header's AB zero point (magnitude of one count) and the key that gave it, or None
    where the header has no zero-point key.

    Every key of :data:`ZERO_POINT_KEYS` and :data:`FLUX_AT_MAGNITUDE_KEYS` is read; the first usable
    one is returned. Usable keys that disagree by more than :data:`ZERO_POINT_TOLERANCE_MAG` reject
    the galaxy, naming them: which one describes the pixels is then unknown. Keys whose value is no
    magnitude in (0, 50) (text, NaN, 0, 99, ...) are passed over beside a usable one (placeholders)
    and reject the galaxy where they are all there is: the image's scale is then unknown, and a
    default would be silently wrong."""
    usable, unusable = [], []
    for key, flux_magnitude in [(key, None) for key in ZERO_POINT_KEYS] + list(FLUX_AT_MAGNITUDE_KEYS.items()):
        if key in header:
            value = _card_zero_point(header[key], flux_magnitude=flux_magnitude)
            if value is None:
                unusable.append(f"{key} = {header[key]!r}")
            else:
                usable.append((value, key))
    if usable:
        values = [value for value, _ in usable]
        if max(values) - min(values) > ZERO_POINT_TOLERANCE_MAG:
            listed = ", ".join(f"{key} = {header[key]!r} ({value:.3f} mag)" for value, key in usable)
            raise Rejected(f"the header's zero points disagree: {listed} (more than {ZERO_POINT_TOLERANCE_MAG} mag "
                           "apart; keep the one that describes the pixels)")
        return usable[0]
    if unusable:
        raise Rejected(f"the header's zero point is unusable: {', '.join(unusable)} (a magnitude in (0, 50), or "
                       "counts > 0 for FLUXMAG0 / FLUX20)")
    return None


def _flux_density_cgs(text: str) -> float | None:
    """erg s^-1 cm^-2 Hz^-1 per unit of a spectral flux density BUNIT (Jy, uJy, maggy, ...), else None."""
    from astropy import units as u

    from mlpipe.io.photometry import flux_density_unit

    if text.strip().lower() in NOT_PIXEL_UNITS:
        return None
    for spelled in (text, re.sub(r"(?i)(?<![a-z])([un]?)jy\b", lambda m: m.group(1).lower() + "Jy", text)):
        try:
            return float(flux_density_unit(spelled).to(u.erg / u.s / u.cm**2 / u.Hz))
        except (u.UnitsError, ValueError, TypeError):
            continue
    return None


def _calibrated(header) -> bool:
    """Whether a header says what its pixels' unit is: BUNIT or a zero point."""
    return bool(str(header.get("BUNIT") or "").strip()) or any(
        key in header for key in (*ZERO_POINT_KEYS, *FLUX_AT_MAGNITUDE_KEYS))


def image_unit(header, *, configured_unit: str, configured_zero_point_mag: float | None,
               primary_header=None) -> ImageUnit:
    """The unit of an image's pixels.

    The image's own header decides; where it has neither BUNIT nor a zero point and the image is
    an extension whose file's ``primary_header`` has them (a multi-extension file that keeps its
    calibration in the primary without INHERIT = T: HSC, DECam), those are used, with "primary
    header" in the unit's source, before the configured unit.

    BUNIT wins when present (per pixel: a ``/pixel`` suffix is dropped): nanomaggies; a spectral
    flux density (Jy and its prefixes, maggies, erg s^-1 cm^-2 Hz^-1); or counts, with the zero
    point from the header (:func:`header_zero_point`) or else the configuration. Without BUNIT, a
    zero point in the header makes the image counts at that zero point; else the configured unit
    is used. An unknown BUNIT, an unusable header zero point, or counts without any zero point
    reject the galaxy: a wrong unit would scale every luminosity feature."""
    if primary_header is not None and not _calibrated(header) and _calibrated(primary_header):
        unit = image_unit(primary_header, configured_unit=configured_unit,
                          configured_zero_point_mag=configured_zero_point_mag)
        return replace(unit, source=f"primary header {unit.source.removeprefix('header ')}")
    bunit = header.get("BUNIT")
    text = _PER_PIXEL.sub("", str(bunit)).strip() if bunit is not None else ""
    if text:
        if text.lower() in NANOMAGGY_NAMES:
            return ImageUnit("nanomaggies", NANOMAGGY_CGS, "BUNIT")
        if text.lower() not in COUNT_NAMES:
            cgs = _flux_density_cgs(text)
            if cgs is None:
                raise Rejected(f"unknown image unit BUNIT = {bunit!r} (known: nanomaggy, nmgy, a flux density such "
                               "as Jy or uJy, ADU, counts; per pixel)")
            return ImageUnit("flux density", cgs, "BUNIT")
        name, source = "counts", "BUNIT"
    else:
        if configured_unit not in UNITS:
            raise ValueError(f"data.real.image_unit must be one of {UNITS}, not {configured_unit!r}")
        name, source = "counts", "config"
    zero_point = header_zero_point(header)
    if zero_point is not None:   # without BUNIT, a zero point says the image is in counts, whatever the default
        return ImageUnit(name, _zero_point_cgs(zero_point[0]),
                         f"{source}, zero point {zero_point[1]}" if text else f"header {zero_point[1]}")
    if not text and configured_unit == "nanomaggies":
        return ImageUnit("nanomaggies", NANOMAGGY_CGS, "config")
    if configured_zero_point_mag is None:
        raise Rejected("image in counts without a zero point: no MAGZP / PHOTZP / ZEROPT / FLUXMAG0 / FLUX20 in "
                       "the header and no data.real.image_zero_point_mag")
    return ImageUnit(name, _zero_point_cgs(configured_zero_point_mag), source)
