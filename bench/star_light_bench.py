"""How much star light the luminosity keeps: stars centred outside the field and stars on the nucleus.

    python bench/star_light_bench.py real ../shared/real/sdss_cutouts
    python bench/star_light_bench.py pairs ../shared/real/sdss_cutouts
    python bench/star_light_bench.py mock results

``real``: into each real SDSS cut-out of at least 120 px, whose field is set to 0.7 of its side
(so that the image reaches 0.15 of the side beyond the field on each side), one listed star at a
time is injected with the PSF model (core and halo) at the image's FWHM as the pipeline finds it,
at a random height within the field and along x: in the image around the field (halfway and 80 %
of the way to the image's edge), just beyond the field's edge (1.5 px), and centred off the
image (8 and 25 px beyond its edge). Brightness: no star (only listed: nothing may change), a
star at 1 % of the saturation level, and saturated stars of unclipped peak 3x and 30x the clip
(10^4 sky sigma above the sky). Listed without a magnitude. Reported: the field's luminosity
(``lum_sum``) over that of the same image without the star, per position and brightness.

``pairs``: into the same cut-outs and fields, two listed saturated stars at a time (unclipped
peaks 2-30x the clip), both on the field beyond 2.5 FWHM of its centre and 12-40 px apart; each
pair is run with the catalogue in both row orders, and each of its stars alone. Reported: the
field's luminosity over that of the image without the stars, per order, and how often the two
orders differ.

``mock``: every galaxy of a mock run's image stores (``results/images/shard-*.h5``) is rendered
again without its stars (same galaxy, knots and noise) and preprocessed without a catalogue; its
luminosity is the reference for the stored one, preprocessed with its listed stars. Reported:
the distribution of |log10(stored / reference)|, the galaxies beyond 0.05 dex, and the rejections
(the store's ``rejects``) with the reference's ratio for the rejected.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from star_injection_bench import SATURATION_SIGMA, as_detector_writes, draw_star  # noqa: E402

from mlpipe import physics  # noqa: E402
from mlpipe.config import load  # noqa: E402
from mlpipe.io.fits_image import Image, read_image  # noqa: E402
from mlpipe.preprocess.errors import Rejected  # noqa: E402
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy  # noqa: E402

NO_STARS = pd.DataFrame({"ra": [], "dec": [], "psfMag_g": []})
FIELD_FRACTION = 0.7
BRIGHTNESS = {"none": 0.0, "1 % of the clip": 0.01, "sat x3": 3.0, "sat x30": 30.0}


def _run(image: Image, settings: PreprocessSettings, radec, d25_arcmin: float, stars=NO_STARS,
         distance_cm: float = 3e26) -> float:
    return preprocess_galaxy(image, ra_deg=radec[0], dec_deg=radec[1], d25_arcmin=d25_arcmin, stars=stars,
                             distance_cm=distance_cm, sizes=[32], settings=settings, rng=np.random.default_rng(0),
                             fill_noise=False).features["lum_sum"]


@dataclass
class Cutout:
    """A real cut-out of at least 120 px whose field is FIELD_FRACTION of its side, as the
    pipeline sees it without stars added."""
    path: Path
    image: Image
    radec: tuple[float, float]
    d25_arcmin: float
    half_px: float            # half the field's side
    lum_sum: float            # the field's luminosity
    sky: float
    sky_sigma: float
    fwhm_px: float
    peak_per_flux: float      # a star's peak pixel per unit flux at that FWHM

    @property
    def clip(self) -> float:
        """The level injected stars are clipped at: SATURATION_SIGMA sky sigma above the sky."""
        return self.sky + SATURATION_SIGMA * self.sky_sigma

    def star_flux(self, peak_over_clip: float) -> float:
        """The flux of a star whose unclipped peak is ``peak_over_clip`` times the clip's height."""
        return peak_over_clip * SATURATION_SIGMA * self.sky_sigma / self.peak_per_flux

    def ratio_with(self, light, xy, settings: PreprocessSettings) -> float | str:
        """The field's luminosity with ``light`` added (clipped; in whole counts where the image is)
        and its stars listed at ``xy`` (px, no magnitude), over that without them; or the reason
        the galaxy was rejected."""
        data = as_detector_writes(self.image.data + light, like=self.image.data, clip=self.clip)
        listed = []
        for x, y in xy:
            ra, dec = self.image.wcs.celestial.all_pix2world(x, y, 0)
            listed.append({"ra": float(ra), "dec": float(dec), "psfMag_g": np.nan})
        try:
            return _run(Image(data, self.image.wcs, self.image.header), settings, self.radec, self.d25_arcmin,
                        pd.DataFrame(listed, columns=["ra", "dec", "psfMag_g"])) / self.lum_sum
        except Rejected as err:
            return f"rejected: {err}"


