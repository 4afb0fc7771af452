"""Injection-recovery of foreground stars on real SDSS cut-outs (r band, ADU, sky not subtracted).

    python bench/star_injection_bench.py ../shared/real/sdss_cutouts

Into each cut-out, one star at a time, point sources are injected with the PSF model of
``preprocess.stars.psf_model`` at the image's FWHM as the pipeline finds it (the cut-outs have
no PSF header: measured on the image's own stars, else ``preprocess.psf_fwhm_arcsec``), from S/N 5
(PSF-optimal, against the sky noise) to saturated (a core clipped 10,000 sky sigma above the
sky, with its halo), on the sky (outside the galaxy's ellipse), on the disc (0.35-0.8 of the
ellipse radius) and near the nucleus (3-4 FWHM from the centre, just beyond the protected
nucleus). The preprocessing runs with the injected star as the catalogue and without a catalogue
(``detect_without_catalogue``). Measured per S/N bin and position class:

- removed: 1 - (injected flux left) / (injected flux), within the radius where the injected star
  falls to 0.5 sky sigma (at least 3 FWHM). The flux left is the processed injected image minus
  the original image with the *same* pixels replaced by the same surface fit, both without fill
  noise, so the original pixel noise cancels and only the star's leftover counts;
- damage: change of the galaxy's own flux inside its ellipse, more than that radius plus the
  fitting annulus away from the injected star, over the galaxy's flux there (per image: the
  largest over all injections). The star's faint light there may be removed or left, so the
  damage is the change beyond what it explains: below the galaxy's flux alone (light removed),
  or above the galaxy's plus the star's (light added);
- patch noise: pixel-to-pixel noise (MAD of neighbour differences) inside replaced patches over
  the same measure on the sky, and over the same measure on the same pixels of the image without
  the star (on a bright bulge the image's noise is the galaxy's photon noise as well as the
  sky's), from a run with the fill noise on;
- scaling: the scaling maximum, and the log stretch's ``a``, over those without the star; and
  what the CNN sees of it: the 90th percentile of the |change| of the log-stretched image (0-1)
  over the galaxy's ellipse where the injected star adds less than 1 sky sigma and nothing was
  replaced. Near the linear fallback (``a`` < ~2) a small change of the noise level is a large
  change of ``a`` and a small one of the image.

Without a catalogue and without injection, each image's replacements inside its ellipse and the
flux they removed (over the galaxy's flux there) are listed, with the number of candidates kept
as galaxy structure: genuine galaxy structure must not be replaced, foreground stars on the
galaxy should be (the figure shows which is which).

The cut-outs have no D25 catalogue. The galaxy's ellipse is derived from the image: the
connected region around the centre where the sky-subtracted image with its stars removed (the
run without a catalogue), smoothed by a Gaussian of 1 FWHM, exceeds 1 sky sigma (per pixel,
unsmoothed), described by its second moments and scaled so that the ellipse has the region's
area. Damage is relative to the galaxy's flux inside that ellipse. The pipeline's own field is the whole cut-out
(D25 = side / 1.125).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import galsim
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse
from scipy import ndimage

from mlpipe.config import load
from mlpipe.io.figure import save_figure
from mlpipe.io.fits_image import Image, read_image
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy
from mlpipe.preprocess.noise import pixel_noise
from mlpipe.preprocess.psf import PsfModel, radius_at_level
from mlpipe.preprocess.stars import (
    STATUS_REPLACED,
    annulus_width_px,
    protected_pixels,
    replace_disc,
    replaced_pixels,
)

PIXEL_ARCSEC = 0.396
SNR_BINS = [5, 10, 20, 50, 200, 1000]        # PSF-optimal S/N against the sky noise
SATURATED = [3.0, 30.0]                      # unclipped peak / saturation level
SATURATION_SIGMA = 1e4                       # clipped this many sky sigma above the sky
CLASSES = ["sky", "disc", "nucleus"]
NO_STARS = pd.DataFrame(columns=["ra", "dec", "psfMag_g"])


def galaxy_ellipse(raw: np.ndarray, *, sky_sigma: float, fwhm_px: float) -> tuple[float, float, float, float, float]:
    """(x0, y0, a, b, theta): the image's D25-like ellipse (see the module docstring)."""
    n = raw.shape[0]
    smooth = ndimage.gaussian_filter(raw, fwhm_px / 2.3548)
    labels, _ = ndimage.label(smooth > sky_sigma)
    c = (n - 1) // 2
    lab = labels[c, c] or np.bincount(labels[c - 2:c + 3, c - 2:c + 3].ravel())[1:].argmax() + 1
    yy, xx = np.nonzero(labels == lab)
    w = np.clip(raw[yy, xx], 0, None) + 1e-12
    x0, y0 = np.average(xx, weights=w), np.average(yy, weights=w)
    cov = np.cov(np.vstack([xx - xx.mean(), yy - yy.mean()]))
    evals, evecs = np.linalg.eigh(cov)
    ratio = np.sqrt(max(evals[0], 1e-6) / max(evals[1], 1e-6))
    a = np.sqrt(len(xx) / (np.pi * ratio))
    theta = float(np.arctan2(evecs[1, 1], evecs[0, 1]))
    return float(x0), float(y0), float(a), float(a * ratio), theta


