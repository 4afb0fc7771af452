"""Image flux units: from the header's BUNIT, else from the configuration
(``data.real.image_unit``), as erg s^-1 cm^-2 Hz^-1 per image unit."""

from __future__ import annotations

from dataclasses import dataclass

from mlpipe.preprocess.errors import Rejected

#: erg s^-1 cm^-2 Hz^-1 per nanomaggy (AB zero point 3631 Jy)
NANOMAGGY_CGS = 3.631e-29
#: erg s^-1 cm^-2 Hz^-1 of an AB magnitude 0 source
AB_ZERO_CGS = 3.631e-20
#: BUNIT spellings of each unit (compared in lower case)
NANOMAGGY_NAMES = ("nanomaggy", "nanomaggies", "nmgy", "nanomaggys")
COUNT_NAMES = ("adu", "adus", "count", "counts", "dn", "data number")
#: header keys that may hold a counts image's AB zero point (magnitude of one count)
ZERO_POINT_KEYS = ("MAGZP", "PHOTZP", "ZEROPT", "ZP")
UNITS = ("nanomaggies", "counts")


@dataclass(frozen=True)
class ImageUnit:
    name: str          # "nanomaggies" or "counts"
    cgs: float         # erg s^-1 cm^-2 Hz^-1 per image unit
    source: str        # where it came from: "BUNIT" or "config"


def _zero_point_cgs(zero_point_mag: float) -> float:
    return AB_ZERO_CGS * 10.0 ** (-0.4 * zero_point_mag)


def image_unit(header, *, configured_unit: str, configured_zero_point_mag: float | None) -> ImageUnit:
    """The unit of an image's pixels.

    BUNIT wins when present (nanomaggies, or counts with a zero point from the header's MAGZP /
    PHOTZP / ZEROPT / ZP or the configuration); without BUNIT the configured unit is used. An
    unknown BUNIT, or counts without any zero point, rejects the galaxy: a wrong unit would
    scale every luminosity feature."""
    bunit = header.get("BUNIT")
    if bunit is not None and str(bunit).strip():
        text = str(bunit).strip().lower()
        if text in NANOMAGGY_NAMES:
            return ImageUnit("nanomaggies", NANOMAGGY_CGS, "BUNIT")
        if text not in COUNT_NAMES:
            raise Rejected(f"unknown image unit BUNIT = {bunit!r} (known: nanomaggy, nmgy, ADU, counts)")
        name, source = "counts", "BUNIT"
    else:
        if configured_unit not in UNITS:
            raise ValueError(f"data.real.image_unit must be one of {UNITS}, not {configured_unit!r}")
        if configured_unit == "nanomaggies":
            return ImageUnit("nanomaggies", NANOMAGGY_CGS, "config")
        name, source = "counts", "config"
    for key in ZERO_POINT_KEYS:
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 50:
            return ImageUnit(name, _zero_point_cgs(float(value)), source)
    if configured_zero_point_mag is None:
        raise Rejected("image in counts without a zero point: no MAGZP/PHOTZP/ZEROPT in the header "
                       "and no data.real.image_zero_point_mag")
    return ImageUnit(name, _zero_point_cgs(configured_zero_point_mag), source)
