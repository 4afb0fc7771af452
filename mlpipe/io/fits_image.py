"""Single-band FITS cut-outs with a celestial WCS (SDSS frames in nanomaggies, or mock images)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from mlpipe.io.atomic import atomic_path


class ImageError(ValueError):
    """An image that cannot be used; the message is recorded as the galaxy's rejection reason."""


@dataclass
class Image:
    data: np.ndarray
    wcs: WCS
    header: fits.Header


def read_image(path: str | Path) -> Image:
    """Read the first 2-D image HDU; a missing, corrupt or WCS-less file raises ImageError."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image file missing: {path.name}")
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if h.data is not None and np.ndim(h.data) == 2), None)
            if hdu is None:
                raise ImageError(f"no 2-D image in {path.name}")
            data = np.asarray(hdu.data, dtype=np.float64)
            header = hdu.header.copy()
    except ImageError:
        raise
    except Exception as err:  # astropy raises many types for truncated or corrupt files
        raise ImageError(f"unreadable FITS {path.name}: {type(err).__name__}: {err}") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    if not wcs.has_celestial:
        raise ImageError(f"no celestial WCS in {path.name}")
    return Image(data, wcs, header)


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