def real_cutouts(folder: Path, settings: PreprocessSettings):
    for path in sorted(folder.glob("*.fits")):
        image = read_image(path)
        n_y, n_x = image.data.shape
        if min(n_x, n_y) < 120:
            continue
        ra, dec = image.wcs.celestial.all_pix2world((n_x - 1) / 2, (n_y - 1) / 2, 0)
        radec = (float(ra), float(dec))
        half = FIELD_FRACTION * min(n_x, n_y) / 2
        d25 = 2 * half * 0.396 / 60 / settings.fov_d25
        base = preprocess_galaxy(image, ra_deg=radec[0], dec_deg=radec[1], d25_arcmin=d25, stars=NO_STARS,
                                 distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0),
                                 fill_noise=False)
        fwhm_px = base.features["psf_fwhm_arcsec"] / 0.396
        peak_per_flux = float(draw_star((41, 41), x=20, y=20, flux=1.0, fwhm_px=fwhm_px,
                                        psf=settings.stars.psf).max())
        yield Cutout(path, image, radec, d25, half, base.features["lum_sum"], base.features["sky"],
                     base.features["sky_sigma"], fwhm_px, peak_per_flux)


def _real_settings(cfg: dict) -> PreprocessSettings:
    return PreprocessSettings.from_config(copy.deepcopy(cfg["preprocess"]), image_unit="counts",
                                          image_zero_point_mag=28.0)


def bench_real(folder: Path, cfg: dict) -> pd.DataFrame:
    settings = _real_settings(cfg)
    rows = []
    for cut in real_cutouts(folder, settings):
        n_y, n_x = cut.image.data.shape
        cy = (n_y - 1) / 2
        edge = (n_x - 1) / 2 + cut.half_px
        rng = np.random.default_rng(int(cut.path.stem) % 2**32)
        for label, k in BRIGHTNESS.items():
            for where, x in (("image around the field, 1/2 way", edge + 0.5 * (n_x - 1 - edge)),
                             ("image around the field, 4/5 way", edge + 0.8 * (n_x - 1 - edge)),
                             ("1.5 px beyond the field", edge + 1.5),
                             ("8 px off the image", n_x - 1 + 8.0), ("25 px off the image", n_x - 1 + 25.0)):
                y = cy + rng.uniform(-0.9, 0.9) * cut.half_px
                star = draw_star((n_y, n_x), x=x, y=y, flux=cut.star_flux(k), fwhm_px=cut.fwhm_px,
                                 psf=settings.stars.psf) if k else 0.0
                ratio = cut.ratio_with(star, [(x, y)], settings)
                rows.append({"objid": cut.path.stem, "brightness": label, "where": where,
                             **({"rejected": ratio} if isinstance(ratio, str) else {"ratio": ratio})})
    return pd.DataFrame(rows)


PAIRS_PER_CUTOUT = 8


def bench_pairs(folder: Path, cfg: dict) -> pd.DataFrame:
    settings = _real_settings(cfg)
    rows = []
    for cut in real_cutouts(folder, settings):
        fwhm_px = cut.fwhm_px
        n_y, n_x = cut.image.data.shape
        cx, cy = (n_x - 1) / 2, (n_y - 1) / 2
        rng = np.random.default_rng(int(cut.path.stem) % 2**32 + 1)
        made = 0
        while made < PAIRS_PER_CUTOUT:
            xy = []
            for _ in range(2):
                r = rng.uniform(2.5 * fwhm_px, 0.9 * cut.half_px)
                angle = rng.uniform(0, 2 * np.pi)
                xy.append((cx + r * np.cos(angle), cy + r * np.sin(angle)))
            if not 12 <= np.hypot(xy[0][0] - xy[1][0], xy[0][1] - xy[1][1]) <= 40:
                continue
            made += 1
            peaks = (rng.uniform(2, 30), rng.uniform(2, 30))
            stars = [draw_star((n_y, n_x), x=x, y=y, flux=cut.star_flux(k), fwhm_px=fwhm_px, psf=settings.stars.psf)
                     for (x, y), k in zip(xy, peaks)]
            runs = {"both, listed A B": (stars[0] + stars[1], xy), "both, listed B A": (stars[0] + stars[1], xy[::-1]),
                    "A alone": (stars[0], xy[:1]), "B alone": (stars[1], xy[1:])}
            rows.append({"objid": cut.path.stem, "peaks": f"{peaks[0]:.0f}x, {peaks[1]:.0f}x",
                         **{name: cut.ratio_with(light, at, settings) for name, (light, at) in runs.items()}})
    return pd.DataFrame(rows)


