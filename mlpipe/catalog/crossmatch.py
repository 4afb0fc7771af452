"""One-to-one sky matching: each galaxy takes its nearest counterpart within a radius, and a
counterpart claimed by several galaxies (near-duplicates) goes to the closest one only. A galaxy
with two counterparts at similar separations within the radius (a duplicated catalogue entry, or a
close pair) has none: positions cannot tell which of the two it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky

#: a second counterpart within the radius and less than this many times as far as the nearest makes
#: the match ambiguous (a counterpart at 0.5" beside another at 4" is a match, one at 2" beside
#: another at 3" is not) ...
AMBIGUOUS_SEPARATION_RATIO = 2.0
#: ... and so does any second one within this distance (arcsec), closer than catalogue positions
#: can be told apart (an entry duplicated at the same position: 0" and 0")
AMBIGUOUS_WITHIN_ARCSEC = 1.0


def match_nearest(ra: np.ndarray, dec: np.ndarray, other_ra: np.ndarray, other_dec: np.ndarray, *,
                  radius_arcsec: float) -> pd.DataFrame:
    """For each source (``ra``, ``dec`` in deg, (n,)): index of its counterpart in ``other`` (-1
    if none), separation in arcsec, status, and the nearest two candidates (``nearest``,
    ``second``: indices, -1 if none; ``second_sep_arcsec``).

    status is "matched", "none" (nothing within the radius), "taken" (its nearest counterpart is
    closer to another source) or "ambiguous" (a second counterpart within the radius, less than
    ``AMBIGUOUS_SEPARATION_RATIO`` times as far as the nearest or within ``AMBIGUOUS_WITHIN_ARCSEC``).
    """
    n = len(ra)
    out = pd.DataFrame({"index": np.full(n, -1), "sep_arcsec": np.full(n, np.nan),
                        "status": np.full(n, "none", dtype=object), "nearest": np.full(n, -1),
                        "second": np.full(n, -1), "second_sep_arcsec": np.full(n, np.nan)})
    if n == 0 or len(other_ra) == 0:
        return out
    src = SkyCoord(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg)
    cat = SkyCoord(np.asarray(other_ra) * u.deg, np.asarray(other_dec) * u.deg)
    # every candidate within the radius, nearest first (ties by catalogue row: the same pair of
    # candidates whatever the order of the rows)
    source, candidate, separation, _ = search_around_sky(src, cat, radius_arcsec * u.arcsec)
    pairs = pd.DataFrame({"source": source, "candidate": candidate, "sep": separation.arcsec})
    pairs = pairs.sort_values(["source", "sep", "candidate"], kind="stable")
    rank = pairs.groupby("source").cumcount().to_numpy()
    first, second = pairs[rank == 0], pairs[rank == 1]
    idx, sep = np.full(n, -1), np.full(n, np.inf)
    idx[first["source"].to_numpy()], sep[first["source"].to_numpy()] = first["candidate"], first["sep"]
    idx2, sep2 = np.full(n, -1), np.full(n, np.inf)
    idx2[second["source"].to_numpy()], sep2[second["source"].to_numpy()] = second["candidate"], second["sep"]
    within = idx >= 0
    ambiguous = within & (idx2 >= 0) & ((sep2 < AMBIGUOUS_SEPARATION_RATIO * sep) | (sep2 <= AMBIGUOUS_WITHIN_ARCSEC))
    out["second"] = idx2
    out["second_sep_arcsec"] = np.where(idx2 >= 0, sep2, np.nan)
    claiming = within & ~ambiguous
    order = np.argsort(np.where(claiming, sep, np.inf), kind="stable")
    first_claim = ~pd.Series(np.where(claiming, idx, -1 - np.arange(n))[order]).duplicated().to_numpy()
    winner = np.zeros(n, dtype=bool)
    winner[order] = first_claim
    matched = claiming & winner
    out["index"] = np.where(matched, idx, -1)
    out["nearest"] = np.where(within, idx, -1)
    out["sep_arcsec"] = np.where(within, sep, np.nan)
    out["status"] = np.where(matched, "matched", np.where(ambiguous, "ambiguous", np.where(within, "taken", "none")))
    return out