def elliptical_radius(shape, ellipse) -> np.ndarray:
    x0, y0, a, b, th = ellipse
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    u = (xx - x0) * np.cos(th) + (yy - y0) * np.sin(th)
    v = -(xx - x0) * np.sin(th) + (yy - y0) * np.cos(th)
    return np.hypot(u / a, v / b)


def as_detector_writes(data: np.ndarray, *, like: np.ndarray, clip: float | None = None, seed: int = 0) -> np.ndarray:
    """``data`` (an image with a star added) clipped at ``clip`` where given, in whole counts where
    the image ``like`` is in whole counts (ADU): a star on the sky arrives in the same counts as
    everything else, and a float star on an integer image would change how its sky is measured (the
    median of whole counts). Rounded stochastically (up with the probability of the fraction), as
    noise before the converter does (plain rounding would drop every part of a star under half a
    count, its faint wings), and clipped at a whole count, as a detector saturates."""
    finite = like[np.isfinite(like)]
    if not np.array_equal(finite, np.round(finite)):
        return data if clip is None else np.minimum(data, clip)
    out = np.floor(data + np.random.default_rng(seed).uniform(0.0, 1.0, data.shape))
    return out if clip is None else np.minimum(out, np.floor(clip))


def draw_star(shape, *, x: float, y: float, flux: float, fwhm_px: float, psf: PsfModel) -> np.ndarray:
    # FFT aliasing of the pixel-convolved core kept below 1e-6 of its peak (a saturated star's
    # default-accuracy FFT rings along its row and column at several sky sigma)
    accurate = galsim.GSParams(folding_threshold=1e-6, maxk_threshold=1e-6)
    core = galsim.Moffat(beta=psf.core_beta, fwhm=fwhm_px, flux=(1 - psf.halo_fraction) * flux, gsparams=accurate)
    halo = galsim.Moffat(beta=psf.halo_beta, fwhm=psf.halo_fwhm_ratio * fwhm_px, flux=psf.halo_fraction * flux)
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    im = galsim.ImageD(shape[1], shape[0], scale=1.0)
    core.drawImage(image=im, offset=(x - cx, y - cy), method="auto")
    # the halo evaluated directly (its wide wings would need a large FFT)
    halo.drawImage(image=im, offset=(x - cx, y - cy), method="no_pixel", add_to_image=True)
    return im.array


def diff_noise(values_2d: np.ndarray, mask: np.ndarray) -> float:
    """Pixel-to-pixel noise within ``mask`` (``pixel_noise``), NaN with fewer than 10 neighbour pairs."""
    return pixel_noise(values_2d, mask, min_pairs=10) or np.nan


def run(image: Image, settings, centre_radec, d25, stars=NO_STARS, fill_noise=False, keep=True, seed=0):
    return preprocess_galaxy(image, ra_deg=centre_radec[0], dec_deg=centre_radec[1], d25_arcmin=d25,
                             stars=stars, distance_cm=3e26, sizes=[69], settings=settings,
                             rng=np.random.default_rng(seed), keep_stages=keep, fill_noise=fill_noise)


