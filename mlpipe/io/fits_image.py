"""Single-band FITS cut-outs with a celestial WCS (SDSS frames in nanomaggies, or mock images)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from mlpipe.io.atomic import atomic_path


class ImageError(ValueError):
    """An image that cannot be used; the message is recorded as the galaxy's rejection reason."""


@dataclass
class Image:
    data: np.ndarray
    wcs: WCS
    header: fits.Header
    #: the file's primary header where the image is an extension's (its photometric cards may sit there)
    primary_header: fits.Header | None = None


#: EXTNAME beginnings of the planes beside a science image (masks, weights, errors, exposure maps):
#: never the image (MASK, BADPIX, WHT, WEIGHT_MAP, IVAR, ERR, UNCERT, SIGMA_MAP, STDEV, VARIANCE, ...)
AUXILIARY_EXTNAMES = ("MASK", "BPM", "BADPIX", "DQ", "FLAG", "WHT", "WEIGHT", "IVAR", "INVVAR", "ERR", "UNC",
                      "SIG", "STD", "RMS", "NOISE", "VAR", "EXP", "CON", "CTX", "PSF")
#: the cards of a world coordinate system: an extension with its own takes none of the primary's
_WCS_CARD = re.compile(r"^(WCSAXES|CTYPE\d|CRVAL\d|CRPIX\d|CDELT\d|CUNIT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|"
                       r"PS\d_\d+|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|[AB]P?_\d+_\d+|"
                       r"[AB]P?_ORDER|[AB]P?_DMAX)$")
#: the numeric cards a WCS needs, each a finite number where present
_WCS_NUMBERS = re.compile(r"^(CRVAL\d|CRPIX\d|CDELT\d|CD\d_\d|PC\d_\d|CROTA\d)$")
#: header cards that describe one HDU's own layout: never inherited from the primary header
_STRUCTURAL = re.compile(r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|EXTVER|BSCALE|BZERO|BLANK|"
                         r"CHECKSUM|DATASUM|INHERIT|COMMENT|HISTORY|ZIMAGE|ZSIMPLE|ZTENSION|ZBITPIX|ZNAXIS\d*|"
                         r"ZTILE\d*|ZCMPTYPE|ZNAME\d*|ZVAL\d*|ZQUANTIZ|ZDITHER0|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT|"
                         r"ZHECKSUM|ZDATASUM)$")
#: largest ratio of a pixel's two sides (the cut-out is square in pixels, so it must be in arcsec)
MAX_PIXEL_ASPECT = 1.01


def _image_plane(data) -> np.ndarray | None:
    """A 2-D image from an HDU's data (a cube whose extra axes have length 1 is squeezed), else None."""
    if data is None or not hasattr(data, "ndim") or data.dtype.names is not None:
        return None
    if data.ndim > 2 and all(n == 1 for n in data.shape[:-2]):
        data = data.reshape(data.shape[-2:])
    return data if data.ndim == 2 else None


def _with_inherited(primary: fits.Header, header: fits.Header) -> fits.Header:
    """An extension's header with the primary header's cards it lacks, where INHERIT = T (the FITS
    convention for multi-extension files: BUNIT, the zero point or the WCS may sit in the primary)."""
    if not (header.get("INHERIT") is True or primary.get("INHERIT") is True):
        return header
    own_wcs = any(_WCS_CARD.match(key) for key in header if key)   # a WCS is inherited whole or not at all
    merged = header.copy()
    for card in primary.cards:
        key = card.keyword
        if key and not _STRUCTURAL.match(key) and key not in merged and not (own_wcs and _WCS_CARD.match(key)):
            merged[key] = (card.value, card.comment)
    return merged


