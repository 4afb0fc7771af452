"""Draw docs/figures/real_cutouts.png: a few real SDSS cut-outs before and after preprocessing.

Run from the repository root with the real survey files in ../shared/real beside the clone:
    python docs/make_real_cutout_figure.py ../shared/real/sdss_cutouts
The cut-outs are r-band in ADU (counts) with the sky not subtracted and no star catalogue, so the
sky is estimated in the field's corners and the candidates found in the image stand in for the
catalogue (replaced only when they prove to be stars against the galaxy's light).
"""

import copy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlpipe.io.fits_image import read_image
from mlpipe.preprocess.figure import preprocessing_figure
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy

CHOSEN = ["1237654652032712862", "1237655128770347419", "1237664093973512232", "1237671124293910779"]


def main(folder: str) -> None:
    with open("workflow_config.yaml") as fh:
        cfg = copy.deepcopy(yaml.safe_load(fh)["preprocess"])
    cfg["stars"]["detect_without_catalogue"] = True
    settings = PreprocessSettings.from_config(cfg, image_unit="counts", image_zero_point_mag=28.0)
    shown = {}
    for objid in CHOSEN:
        img = read_image(Path(folder) / f"{objid}.fits")
        n_y, n_x = img.data.shape
        ra, dec = img.wcs.celestial.all_pix2world((n_x - 1) / 2, (n_y - 1) / 2, 0)
        shown[int(objid)] = preprocess_galaxy(img, ra_deg=float(ra), dec_deg=float(dec),
                                              d25_arcmin=min(n_x, n_y) * 0.396 / 60 / 1.125,
                                              stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]),
                                              distance_cm=3e26, sizes=[69], settings=settings,
                                              rng=np.random.default_rng(0), keep_stages=True)
    preprocessing_figure(shown, "docs/figures/real_cutouts.png", "real SDSS r-band cut-outs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/real/sdss_cutouts")