def forced(reference: np.ndarray, records, fwhm_px: float, keep: np.ndarray, near_xy=None,
           within=np.inf) -> np.ndarray:
    """``reference`` with the pixels of each replaced record replaced the same way, noise-free
    (no star model: the reference has no star)."""
    out = reference.copy()
    for r in records:
        if r.status != STATUS_REPLACED:
            continue
        if near_xy is not None and np.hypot(r.x - near_xy[0], r.y - near_xy[1]) > within:
            continue
        only = np.zeros(out.shape, bool)
        if r.replaced is not None:
            py, px, mask = r.replaced
            only[py, px] = mask
        replace_disc(out, x_px=r.x, y_px=r.y, radius_px=r.radius_px,
                     width_px=annulus_width_px(radius_px=r.radius_px, fwhm_px=fwhm_px), noise_sigma=0.0,
                     rng=np.random.default_rng(0), keep=keep, mirror_xy=r.mirror_xy, only=only)
    return out


def positions(rng, ell_r, cls, shape, fwhm_px, centre, on_source):
    """A random position of class ``cls``; a "sky" one outside the galaxy's ellipse and away from
    the image's own sources (``on_source``: within 2 FWHM of a pixel 5 sky sigma up)."""
    n_y, n_x = shape
    yy, xx = np.mgrid[:n_y, :n_x]
    edge = np.minimum.reduce([xx, yy, n_x - 1 - xx, n_y - 1 - yy]) >= 2 * fwhm_px
    if cls == "sky":
        ok = edge & (ell_r > 1.1) & ~on_source
    elif cls == "disc":
        ok = edge & (ell_r > 0.35) & (ell_r < 0.8) & (np.hypot(xx - centre[0], yy - centre[1]) > 5 * fwhm_px)
    else:
        d = np.hypot(xx - centre[0], yy - centre[1])
        ok = edge & (d >= 3 * fwhm_px) & (d <= 4 * fwhm_px)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return None
    k = rng.choice(idx)
    return float(xx.ravel()[k] + rng.uniform(-0.5, 0.5)), float(yy.ravel()[k] + rng.uniform(-0.5, 0.5))