def bench_mock(results: Path, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    import h5py

    from mlpipe.mock.render import render_galaxy

    settings = PreprocessSettings.from_config(cfg["preprocess"])
    cosmo = physics.cosmology(cfg["cosmology"]["H0"], cfg["cosmology"]["Om0"])
    sample = pd.read_csv(results / "catalog" / "sample.csv").set_index("objid")
    truth = pd.read_csv(results / "mock" / "truth.csv").set_index("objid")
    stored, rejects = [], []
    for store in sorted((results / "images").glob("shard-*.h5")):
        with h5py.File(store) as f:
            stored.append(pd.Series(f["features/lum_sum"][()], index=f["objid"][()]))
            reasons = [r.decode() if isinstance(r, bytes) else str(r) for r in f["rejects/reason"][()]]
            rejects.append(pd.Series(reasons, index=f["rejects/objid"][()], dtype=object))
    lum = pd.concat(stored)
    rejected = pd.concat(rejects) if rejects else pd.Series(dtype=object)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for objid in list(lum.index) + list(rejected.index):
            gal = truth.loc[int(objid)].copy()
            gal["objid"] = int(objid)
            path = str(Path(tmp) / "g.fits")
            render_galaxy(gal, NO_STARS, cfg["mock"], path)
            row = sample.loc[int(objid)]
            distance = float(physics.luminosity_distance_cm(np.array([row["z"]]), cosmo)[0])
            try:
                reference = _run(read_image(path), settings, (row["ra"], row["dec"]), float(row["d25_arcmin"]),
                                 distance_cm=distance)
            except Rejected:
                continue
            rows.append({"objid": int(objid), "stored_over_star_free": lum.get(objid, np.nan) / reference,
                         "rejected": rejected.get(objid, "")})
    return pd.DataFrame(rows), rejected


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["real", "pairs", "mock"])
    ap.add_argument("path", help="the real cut-outs' folder, or a mock run's results/ folder")
    ap.add_argument("--config", default="workflow_config.yaml")
    args = ap.parse_args(argv)
    cfg = load(args.config)
    pd.set_option("display.width", 200)
    if args.kind == "real":
        df = bench_real(Path(args.path), cfg)
        if "rejected" not in df:
            df["rejected"] = np.nan
        table = df.groupby(["brightness", "where"], sort=False).agg(
            n=("objid", "size"), min=("ratio", "min"), median=("ratio", "median"), max=("ratio", "max"),
            rejected=("rejected", lambda r: int(r.notna().sum())))
        print(table.round(3).to_markdown())
        off = (df["ratio"] - 1).abs()
        print(f"\n{len(df)} runs on {df['objid'].nunique()} cut-outs: off by more than 10 %: {int((off > 0.1).sum())}, "
              f"more than 50 %: {int((off > 0.5).sum())}; rejected: {int(df['rejected'].notna().sum())}")
    elif args.kind == "pairs":
        df = bench_pairs(Path(args.path), cfg)
        both = ["both, listed A B", "both, listed B A"]
        ratio = df[both + ["A alone", "B alone"]].apply(pd.to_numeric, errors="coerce")
        rejected = df[both + ["A alone", "B alone"]].map(lambda v: isinstance(v, str))
        shown = {k: ratio[k].round(3).astype(object).where(~rejected[k], "rejected") for k in ratio}
        print(df.assign(**shown).to_markdown(index=False))
        same = (df[both[0]].astype(str) == df[both[1]].astype(str))
        for name in both + ["A alone", "B alone"]:
            off = (ratio[name] - 1).abs()
            print(f"{name}: off by more than 10 %: {int((off > 0.1).sum())}, more than 50 %: {int((off > 0.5).sum())}, "
                  f"rejected: {int(rejected[name].sum())} of {len(df)}")
        print(f"{len(df)} pairs on {df['objid'].nunique()} cut-outs: the two row orders give the same result in "
              f"{int(same.sum())}")
    else:
        df, rejected = bench_mock(Path(args.path), cfg)
        kept = df[df["rejected"] == ""]
        dex = np.log10(kept["stored_over_star_free"]).abs()
        print(f"{len(kept)} galaxies preprocessed: |log10(stored / star-free)| median {dex.median():.4f}, "
              f"99th percentile {dex.quantile(0.99):.4f}, max {dex.max():.3f} dex; beyond 0.05 dex: {int((dex > 0.05).sum())}")
        print(kept.assign(dex=dex).sort_values("dex", ascending=False).head(8).to_markdown(index=False))
        print(f"\n{len(rejected)} rejected:")
        for objid, reason in rejected.items():
            print(f"- {objid}: {reason}")


if __name__ == "__main__":
    main()
