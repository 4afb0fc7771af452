"""Render one mock g-band cut-out with GalSim: bulge, inclined disk with spiral arms, bar and
star-forming knots (diffuse and compact HII-like ones), a dust lane in edge-on disks, clumpy
irregulars, PSF, stars with halos (the brightest saturate) and noise."""

from __future__ import annotations

from typing import Any, Mapping

import galsim
import numpy as np
import pandas as pd

from mlpipe import physics
from mlpipe.io.fits_image import tan_wcs, write_image


def _draw(profile: galsim.GSObject, size: int, scale: float, offset,
          psf: galsim.GSObject | None = None) -> np.ndarray:
    """Draw a profile, convolved with the PSF when given (which also keeps GalSim's FFTs small)."""
    image = galsim.ImageD(size, size, scale=scale)
    if psf is not None:
        profile = galsim.Convolve(profile, psf)
    profile.drawImage(image=image, offset=offset, method="auto")
    return image.array


def _spiral_modulation(size: int, scale: float, offset, pa: float, cos_i: float, n_arms: int,
                       pitch_deg: float, scale_arcsec: float, amplitude: float) -> np.ndarray:
    """Multiplicative logarithmic-spiral pattern in the disk plane, seen at inclination i."""
    c = (size - 1) / 2.0
    y, x = np.mgrid[:size, :size]
    x = (x - c - offset[0]) * scale
    y = (y - c - offset[1]) * scale
    th = np.radians(pa)
    xp = x * np.cos(th) + y * np.sin(th)
    yp = (-x * np.sin(th) + y * np.cos(th)) / max(cos_i, 0.15)
    r = np.hypot(xp, yp) + 1e-3
    phase = n_arms * (np.arctan2(yp, xp) - np.log(r / scale_arcsec) / np.tan(np.radians(pitch_deg)))
    arms = 1.0 + amplitude * np.cos(phase)
    inner = np.exp(-(r / (0.5 * scale_arcsec)) ** 2)
    return inner + (1 - inner) * arms


def _dust_lane(size: int, scale: float, offset, pa: float, width_arcsec: float,
               length_arcsec: float, depth: float) -> np.ndarray:
    c = (size - 1) / 2.0
    y, x = np.mgrid[:size, :size]
    x = (x - c - offset[0]) * scale
    y = (y - c - offset[1]) * scale
    th = np.radians(pa)
    along = x * np.cos(th) + y * np.sin(th)
    across = -x * np.sin(th) + y * np.cos(th)
    lane = np.exp(-0.5 * (across / width_arcsec) ** 2) * np.exp(-0.5 * (along / length_arcsec) ** 4)
    return 1.0 - depth * lane


def galaxy_image(gal: pd.Series, size: int, scale: float, offset, psf: galsim.Moffat,
                 rng: np.random.Generator, cfg: Mapping[str, Any]) -> np.ndarray:
    """The noiseless, PSF-convolved galaxy in nanomaggies per pixel.

    Spiral arms and the dust lane multiply the convolved disk; the lane is kept wider than the
    PSF so that this shortcut stays close to modulating before the convolution.
    """
    flux = float(physics.nanomaggies(gal["g_obs"]))
    beta = gal["position_angle_deg"] * galsim.degrees
    re = float(gal["re_arcsec"])
    seed = int(rng.integers(2**31))
    if gal["type"] == "elliptical":
        prof = galsim.DeVaucouleurs(half_light_radius=re, flux=flux).shear(q=gal["axis_ratio"], beta=beta)
        return _draw(prof, size, scale, offset, psf)
    if gal["type"] == "irregular":
        ud = galsim.UniformDeviate(seed)
        base = galsim.Exponential(half_light_radius=re, flux=0.4 * flux).shear(q=gal["axis_ratio"], beta=beta)
        knots = galsim.RandomKnots(npoints=int(gal["n_clumps"]) * 8, half_light_radius=re,
                                   flux=0.35 * flux, rng=ud)
        image = _draw(base + knots, size, scale, offset, psf)
        for _ in range(int(gal["n_clumps"])):
            dx, dy = rng.normal(0, re, 2)
            clump = galsim.Gaussian(sigma=0.25 * re, flux=0.25 * flux / gal["n_clumps"])
            image += _draw(clump, size, scale, (offset[0] + dx / scale, offset[1] + dy / scale), psf)
        return image
    bt = float(gal["bulge_fraction"])
    incl = float(gal["inclination_deg"])
    cos_i = max(np.cos(np.radians(incl)), 0.05)
    knot_frac = cfg["disk_knot_fraction"]
    disk_flux = flux * (1 - bt)
    scale_radius = re / 1.678
    hii_flux = flux * cfg["hii_knots_per_disk"] * cfg["hii_knot_flux_fraction"]  # drawn by _hii_knots
    disk = galsim.InclinedExponential(incl * galsim.degrees, scale_radius=scale_radius, scale_h_over_r=0.1,
                                      flux=max(disk_flux * (1 - knot_frac) - hii_flux, 0.0))
    disk = disk.rotate(beta)
    image = _draw(disk, size, scale, offset, psf)
    if gal["n_arms"] > 0 and incl < 80:
        image *= _spiral_modulation(size, scale, offset, gal["position_angle_deg"], cos_i,
                                    int(gal["n_arms"]), gal["arm_pitch_deg"], scale_radius,
                                    cfg["arm_amplitude"])
    knots = galsim.RandomKnots(npoints=40, profile=galsim.Exponential(
        scale_radius=scale_radius, flux=disk_flux * knot_frac), rng=galsim.UniformDeviate(seed))
    image += _draw(knots.shear(q=max(cos_i, 0.1), beta=beta), size, scale, offset, psf)
    if gal["has_bar"]:
        bar = galsim.Sersic(n=0.5, half_light_radius=0.6 * re, flux=0.1 * disk_flux)
        image += _draw(bar.shear(q=0.25, beta=beta + rng.uniform(20, 80) * galsim.degrees),
                       size, scale, offset, psf)
    if bt > 0:
        bulge = galsim.DeVaucouleurs(half_light_radius=re * gal["bulge_re_ratio"], flux=flux * bt)
        image += _draw(bulge.shear(q=0.8, beta=beta), size, scale, offset, psf)
    if incl > cfg["dust_lane_inclination_deg"]:
        depth = 1 - 10 ** (-0.4 * min(2.5 * gal["a_g"], 3.0))
        image *= _dust_lane(size, scale, offset, gal["position_angle_deg"],
                            max(0.45 * scale_radius * cos_i, 0.5 * psf.fwhm), 2.5 * scale_radius, depth)
    return image


