"""Write the whole mock survey: catalogues in their published layouts, the hidden truth, and the
per-shard image rendering that stands in for downloading SDSS cut-outs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.atomic import write_csv
from mlpipe.io.gswlc import write_gswlc
from mlpipe.io.gz2_catalog import write_gz2
from mlpipe.io.hyperleda import write_hyperleda
from mlpipe.io.photometry import write_photometry
from mlpipe.io.stars import read_stars, stars_within, write_stars
from mlpipe.mock import catalogs
from mlpipe.mock.population import draw_population
from mlpipe.mock.render import render_galaxy
from mlpipe.mock.votes import draw_vote_fractions

CATALOGUE_FILES = {"gswlc": "GSWLC-X2.dat", "hyperleda": "hyperleda.csv", "gz2": "gz2_hart16.csv",
                   "photometry": "sdss_photometry.csv", "stars": "stars.csv", "truth": "truth.csv"}


def write_mock_catalogues(mock_cfg: Mapping[str, Any], cosmo_cfg: Mapping[str, Any],
                          outdir: str | Path) -> dict[str, int]:
    """Draw the population and write every catalogue; returns row counts for the log."""
    outdir = Path(outdir)
    cosmo = physics.cosmology(cosmo_cfg["H0"], cosmo_cfg["Om0"])
    pop = draw_population(mock_cfg, cosmo)
    rng = np.random.default_rng([mock_cfg["seed"], 1])
    pop = catalogs.assign_identity(pop, mock_cfg, rng)
    phot = catalogs.photometry_table(pop, mock_cfg, rng)
    pop["g_obs"] = pop["g_mag"] + phot["extinction_g"].to_numpy()
    gswlc = catalogs.gswlc_table(pop, mock_cfg, rng)
    leda = catalogs.hyperleda_table(pop, mock_cfg, rng)
    stars = catalogs.star_table(pop, mock_cfg, rng)

    gz2_cfg = mock_cfg["gz2"]
    in_gz2 = rng.random(len(pop)) < gz2_cfg["coverage"]
    fractions, votes = draw_vote_fractions(pop[in_gz2], mock_cfg["features"] | gz2_cfg, rng)
    gz2_ra, gz2_dec = catalogs.offset_positions(rng, pop["ra"][in_gz2], pop["dec"][in_gz2],
                                                gz2_cfg["position_sigma_arcsec"])

    write_gswlc(gswlc, outdir / CATALOGUE_FILES["gswlc"])
    write_hyperleda(leda, outdir / CATALOGUE_FILES["hyperleda"])
    write_gz2(pop["objid"][in_gz2].to_numpy(), gz2_ra, gz2_dec, fractions, votes,
              outdir / CATALOGUE_FILES["gz2"])
    write_photometry(phot, outdir / CATALOGUE_FILES["photometry"])
    write_stars(stars, outdir / CATALOGUE_FILES["stars"])
    write_csv(pop.assign(in_gz2=in_gz2), outdir / CATALOGUE_FILES["truth"])
    return {"galaxies": len(pop), "hyperleda": len(leda), "gz2": int(in_gz2.sum()), "stars": len(stars)}


def render_shard(shard_catalogue: str | Path, truth_path: str | Path, stars_path: str | Path,
                 mock_cfg: Mapping[str, Any], outdir: str | Path) -> int:
    """Render the cut-out of every galaxy in one shard into ``outdir/{objid}.fits``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    shard = pd.read_csv(shard_catalogue)
    truth = pd.read_csv(truth_path).set_index("objid")
    stars = read_stars(stars_path)
    for objid in shard["objid"]:
        gal = truth.loc[objid].copy()
        gal["objid"] = objid
        # every star that can reach the square cut-out: its half-diagonal plus a PSF margin
        radius = np.sqrt(2) * 0.5 * mock_cfg["render_fov_d25"] * gal["d25_arcmin"] * 60.0 + 30.0
        render_galaxy(gal, stars_within(stars, gal["ra"], gal["dec"], radius), mock_cfg,
                      str(outdir / f"{objid}.fits"))
    return len(shard)
