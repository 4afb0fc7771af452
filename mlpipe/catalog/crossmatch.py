"""One-to-one sky matching: each galaxy takes its nearest counterpart within a radius, and a
counterpart claimed by several galaxies (near-duplicates) goes to the closest one only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord


def match_nearest(ra: np.ndarray, dec: np.ndarray, other_ra: np.ndarray, other_dec: np.ndarray, *,
                  radius_arcsec: float) -> pd.DataFrame:
    """For each source (``ra``, ``dec`` in deg, (n,)): index of its counterpart in ``other`` (-1
    if none), separation in arcsec, status.

    status is "matched", "none" (nothing within the radius) or "taken" (its nearest counterpart
    is closer to another source).
    """
    n = len(ra)
    out = pd.DataFrame({"index": np.full(n, -1), "sep_arcsec": np.full(n, np.nan),
                        "status": np.full(n, "none", dtype=object)})
    if n == 0 or len(other_ra) == 0:
        return out
    src = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
    cat = SkyCoord(np.asarray(other_ra) * u.deg, np.asarray(other_dec) * u.deg)
    idx, sep, _ = src.match_to_catalog_sky(cat)
    sep = sep.arcsec
    within = sep <= radius_arcsec
    order = np.argsort(sep, kind="stable")
    first_claim = ~pd.Series(idx[order]).duplicated().to_numpy()
    winner = np.zeros(n, dtype=bool)
    winner[order] = first_claim
    matched = within & winner
    out["index"] = np.where(matched, idx, -1)
    out["sep_arcsec"] = np.where(within, sep, np.nan)
    out["status"] = np.where(matched, "matched", np.where(within, "taken", "none"))
    return out