def _star_psf(img_cfg: Mapping[str, Any], fwhm: float, flux: float) -> galsim.GSObject:
    """A star: the Moffat core plus the PSF's wide, faint halo."""
    halo = img_cfg["psf_halo_fraction"]
    core = galsim.Moffat(beta=img_cfg["psf_moffat_beta"], fwhm=fwhm, flux=(1 - halo) * flux)
    if halo <= 0:
        return core
    return core + galsim.Moffat(beta=img_cfg["psf_halo_beta"], fwhm=img_cfg["psf_halo_fwhm_ratio"] * fwhm,
                                flux=halo * flux)


def _hii_knots(gal: pd.Series, size: int, scale: float, offset, psf: galsim.GSObject,
               rng: np.random.Generator, img_cfg: Mapping[str, Any]) -> np.ndarray:
    """Compact star-forming knots (PSF-sized, not in the star list) on a disk, spread like its light."""
    n_knots = int(img_cfg["hii_knots_per_disk"])
    if gal["type"] != "disk" or n_knots == 0:
        return np.zeros((size, size))
    flux = float(physics.nanomaggies(gal["g_obs"])) * img_cfg["hii_knot_flux_fraction"]
    cos_i = max(np.cos(np.radians(float(gal["inclination_deg"]))), 0.1)
    th = np.radians(float(gal["position_angle_deg"]))
    out = np.zeros((size, size))
    for _ in range(n_knots):
        r = rng.gamma(2.0, float(gal["re_arcsec"]) / 1.678)      # exponential-disk radii
        phi = rng.uniform(0, 2 * np.pi)
        u, v = r * np.cos(phi), r * np.sin(phi) * cos_i
        dx, dy = u * np.cos(th) - v * np.sin(th), u * np.sin(th) + v * np.cos(th)
        knot = galsim.Gaussian(sigma=0.3 * scale, flux=flux)
        out += _draw(knot, size, scale, (offset[0] + dx / scale, offset[1] + dy / scale), psf)
    return out


def render_galaxy(gal: pd.Series, stars: pd.DataFrame, cfg: Mapping[str, Any], path: str) -> None:
    """Render and write the FITS cut-out of one galaxy (flux in nanomaggies, TAN WCS)."""
    img_cfg = cfg["image"]
    scale = img_cfg["pixel_scale_arcsec"]
    rng = np.random.default_rng([cfg["seed"], int(gal["objid"]) % 2**32])
    size = int(np.clip(np.ceil(cfg["render_fov_d25"] * gal["d25_arcmin"] * 60 / scale),
                       img_cfg["min_size_px"], img_cfg["max_size_px"]))
    offset = tuple(rng.uniform(-img_cfg["max_centre_offset_px"], img_cfg["max_centre_offset_px"], 2))
    fwhm = float(gal["psf_fwhm_arcsec"])
    psf = galsim.Moffat(beta=img_cfg["psf_moffat_beta"], fwhm=fwhm)
    image = galaxy_image(gal, size, scale, offset, psf, rng, img_cfg)

    centre_pix = ((size - 1) / 2.0 + offset[0] + 1, (size - 1) / 2.0 + offset[1] + 1)
    wcs = tan_wcs(float(gal["ra"]), float(gal["dec"]), centre_pix, scale)
    if len(stars):
        sx, sy = wcs.all_world2pix(stars["ra"].to_numpy(), stars["dec"].to_numpy(), 0)
        inside = (sx > -10) & (sx < size + 10) & (sy > -10) & (sy < size + 10)
        for x, y, mag in zip(sx[inside], sy[inside], stars["psfMag_g"].to_numpy()[inside]):
            star = _star_psf(img_cfg, fwhm, float(physics.nanomaggies(mag)))
            c = (size - 1) / 2.0
            image += _draw(star, size, scale, (x - c, y - c))
    image += _hii_knots(gal, size, scale, offset, psf, rng, img_cfg)

    electrons = img_cfg["electrons_per_nanomaggy"]
    noisy = image + rng.normal(0, 1, image.shape) * np.sqrt(np.clip(image, 0, None) / electrons)
    noisy += rng.normal(0, img_cfg["sky_sigma_nanomaggies"], image.shape)
    noisy = np.minimum(noisy, img_cfg["saturation_nanomaggies"])   # bright stars saturate: flat cores
    write_image(noisy, wcs, path, {"BUNIT": "nanomaggy", "FILTER": "g", "OBJID": str(int(gal["objid"])),
                                   "PSF_FWHM": round(fwhm, 3), "SKYSIG": img_cfg["sky_sigma_nanomaggies"]})
