"""Download each galaxy's missing g-band cut-out: cached, resumable, with retries.

A file already in the image folder that opens as a FITS image is never downloaded again; an
interrupted download continues from its ``.part`` file (HTTP Range) on the next run; a transfer
that fails is retried with exponential back-off, and a galaxy whose image cannot be had is listed
with the reason (the preprocessing then rejects it as "image file missing").
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from mlpipe import physics
from mlpipe.io.atomic import write_csv
from mlpipe.io.fits_image import ImageError, galaxy_image_path, read_image

log = logging.getLogger(__name__)
CHUNK = 1 << 16


#: the downloaded field / D25: room around the 1.125 x D25 that preprocessing cuts by the WCS
DOWNLOAD_FOV_D25 = 1.4


def image_url(template: str, gal: pd.Series, objid: int, fov_d25: float = DOWNLOAD_FOV_D25) -> str:
    """Fill ``{objid}``, ``{ra}``, ``{dec}`` and ``{size_px}`` (a field ``fov_d25`` x D25 wide in SDSS pixels)."""
    size_px = int(round(fov_d25 * gal["d25_arcmin"] * 60.0 / physics.SDSS_PIXEL_ARCSEC))
    return template.format(objid=objid, ra=f"{gal['ra']:.6f}", dec=f"{gal['dec']:.6f}", size_px=size_px)


def _usable(path: Path) -> bool:
    try:
        read_image(path)
        return True
    except ImageError:
        return False


def download(url: str, *, dest_path: Path, timeout_s: float) -> None:
    """Stream ``url`` into ``dest_path``.part (continuing it when the server honours Range), then
    rename it into place once it opens as a FITS image."""
    part = dest_path.with_name(dest_path.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        resumed = offset and getattr(response, "status", 200) == 206
        with open(part, "ab" if resumed else "wb") as fh:
            while chunk := response.read(CHUNK):
                fh.write(chunk)
    if not _usable(part):
        part.unlink()
        raise ImageError(f"downloaded file is not a FITS image with a WCS: {url}")
    part.replace(dest_path)


def fetch_shard(shard_csv: str | Path, images_dir: str | Path, cfg: Mapping[str, Any], report_csv: str | Path,
                sleep: Callable[[float], None] = time.sleep) -> pd.DataFrame:
    """Make sure every galaxy of the shard has ``{objid}.fits``; write and return the report
    (objid, status: cached | downloaded | failed, detail)."""
    images_dir = Path(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    shard = pd.read_csv(shard_csv)
    for objid, (_, gal) in zip(shard["objid"].to_numpy(), shard.iterrows()):  # ids from their int64 column
        objid = int(objid)
        image_path = images_dir / f"{objid}.fits"
        existing = galaxy_image_path(images_dir, objid)   # the user's own {objid}.fits.gz, .fit, ... too
        if existing.exists() and _usable(existing):
            rows.append((objid, "cached", ""))
            continue
        url = image_url(cfg["url_template"], gal, objid)
        for attempt in range(cfg["retries"] + 1):
            try:
                download(url, dest_path=image_path, timeout_s=cfg["timeout_s"])
                rows.append((objid, "downloaded", url))
                break
            except (urllib.error.URLError, OSError, ImageError, TimeoutError) as err:
                if attempt == cfg["retries"]:
                    rows.append((objid, "failed", f"{url}: {err}"))
                    log.warning("galaxy %d: no image after %d attempts: %s", objid, attempt + 1, err)
                else:
                    sleep(2.0 ** attempt)
    report = pd.DataFrame(rows, columns=["objid", "status", "detail"])
    write_csv(report, report_csv)
    log.info("fetch: %s", report["status"].value_counts().to_dict())
    return report
