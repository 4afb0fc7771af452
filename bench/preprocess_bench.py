"""Preprocessing throughput per core, split by step, on mock SDSS-sized cut-outs.

    python bench/preprocess_bench.py --galaxies 300 --sizes 69 128 197

Renders the cut-outs first (not timed), then runs each step of the shard job in one process
and prints galaxies per second per core and the share of each step.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from mlpipe import physics
from mlpipe.catalog.sample import build_sample
from mlpipe.io.fits_image import read_image
from mlpipe.io.stars import read_stars, stars_within
from mlpipe.io.store import create_store
from mlpipe.mock.survey import render_shard, write_mock_catalogues
from mlpipe.preprocess.cutout import cut_field_of_view
from mlpipe.preprocess.features import log_image_features, luminosity_features
from mlpipe.preprocess.galaxy import PreprocessSettings, brightest_peak
from mlpipe.preprocess.resize import resize
from mlpipe.preprocess.scaling import galaxy_range, log_stretch, noise_level, rescale_unit, solve_scaling
from mlpipe.preprocess.stars import subtract_stars
from mlpipe.preprocess.units import NANOMAGGY_CGS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--galaxies", type=int, default=300)
    ap.add_argument("--sizes", type=int, nargs="+", default=[69, 128, 197])
    args = ap.parse_args()
    cfg = yaml.safe_load(open("workflow_config.yaml"))
    pre = copy.deepcopy(cfg["preprocess"])
    settings = PreprocessSettings.from_config(pre)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_mock_catalogues(cfg["mock"], cfg["cosmology"], tmp)
        names = {"gswlc": "GSWLC-X2.dat", "hyperleda": "hyperleda.csv", "gz2": "gz2_hart16.csv",
                 "photometry": "sdss_photometry.csv"}
        sample, _ = build_sample({k: str(tmp / v) for k, v in names.items()}, catalog_cfg=cfg["catalog"],
                                 cosmo_cfg=cfg["cosmology"])
        shard = sample.head(args.galaxies)
        shard.to_csv(tmp / "shard.csv", index=False)
        render_shard(tmp / "shard.csv", tmp / "truth.csv", tmp / "stars.csv", cfg["mock"], tmp / "img")
        stars = read_stars(tmp / "stars.csv")
        cosmo = physics.cosmology(70.0, 0.3)
        t = dict.fromkeys(["read", "cutout+sky", "stars", "features+scaling", "resize", "write"], 0.0)
        out = {s: [] for s in args.sizes}
        pixels = []
        for _, gal in shard.iterrows():
            rng = np.random.default_rng(0)
            t0 = time.perf_counter()
            img = read_image(tmp / "img" / f"{gal['objid']}.fits")
            t1 = time.perf_counter()
            cut = cut_field_of_view(img, ra_deg=gal["ra"], dec_deg=gal["dec"], d25_arcmin=gal["d25_arcmin"],
                                    fov_d25=pre["fov_d25"], min_coverage=pre["min_fov_coverage"],
                                    max_bad_fraction=pre["max_bad_pixel_fraction"],
                                    min_zero_run_px=pre["min_zero_run_px"],
                                    max_masked_d25_fraction=pre["max_masked_d25_fraction"])
            t2 = time.perf_counter()
            near = stars_within(stars, gal["ra"], gal["dec"], 60 * gal["d25_arcmin"])
            sx, sy = img.wcs.all_world2pix(near["ra"].to_numpy(), near["dec"].to_numpy(), 0)
            n = cut.data.shape[0]
            fwhm_px = 1.4 / 0.396
            protect = [((n - 1) / 2, (n - 1) / 2)]
            if len(near):
                peak = brightest_peak(cut.data, fwhm_px=fwhm_px, within_px=2 * fwhm_px)
                protect += [peak] if peak is not None else []
            clean, _ = subtract_stars(cut.data, star_xy=np.column_stack([sx - cut.x0, sy - cut.y0]),
                                      star_mag=near["psfMag_g"].to_numpy(), sky_sigma=cut.sky_sigma,
                                      fwhm_px=fwhm_px, protect_xy=protect, settings=settings.stars, rng=rng,
                                      valid=~cut.missing)
            t3 = time.perf_counter()
            luminosity_features(clean, float(physics.luminosity_distance_cm(gal["z"], cosmo)), NANOMAGGY_CGS)
            lo, hi = galaxy_range(clean, radius_px=n / (2 * pre["fov_d25"]))
            unit = rescale_unit(clean, min_value=lo, max_value=hi)
            scaled = log_stretch(unit, solve_scaling(noise_level(unit, 3.0), 0.2))
            log_image_features(scaled)
            t4 = time.perf_counter()
            for s in args.sizes:
                out[s].append(resize(scaled, s))
            t5 = time.perf_counter()
            pixels.append(n)
            for key, dt in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                t[key] += dt
        t0 = time.perf_counter()
        with create_store(tmp / "bench.h5") as fh:
            for s in args.sizes:
                fh.create_dataset(f"images/{s}", data=np.stack(out[s]), chunks=(1, s, s))
        t["write"] = time.perf_counter() - t0
    total = sum(t.values())
    n = len(shard)
    print(f"galaxies: {n}, cut-out side median {int(np.median(pixels))} px "
          f"(range {min(pixels)}-{max(pixels)}), sizes {args.sizes}")
    print(f"throughput: {n / total:.1f} galaxies/s per core ({1e3 * total / n:.1f} ms per galaxy)")
    print("| step | ms per galaxy | share |\n|---|---|---|")
    for key, dt in t.items():
        print(f"| {key} | {1e3 * dt / n:.2f} | {dt / total:.0%} |")


if __name__ == "__main__":
    main()