def _celestial_wcs(header: fits.Header, name: str) -> WCS | None:
    """The header's celestial WCS, or None where it has none; a WCS that cannot be evaluated
    (a singular CD matrix, a malformed CTYPE) raises ImageError naming the file."""
    for key in header:
        if key and _WCS_NUMBERS.match(key):
            try:
                value = header[key]
            except Exception as err:  # a card astropy cannot parse (CRVAL1 = NAN): VerifyError and the like
                raise ImageError(f"invalid WCS in {name}: card {key} cannot be read ({type(err).__name__})") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ImageError(f"invalid WCS in {name}: {key} = {value!r} is not a finite number")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # FITSFixedWarning and the like: astropy repairs what it can
            wcs = WCS(header, naxis=2)
            if not wcs.has_celestial:
                return None
            wcs.celestial.all_pix2world([[0.0, 0.0]], 0)
    except Exception as err:  # wcslib raises its own types (SingularMatrixError, InvalidTransformError, ...)
        # wcslib's message is its source location on one line and the reason on the next: both, on one
        text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise ImageError(f"invalid WCS in {name}: {type(err).__name__}: {text}") from None
    return wcs


#: asinh-compressed pixels (Pan-STARRS1 stacks): value = a asinh((flux - BOFFSET) / (2 BSOFTEN)), a = 2.5 / ln 10
_ASINH_KEYS = ("BSOFTEN", "BOFFSET")


def linear_values(data: np.ndarray, header: fits.Header) -> np.ndarray:
    """Pixels in a linear flux scale: asinh-compressed values (BSOFTEN and BOFFSET in the header,
    as Pan-STARRS1 stacks store them) expanded, BOFFSET + BSOFTEN 2 sinh(value / a) with
    a = 2.5 / ln 10; other data as they are. A BSOFTEN or BOFFSET alone, or not a finite number
    (BSOFTEN > 0), raises ImageError."""
    present = [key for key in _ASINH_KEYS if key in header]
    if not present:
        return data
    values = {key: header.get(key) for key in _ASINH_KEYS}
    usable = all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values.values())
    if len(present) < 2 or not usable or values["BSOFTEN"] <= 0:
        raise ImageError(f"asinh-compressed pixels need BSOFTEN > 0 and BOFFSET, finite: the header has "
                         f"{', '.join(f'{k} = {header.get(k)!r}' for k in _ASINH_KEYS)}")
    return values["BOFFSET"] + values["BSOFTEN"] * 2.0 * np.sinh(data * np.log(10.0) / 2.5)