def bench_image(path: Path, cfg: dict, reps: int, rows: list, per_image: list, shown: dict,
                inject_psf: dict) -> None:
    image = read_image(path)
    n_y, n_x = image.data.shape
    ra, dec = image.wcs.celestial.all_pix2world((n_x - 1) / 2, (n_y - 1) / 2, 0)
    radec = (float(ra), float(dec))
    d25 = min(n_x, n_y) * PIXEL_ARCSEC / 60 / 1.125
    pre = copy.deepcopy(cfg["preprocess"])
    cat = PreprocessSettings.from_config(pre, image_unit="counts", image_zero_point_mag=28.0)
    pre["stars"]["detect_without_catalogue"] = True
    nocat = PreprocessSettings.from_config(pre, image_unit="counts", image_zero_point_mag=28.0)
    inject_psf = dict(inject_psf)
    base = run(image, cat, radec, d25)
    # the image's PSF as the pipeline finds it (no PSF in the headers: measured on the image's own
    # stars, else preprocess.psf_fwhm_arcsec); stars are injected with it unless told otherwise
    fwhm_px = base.features["psf_fwhm_arcsec"] / PIXEL_ARCSEC
    inj_fwhm_px = inject_psf.pop("fwhm_arcsec", fwhm_px * PIXEL_ARCSEC) / PIXEL_ARCSEC
    psf = PsfModel(**{**cat.stars.psf.__dict__, **inject_psf})   # what is injected (default: the model)
    raw0, sky0, sigma = base.stages["raw"], base.features["sky"], base.features["sky_sigma"]
    shape = raw0.shape
    assert shape == image.data.shape, "the bench expects the field to be the whole cut-out"
    base_nc = run(image, nocat, radec, d25)
    c0 = base_nc.stages["clean"] + base_nc.features["sky"] - sky0
    ell = galaxy_ellipse(c0, sky_sigma=sigma, fwhm_px=fwhm_px)   # on the star-cleaned image
    ell_r = elliptical_radius(shape, ell)
    inside = ell_r <= 1.0
    galaxy_flux = c0[inside].sum()
    sky_region = ell_r > 1.2
    sky_noise = diff_noise(raw0, sky_region)
    shown[path.stem] = (run(image, nocat, radec, d25, fill_noise=True), ell)   # as the pipeline writes it
    in_ell = [r for r in base_nc.stars if r.status == STATUS_REPLACED and ell_r[int(r.y), int(r.x)] <= 1.0]
    per_image.append({"objid": path.stem, "side_px": n_x, "ellipse_a_px": round(ell[2], 1),
                      "nocat_replaced_in_ellipse": len(in_ell),
                      "nocat_replaced_at": " ".join(f"({r.x:.0f},{r.y:.0f})" for r in in_ell),
                      "nocat_kept_as_galaxy": int(base_nc.features["stars_kept_as_galaxy"]),
                      "nocat_flux_removed_in_ellipse": float((raw0 - c0)[inside].sum() / galaxy_flux),
                      "scale_a": base.features["scale_a"], "fwhm_arcsec": fwhm_px * PIXEL_ARCSEC})
    stamp = draw_star((41, 41), x=20, y=20, flux=1.0, fwhm_px=inj_fwhm_px, psf=psf)
    nea = 1.0 / np.sum(stamp**2)
    centre = ((n_x - 1) / 2, (n_y - 1) / 2)
    keep = protected_pixels(shape, protect_xy=[centre], radius_px=cat.stars.nucleus_protect_fwhm * fwhm_px)
    rng = np.random.default_rng(int(path.stem) % 2**32)
    reach = int(np.ceil(2 * fwhm_px))
    on_source = ndimage.maximum_filter(raw0, size=2 * reach + 1) > 5 * sigma
    peak_per_flux = float(stamp.max())
    bins = [(f"S/N {s}", s * sigma * np.sqrt(nea), False) for s in SNR_BINS]
    bins += [(f"sat x{k:g}", k * SATURATION_SIGMA * sigma / peak_per_flux, True) for k in SATURATED]
    damage_image = []
    for cls in CLASSES:
        for label, flux, saturated in bins:
            for _ in range(reps):
                xy = positions(rng, ell_r, cls, shape, fwhm_px, centre, on_source)
                if xy is None:
                    continue
                star = draw_star(shape, x=xy[0], y=xy[1], flux=flux, fwhm_px=inj_fwhm_px, psf=psf)
                data = as_detector_writes(image.data + star, like=image.data,
                                          clip=sky0 + SATURATION_SIGMA * sigma if saturated else None)
                injected = data - image.data
                img = Image(data, image.wcs, image.header)
                sra, sdec = image.wcs.celestial.all_pix2world(xy[0], xy[1], 0)
                listed = pd.DataFrame({"ra": [float(sra)], "dec": [float(sdec)], "psfMag_g": [np.nan]})
                r_ap = max(3 * inj_fwhm_px, radius_at_level(flux=flux, level=0.5 * sigma, fwhm_px=inj_fwhm_px, model=psf,
                                                        max_radius_px=2.0 * max(shape)))
                yy, xx = np.mgrid[:shape[0], :shape[1]]
                dist = np.hypot(xx - xy[0], yy - xy[1])
                aperture = dist <= r_ap
                away = inside & (dist > r_ap + annulus_width_px(radius_px=r_ap, fwhm_px=fwhm_px))
                row = {"objid": path.stem, "class": cls, "bin": label, "x": xy[0], "y": xy[1],
                       "flux_injected": float(injected[aperture].sum())}
                for mode, settings, ref_clean in (("catalogue", cat, raw0), ("none", nocat, c0)):
                    try:
                        res = run(img, settings, radec, d25, stars=listed if mode == "catalogue" else NO_STARS)
                    except Rejected as err:
                        row[f"{mode}_rejected"] = str(err)
                        continue
                    clean = res.stages["clean"] + res.features["sky"] - sky0
                    ref = forced(ref_clean, res.stars, res.features["psf_fwhm_arcsec"] / PIXEL_ARCSEC, keep,
                                 near_xy=xy, within=r_ap)
                    left = (clean - ref)[aperture].sum()
                    row[f"{mode}_removed"] = 1.0 - left / row["flux_injected"]
                    # what the star cannot explain: less than the galaxy alone, or more than galaxy + star
                    change, star_there = (clean - ref_clean)[away].sum(), injected[away].sum()
                    row[f"{mode}_damage"] = ((min(change, 0.0) + max(change - star_there, 0.0)) / galaxy_flux
                                             if away.any() else np.nan)
                    ref_run = base if mode == "catalogue" else base_nc
                    row[f"{mode}_scale_ratio"] = res.features["scale_max"] / ref_run.features["scale_max"]
                    row[f"{mode}_a_ratio"] = (res.features["scale_a"] / ref_run.features["scale_a"]
                                              if ref_run.features["scale_a"] > 0 else np.nan)
                    seen = inside & (injected < sigma) & ~replaced_pixels(shape, res.stars)
                    row[f"{mode}_stretch_change"] = (float(np.percentile(np.abs(
                        res.stages["scaled"] - ref_run.stages["scaled"])[seen], 90)) if seen.sum() >= 20 else np.nan)
                    if mode == "catalogue":
                        damage_image.append(row[f"{mode}_damage"])
                        try:
                            noisy = run(img, settings, radec, d25, stars=listed, fill_noise=True,
                                        seed=len(rows))   # a fresh noise draw per injection
                        except Rejected:   # the fill noise tipped the star's share over the limit
                            noisy = None
                        if noisy is not None:
                            patch = replaced_pixels(shape, noisy.stars)
                            patch_noise = diff_noise(noisy.stages["clean"], patch)
                            row["patch_noise_ratio"] = patch_noise / sky_noise
                            # on a bright bulge the image's own noise there is the galaxy's photon noise too
                            row["patch_noise_local_ratio"] = patch_noise / diff_noise(raw0, patch)
                rows.append(row)
    per_image[-1]["catalogue_damage_max"] = float(np.nanmax(np.abs(damage_image))) if damage_image else np.nan
    mine = [r.get("none_damage", np.nan) for r in rows if r["objid"] == path.stem]
    per_image[-1]["none_damage_max"] = float(np.nanmax(np.abs(mine))) if np.isfinite(mine).any() else np.nan