def read_image(path: str | Path) -> Image:
    """Read a single-band image: the first 2-D image HDU with a celestial WCS that is not a mask,
    weight or error plane (by EXTNAME), with the primary header's cards where the extension
    inherits them (INHERIT = T; else the primary header comes beside it, ``primary_header``), its
    pixels in a linear scale (``linear_values``). A missing, truncated or corrupt file, one without such an image,
    a WCS that cannot be evaluated and pixels that are not square (or whose scale is not finite)
    raise ImageError, the galaxy's rejection reason."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image file missing: {path.name}")
    try:
        with fits.open(path, memmap=False) as hdul:
            primary = hdul[0].header
            image, saw_plane = None, False
            for index, hdu in enumerate(hdul):
                if str(hdu.header.get("EXTNAME", "")).strip().upper().startswith(AUXILIARY_EXTNAMES):
                    continue
                data = _image_plane(hdu.data)
                if data is None:
                    continue
                saw_plane = True
                header = hdu.header.copy() if index == 0 else _with_inherited(primary, hdu.header)
                wcs = _celestial_wcs(header, path.name)
                if wcs is not None:
                    image = Image(linear_values(np.asarray(data, dtype=np.float64), header), wcs, header,
                                  None if index == 0 else primary.copy())
                    break
    except ImageError:
        raise
    except Exception as err:  # astropy raises many types for truncated or corrupt files
        raise ImageError(f"unreadable FITS {path.name} (truncated or damaged?): {type(err).__name__}: {err}") from err
    if image is None:
        raise ImageError(f"no celestial WCS in {path.name}" if saw_plane else f"no 2-D image in {path.name}")
    scales = proj_plane_pixel_scales(image.wcs.celestial) * 3600.0
    if not (np.isfinite(scales).all() and (scales > 0).all()):
        raise ImageError(f"the WCS of {path.name} gives no finite pixel scale ({scales[0]:.4g} x {scales[1]:.4g} "
                         "arcsec)")
    if scales.max() > MAX_PIXEL_ASPECT * scales.min():
        raise ImageError(f"pixels of {path.name} are not square ({scales[0]:.4g} x {scales[1]:.4g} arcsec): "
                         "resample the image to square pixels")
    return image


def world_to_pixel(wcs: WCS, *, ra_deg, dec_deg) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel (x, y) of ICRS positions (deg), in whatever frame and axis order the image's
    WCS uses (ICRS or FK5 J2000 directly; galactic, FK4 B1950, ... through astropy's transforms)."""
    from astropy.coordinates import FK5, ICRS, SkyCoord
    from astropy.wcs.utils import skycoord_to_pixel, wcs_to_celestial_frame

    celestial = wcs.celestial
    axes = tuple(celestial.wcs.ctype[i].split("-")[0].upper() for i in (celestial.wcs.lng, celestial.wcs.lat))
    if axes not in (("RA", "DEC"), ("GLON", "GLAT")):
        # astropy takes an ecliptic (ELON/ELAT) or helioecliptic WCS for ICRS: RA and Dec would be read as
        # ecliptic longitude and latitude
        raise ImageError(f"the image's WCS is in {axes[0]} / {axes[1]} coordinates; equatorial (RA / DEC) and "
                         "galactic (GLON / GLAT) ones are read")
    try:
        frame = wcs_to_celestial_frame(celestial)
    except ValueError:
        frame = None
    direct = celestial.wcs.lng == 0 and celestial.wcs.lat == 1 and (
        isinstance(frame, ICRS) or (isinstance(frame, FK5) and frame.equinox.jyear == 2000.0))
    if direct:
        return celestial.all_world2pix(ra_deg, dec_deg, 0)
    if frame is None:
        raise ImageError("the image's celestial frame is not one astropy knows (CTYPE / RADESYS)")
    x, y = skycoord_to_pixel(SkyCoord(ra_deg, dec_deg, unit="deg", frame="icrs"), celestial, origin=0, mode="all")
    return np.asarray(x), np.asarray(y)


#: the names a galaxy's own cut-out may have, tried in this order: ``{objid}`` and one of these
IMAGE_SUFFIXES = (".fits", ".fits.gz", ".fits.fz", ".fits.bz2", ".fit", ".fit.gz", ".fts", ".FITS", ".FIT")


def galaxy_image_path(images_dir: str | Path, objid: int) -> Path:
    """The galaxy's cut-out ``{objid}.fits`` in ``images_dir``, or the first of the other usual
    names (``.fits.gz``, ``.fits.fz``, ``.fit``, ...) that exists; ``{objid}.fits`` where none does."""
    for suffix in IMAGE_SUFFIXES:
        path = Path(images_dir) / f"{objid}{suffix}"
        if path.exists():
            return path
    return Path(images_dir) / f"{objid}.fits"


def tan_wcs(ra: float, dec: float, crpix: tuple[float, float], pixel_scale_arcsec: float) -> WCS:
    """A north-up TAN WCS (east to the left) with reference pixel ``crpix`` (1-based)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = list(crpix)
    scale = pixel_scale_arcsec / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    return wcs


def write_image(data: np.ndarray, wcs: WCS, path: str | Path, cards: dict | None = None) -> None:
    """Write a float32 image with its WCS and extra header cards, atomically."""
    header = wcs.to_header()
    for key, value in (cards or {}).items():
        header[key] = value
    with atomic_path(path, ".fits") as tmp:
        fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header=header).writeto(tmp, overwrite=True)