def figure(shown: dict, path: str) -> None:
    names = list(shown)
    ncol = 6
    nrow = int(np.ceil(2 * len(names) / ncol))
    fig = Figure(figsize=(2.0 * ncol, 2.1 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, name in enumerate(names):
        gal, ell = shown[name]
        sigma = max(gal.features["sky_sigma"], 1e-12)
        for j, key in enumerate(("raw", "clean")):
            ax = axes.ravel()[2 * k + j]
            ax.imshow(np.arcsinh(gal.stages[key] / (3 * sigma)), origin="lower", cmap="gray")
            ax.set_title(f"{name[-6:]} {'before' if key == 'raw' else 'after'}", fontsize=7)
            if key == "raw":
                x0, y0, a, b, th = ell
                ax.add_patch(Ellipse((x0, y0), 2 * a, 2 * b, angle=np.degrees(th),
                                                        fill=False, color="tab:blue", lw=0.6))
                for r in gal.stars:
                    color = {"replaced": "tab:red", "galaxy structure": "tab:green"}.get(r.status)
                    if color:
                        ax.add_patch(Circle((r.x, r.y), max(r.radius_px, 3), fill=False, color=color, lw=0.6))
    fig.suptitle("real SDSS r-band cut-outs without a star catalogue: before (blue: derived ellipse; red: "
                 "replaced; green: kept as galaxy structure) and after", fontsize=8)
    save_figure(fig, path)


def rejected(group: pd.DataFrame, mode: str) -> int:
    column = f"{mode}_rejected"
    return int(group[column].notna().sum()) if column in group else 0


def summarise(rows: pd.DataFrame, per_image: pd.DataFrame) -> str:
    order = {b: i for i, b in enumerate([f"S/N {s}" for s in SNR_BINS] + [f"sat x{k:g}" for k in SATURATED])}
    lines = ["| class | bin | n | removed, catalogue (median / 10th pct) | removed, no catalogue (median / 10th pct) | "
             "patch noise / sky noise; / the same pixels' noise without the star (median) | "
             "scaling max ratio (min / max) | no catalogue (min / max) | "
             "`a` ratio (min / max) | stretched galaxy: 90th pct abs change (max) | "
             "rejected (catalogue / no catalogue) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (cls, b), g in sorted(rows.groupby(["class", "bin"]), key=lambda t: (CLASSES.index(t[0][0]), order[t[0][1]])):
        removed = {mode: f"{round(g[f'{mode}_removed'].median(), 3) + 0.0:.3f} / "   # no "-0.000"
                          f"{round(g[f'{mode}_removed'].quantile(0.1), 3) + 0.0:.3f}" for mode in ("catalogue", "none")}
        lines.append(f"| {cls} | {b} | {len(g)} | {removed['catalogue']} | {removed['none']} | "
                     f"{g['patch_noise_ratio'].median():.2f}; {g['patch_noise_local_ratio'].median():.2f} | "
                     f"{g['catalogue_scale_ratio'].min():.3f} / "
                     f"{g['catalogue_scale_ratio'].max():.3f} | {g['none_scale_ratio'].min():.3f} / "
                     f"{g['none_scale_ratio'].max():.3f} | "
                     f"{g['catalogue_a_ratio'].min():.2f} / {g['catalogue_a_ratio'].max():.2f} | "
                     f"{g['catalogue_stretch_change'].max():.3f} | "
                     f"{rejected(g, 'catalogue')} / {rejected(g, 'none')} |")
    dmg, dmg_none = per_image["catalogue_damage_max"], per_image["none_damage_max"]
    lines.append("")
    lines.append(f"damage (catalogue, per image, largest |change| of the galaxy's flux away from the injected "
                 f"star): median {100 * dmg.median():.3f} %, max {100 * dmg.max():.3f} %; without a catalogue "
                 f"(where the image's own stars go too): median {100 * dmg_none.median():.3f} %, "
                 f"max {100 * dmg_none.max():.3f} %")
    linear = rows[rows["catalogue_a_ratio"] == 0]
    lines.append(f"linear fallback (`a` = 0) with the injected star, where the image has `a` > 0 without it "
                 f"(catalogue): {len(linear)} of {int(rows['catalogue_a_ratio'].notna().sum())}"
                 + (": " + ", ".join(f"{r.objid} {r['class']} {r['bin']}" for _, r in linear.iterrows())
                    if len(linear) else ""))
    lines.append("")
    lines.append("| objid | side px | ellipse a px | no catalogue: replaced in ellipse (x,y) | kept as galaxy | "
                 "flux replaced / galaxy flux | damage max, catalogue / no catalogue | `a` without injection | "
                 "PSF FWHM (arcsec) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for _, r in per_image.iterrows():
        lines.append(f"| {r['objid']} | {r['side_px']} | {r['ellipse_a_px']} | {r['nocat_replaced_in_ellipse']} "
                     f"{r['nocat_replaced_at']} | "
                     f"{r['nocat_kept_as_galaxy']} | {100 * r['nocat_flux_removed_in_ellipse']:.2f} % | "
                     f"{100 * r['catalogue_damage_max']:.3f} % / {100 * r['none_damage_max']:.3f} % | "
                     f"{r['scale_a']:.3g} | {r['fwhm_arcsec']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", default="../shared/real/sdss_cutouts")
    ap.add_argument("--limit", type=int, default=None, help="only the first N cut-outs")
    ap.add_argument("--reps", type=int, default=1, help="injections per image, class and bin")
    ap.add_argument("--figure", default="docs/figures/star_injection_cutouts.png")
    ap.add_argument("--config", default="workflow_config.yaml")
    ap.add_argument("--inject-core-beta", type=float, default=None,
                    help="inject stars whose PSF differs from the pipeline's model: Moffat beta of the core")
    ap.add_argument("--inject-halo-fraction", type=float, default=None, help="... its halo's flux fraction")
    ap.add_argument("--inject-fwhm-arcsec", type=float, default=None, help="... and its FWHM (the pipeline "
                    "assumes preprocess.psf_fwhm_arcsec)")
    args = ap.parse_args(argv)
    cfg = load(args.config)
    files = sorted(Path(args.folder).glob("*.fits"))[:args.limit]
    rows, per_image, shown = [], [], {}
    t0 = time.perf_counter()
    for path in files:
        inject = {k: v for k, v in (("core_beta", args.inject_core_beta),
                                    ("halo_fraction", args.inject_halo_fraction),
                                    ("fwhm_arcsec", args.inject_fwhm_arcsec)) if v is not None}
        bench_image(path, cfg, args.reps, rows, per_image, shown, inject)
    rows_df, per_image_df = pd.DataFrame(rows), pd.DataFrame(per_image)
    if args.figure:
        figure(shown, args.figure)
    print(f"{len(files)} cut-outs, {len(rows_df)} injections, {time.perf_counter() - t0:.0f} s")
    print(summarise(rows_df, per_image_df))
    return rows_df, per_image_df


if __name__ == "__main__":
    main()
