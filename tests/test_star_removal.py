"""Star removal that keeps the galaxy, missing data, image units, PSF header checks, robust
scaling, and the injection-recovery benchmark on real cut-outs."""

import copy
import sys
from pathlib import Path

import galsim
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from mlpipe.io.fits_image import Image, tan_wcs
from mlpipe.preprocess.cutout import cut_field_of_view, missing_pixels
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy
from mlpipe.preprocess.psf import header_fwhm_arcsec
from mlpipe.preprocess.scaling import galaxy_range
from mlpipe.preprocess.stars import STATUS_GALAXY, STATUS_REPLACED, StarSettings, subtract_stars
from mlpipe.preprocess.units import NANOMAGGY_CGS, image_unit

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "real" / "sdss_cutouts"
SCALE, FWHM = 0.396, 1.4
SIZE, SIGMA = 140, 0.025


def _disk_with_knot_and_star(knot_xy=(85.0, 70.0), star_xy=(40.0, 100.0), star_flux=20.0):
    """An exponential disk with a compact knot on it (a star-forming region: slightly broader than
    the PSF, on bright disk light) and a foreground star, in nanomaggies."""
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM)
    c = (SIZE - 1) / 2.0
    disk = galsim.Exponential(half_light_radius=8.0, flux=600.0).shear(q=0.7, beta=20 * galsim.degrees)
    knot = galsim.Gaussian(fwhm=1.0, flux=6.0)
    star = galsim.Moffat(beta=3.5, fwhm=FWHM, flux=star_flux)
    def draw(obj, xy, conv=True):
        prof = galsim.Convolve(obj, psf) if conv else obj
        return prof.drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(xy[0] - c, xy[1] - c)).array
    galaxy = draw(disk, (c, c)) + draw(knot, knot_xy)
    return galaxy, draw(star, star_xy, conv=False)


def _settings(config, **stars):
    cfg = copy.deepcopy(config["preprocess"])
    cfg["stars"].update(stars)
    return PreprocessSettings.from_config(cfg)


def test_star_removed_knot_kept_without_catalogue(config):
    galaxy, star = _disk_with_knot_and_star()
    rng = np.random.default_rng(3)
    noise = rng.normal(0, SIGMA, (SIZE, SIZE))
    settings = _settings(config, detect_without_catalogue=True).stars
    from mlpipe.preprocess.stars import find_point_sources
    image = galaxy + star + noise
    cand = find_point_sources(image, sky_sigma=SIGMA, fwhm_px=FWHM / SCALE, settings=settings)
    centre = ((SIZE - 1) / 2, (SIZE - 1) / 2)
    clean, records = subtract_stars(image, star_xy=cand, star_mag=np.full(len(cand), np.nan), sky_sigma=SIGMA,
                                    fwhm_px=FWHM / SCALE, protect_xy=[centre], settings=settings, rng=rng,
                                    from_catalogue=False)
    near = {tuple(np.round(r_xy)): r for r_xy, r in zip(cand, records)}
    star_rec = [r for xy, r in near.items() if np.hypot(xy[0] - 40, xy[1] - 100) < 2]
    knot_rec = [r for xy, r in near.items() if np.hypot(xy[0] - 85, xy[1] - 70) < 2]
    assert star_rec and star_rec[0].status == STATUS_REPLACED
    assert knot_rec and knot_rec[0].status == STATUS_GALAXY           # found, judged, kept
    yy, xx = np.mgrid[:SIZE, :SIZE]
    star_region = np.hypot(xx - 40, yy - 100) < 4 * FWHM / SCALE
    left = (clean - galaxy - noise)[star_region].sum()
    assert abs(left) < 0.05 * star.sum() + 3 * SIGMA * np.sqrt(star_region.sum())
    knot_region = np.hypot(xx - 85, yy - 70) < 3
    assert np.array_equal(clean[knot_region], image[knot_region])     # the knot's pixels untouched
    # the replaced patch has the sky's noise, not the annulus scatter
    patch = np.hypot(xx - 40, yy - 100) <= star_rec[0].radius_px
    resid = clean[patch] - galaxy[patch]
    assert 0.75 < resid.std() / SIGMA < 1.3


def test_saturated_star_with_halo_removed_and_scaling_set_by_galaxy(config):
    galaxy, _ = _disk_with_knot_and_star()
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM, flux=0.95 * 3e4) + galsim.Moffat(beta=2.0, fwhm=6 * FWHM, flux=0.05 * 3e4)
    c = (SIZE - 1) / 2.0
    star = psf.drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(30 - c, 110 - c)).array
    rng = np.random.default_rng(4)
    noise = rng.normal(0, SIGMA, (SIZE, SIZE))
    image = np.minimum(galaxy + star + noise, 60.0)   # clipped core
    settings = _settings(config).stars
    clean, records = subtract_stars(image, star_xy=np.array([[30.4, 110.3]]), star_mag=np.array([12.0]),
                                    sky_sigma=SIGMA, fwhm_px=FWHM / SCALE, protect_xy=[(c, c)],
                                    settings=settings, rng=rng)
    assert records[0].status == STATUS_REPLACED and records[0].saturated
    assert records[0].halo_radius_px > 10 * FWHM / SCALE            # out into the halo
    yy, xx = np.mgrid[:SIZE, :SIZE]
    outside = np.hypot(xx - 30, yy - 110) > records[0].radius_px      # model-subtracted, not replaced
    left = (clean - galaxy - noise)[outside].sum()
    assert abs(left) < 0.002 * 3e4, left                              # the halo is gone there
    assert np.abs(clean - galaxy - noise)[outside].max() < 3 * SIGMA
    lo, hi = galaxy_range(clean, radius_px=SIZE / 2.25)
    assert hi == pytest.approx(galaxy.max(), rel=0.1)                 # the galaxy's peak sets the scale


def test_listed_knot_on_galaxy_centre_is_kept(config):
    galaxy, _ = _disk_with_knot_and_star()
    image = galaxy + np.random.default_rng(5).normal(0, SIGMA, (SIZE, SIZE))
    c = (SIZE - 1) / 2.0
    clean, records = subtract_stars(image, star_xy=np.array([[c + 1.5, c]]), star_mag=np.array([17.0]),
                                    sky_sigma=SIGMA, fwhm_px=FWHM / SCALE, protect_xy=[(c, c)],
                                    settings=_settings(config).stars, rng=np.random.default_rng(0))
    assert records[0].status == "galaxy nucleus" and np.array_equal(clean, image)


def _galaxy_with_star_near_centre(offset_fwhm: float, star_flux: float):
    """A bulge + disc galaxy (~750 nanomaggies) and a star (Moffat core and 5 % halo, not
    saturated) ``offset_fwhm`` FWHM from its centre, with sky noise; the star's listed position."""
    c = (SIZE - 1) / 2.0
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM)
    gal = galsim.Convolve(galsim.DeVaucouleurs(half_light_radius=1.5, flux=150.0)
                          + galsim.Exponential(half_light_radius=8.0, flux=600.0).shear(q=0.7, beta=20 * galsim.degrees),
                          psf)
    galaxy = gal.drawImage(nx=SIZE, ny=SIZE, scale=SCALE).array
    xy = (c + offset_fwhm * FWHM / SCALE * np.cos(0.6), c + offset_fwhm * FWHM / SCALE * np.sin(0.6))
    star = (galsim.Moffat(beta=3.5, fwhm=FWHM, flux=0.95 * star_flux)
            + galsim.Moffat(beta=2.0, fwhm=6 * FWHM, flux=0.05 * star_flux)).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(xy[0] - c, xy[1] - c)).array
    noise = np.random.default_rng(11).normal(0, SIGMA, (SIZE, SIZE))
    return galaxy + noise, galaxy + star + noise, xy


def _preprocess_listed(image, config, *, star_xy=None, star_mag=np.nan):
    stars = pd.DataFrame(columns=["ra", "dec", "psfMag_g"])
    if star_xy is not None:
        ra, dec = image.wcs.celestial.all_pix2world(star_xy[0], star_xy[1], 0)
        stars = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [star_mag]})
    return preprocess_galaxy(image, ra_deg=150.0, dec_deg=2.0, d25_arcmin=SIZE * SCALE / 60 / 1.125, stars=stars,
                             distance_cm=3e26, sizes=[32], settings=PreprocessSettings.from_config(config["preprocess"]),
                             rng=np.random.default_rng(0))


def test_a_listed_star_in_the_nucleus_zone_but_off_the_nucleus_is_removed(config):
    """A star twice the galaxy's light 1.5 FWHM from its centre: within the protected zone
    (``nucleus_protect_fwhm``), where the brightest central peak is the star's, yet clear of the
    nucleus. It is removed by its model (the zone's pixels are not replaced), its surroundings
    taken for the galaxy's symmetric light; left in, it would triple the luminosity."""
    plain, with_star, xy = _galaxy_with_star_near_centre(1.5, 1500.0)
    reference = _preprocess_listed(_image(plain), config).features["lum_sum"]
    got = _preprocess_listed(_image(with_star), config, star_xy=xy, star_mag=22.5 - 2.5 * np.log10(1500.0))
    assert [r.status for r in got.stars] == [STATUS_REPLACED]
    assert got.features["lum_sum"] == pytest.approx(reference, rel=0.05)


@pytest.mark.parametrize(("star_flux", "listed_flux", "outcome"), [
    (300.0, 300.0, "rejected"),              # 0.4 times the galaxy's light: it cannot be counted as the galaxy's
    (30.0, 30.0, "kept"),                    # 4 %: the nucleus, as before
    (300.0, None, "kept"),                   # no magnitude: the image alone cannot tell it from the nucleus
], ids=["bright", "faint", "no magnitude"])
def test_a_listed_star_on_the_nucleus_is_kept_unless_its_magnitude_says_it_outshines_it(config, star_flux,
                                                                                      listed_flux, outcome):
    """Half a FWHM from the centre a star and the nucleus cannot be told apart: the listed star is
    taken for the nucleus, unless its catalogue magnitude makes it more than a tenth of the galaxy's
    light, which would then be counted as the galaxy's."""
    _, with_star, xy = _galaxy_with_star_near_centre(0.5, star_flux)
    mag = np.nan if listed_flux is None else 22.5 - 2.5 * np.log10(listed_flux)
    image = _image(with_star, BUNIT="nanomaggy")
    if outcome == "rejected":
        with pytest.raises(Rejected, match=r"a listed star \(psfMag_g = 16\.31\) lies on the nucleus, 0\.7 arcsec "
                                           r"\(0\.5 FWHM\) from the centre.* 0\.4\d? times the galaxy's light"):
            _preprocess_listed(image, config, star_xy=xy, star_mag=mag)
    else:
        got = _preprocess_listed(image, config, star_xy=xy, star_mag=mag)
        assert [r.status for r in got.stars] == ["galaxy nucleus"]


def test_hot_pixel_and_outer_star_do_not_set_the_scale():
    yy, xx = np.mgrid[:100, :100]
    data = 5.0 * np.exp(-np.hypot(xx - 49.5, yy - 49.5) / 6.0)
    data[50, 40] = 500.0                         # hot pixel on the galaxy
    data[2, 2] = 800.0                           # a residual beyond D25
    lo, hi = galaxy_range(data, radius_px=100 / 2.25)
    assert hi < 5.1 and lo == pytest.approx(np.percentile(data, 0.1))


def test_scaling_floor_does_not_depend_on_how_many_pixels_remain():
    """The floor is a quantile of the field, not its minimum: leaving out 90 % of the pixels
    (where a removed star's model error exceeds the sky noise) raises the minimum of pure noise
    by ~0.8 sigma here, which would change ``a``; the quantile stays."""
    noise = np.random.default_rng(0).normal(0.0, 1.0, (400, 400))
    noise[190:210, 190:210] += 50.0                       # a galaxy to set the maximum
    starry = np.zeros(noise.shape, bool)
    starry[:, 40:] = True
    lo_all, _ = galaxy_range(noise, radius_px=400 / 2.25)
    lo_few, _ = galaxy_range(noise, radius_px=400 / 2.25, exclude_min=starry)
    assert abs(lo_few - lo_all) < 0.25


def test_zero_runs_are_missing_and_recorded():
    data = np.random.default_rng(0).normal(0, 1, (60, 60))
    data[10, 10] = 0.0                           # one exact zero: a value, not missing
    data[30:33, :] = 0.0                         # three missing rows
    data[5, 50] = np.nan
    missing = missing_pixels(data, min_zero_run_px=5)
    assert missing[30:33].all() and missing[5, 50] and not missing[10, 10]
    assert missing.sum() == 3 * 60 + 1


def _image(data, **cards):
    wcs = tan_wcs(150.0, 2.0, ((data.shape[1] + 1) / 2, (data.shape[0] + 1) / 2), SCALE)
    header = wcs.to_header()
    for k, v in cards.items():
        header[k] = v
    return Image(data, wcs, header)


def test_galaxy_rejected_when_mask_covers_its_d25():
    galaxy, _ = _disk_with_knot_and_star()
    data = galaxy + np.random.default_rng(1).normal(0, SIGMA, (SIZE, SIZE))
    data[40:80, :] = 0.0                         # a band of missing rows through the galaxy
    d25 = SIZE * SCALE / 60 / 1.125
    with pytest.raises(Rejected, match="D25 circle has no data"):
        cut_field_of_view(_image(data), ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, fov_d25=1.125,
                          min_coverage=0.9, max_bad_fraction=0.5, max_masked_d25_fraction=0.2)
    cut = cut_field_of_view(_image(data), ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, fov_d25=1.125,
                            min_coverage=0.9, max_bad_fraction=0.5, max_masked_d25_fraction=0.5)
    assert 0.3 < cut.masked_d25_fraction < 0.5 and 0.25 < cut.bad_fraction < 0.32


@pytest.mark.parametrize("bunit, unit, zp, expected", [
    ("nanomaggy", "counts", 28.0, NANOMAGGY_CGS),
    ("nmgy", "counts", 28.0, NANOMAGGY_CGS),
    ("NANOMAGGIES", "counts", 28.0, NANOMAGGY_CGS),
    (None, "nanomaggies", 22.5, NANOMAGGY_CGS),          # no BUNIT: the configured unit
    (None, "counts", 22.5, NANOMAGGY_CGS),               # counts with ZP 22.5 are nanomaggies
    ("ADU", "nanomaggies", 27.5, NANOMAGGY_CGS * 1e-2),  # BUNIT wins; 5 mag = x100
])
def test_image_unit(bunit, unit, zp, expected):
    header = fits.Header()
    if bunit:
        header["BUNIT"] = bunit
    got = image_unit(header, configured_unit=unit, configured_zero_point_mag=zp)
    assert got.cgs == pytest.approx(expected, rel=1e-12)


def test_unknown_unit_rejected_and_header_zero_point_used():
    with pytest.raises(Rejected, match="unknown image unit"):
        image_unit(fits.Header({"BUNIT": "Jy/beam"}), configured_unit="nanomaggies", configured_zero_point_mag=22.5)
    got = image_unit(fits.Header({"BUNIT": "counts", "MAGZP": 25.0}), configured_unit="nanomaggies",
                     configured_zero_point_mag=22.5)
    assert got.cgs == pytest.approx(NANOMAGGY_CGS * 10 ** (-1.0))


def _counts_cgs(zero_point_mag):
    return NANOMAGGY_CGS * 10 ** (-0.4 * (zero_point_mag - 22.5))


@pytest.mark.parametrize("cards, expected, source", [
    ({"BUNIT": "ADU", "MAGZP": "28.25"}, _counts_cgs(28.25), "BUNIT, zero point MAGZP"),   # a number as text
    ({"BUNIT": "ADU", "MAGZP": 99.0, "PHOTZP": 27.0}, _counts_cgs(27.0), "BUNIT, zero point PHOTZP"),
    ({"BUNIT": "counts", "MAGZERO": 26.0}, _counts_cgs(26.0), "BUNIT, zero point MAGZERO"),
    ({"BUNIT": "DN", "FLUX20": 2000.0}, _counts_cgs(20 + 2.5 * np.log10(2000.0)), "BUNIT, zero point FLUX20"),
    ({"BUNIT": "adu", "FLUXMAG0": 1e11}, _counts_cgs(27.5), "BUNIT, zero point FLUXMAG0"),
    ({"MAGZP": 28.0}, _counts_cgs(28.0), "header MAGZP"),       # no BUNIT: a zero point means counts
    ({"SOFTBIAS": 1000, "FLUX20": 2000.0}, _counts_cgs(20 + 2.5 * np.log10(2000.0)), "header FLUX20"),
    ({"BUNIT": "nanomaggy/pixel"}, NANOMAGGY_CGS, "BUNIT"),
    ({"BUNIT": "nanomaggies per pixel"}, NANOMAGGY_CGS, "BUNIT"),
    ({"BUNIT": "uJy"}, NANOMAGGY_CGS / 3.631, "BUNIT"),
    ({"BUNIT": "Jy/pixel"}, NANOMAGGY_CGS / 3.631e-6, "BUNIT"),
    ({"BUNIT": "1e-9 maggy"}, NANOMAGGY_CGS, "BUNIT"),
    ({"BUNIT": "nanomaggy pix-1"}, NANOMAGGY_CGS, "BUNIT"),
    ({"BUNIT": "JY/PIXEL"}, NANOMAGGY_CGS / 3.631e-6, "BUNIT"),   # FITS writers' upper case
    ({"BUNIT": "UJY"}, NANOMAGGY_CGS / 3.631, "BUNIT"),
    ({"BUNIT": "ct", "MAGZP": 28.0}, _counts_cgs(28.0), "BUNIT, zero point MAGZP"),
    ({"BUNIT": "ADU", "MAGZP": 28.25, "MAGZERO": 28.27}, _counts_cgs(28.25), "BUNIT, zero point MAGZP"),  # agree
])
def test_the_headers_unit_and_zero_point_win_over_the_configured_default(cards, expected, source):
    got = image_unit(fits.Header(cards), configured_unit="nanomaggies", configured_zero_point_mag=None)
    assert got.cgs == pytest.approx(expected, rel=1e-9) and got.source == source


@pytest.mark.parametrize("cards, message", [
    ({"BUNIT": "ADU", "MAGZP": "n/a"}, r"zero point is unusable: MAGZP = 'n/a'"),
    ({"BUNIT": "ADU", "MAGZP": 0.0}, r"MAGZP = 0.0"),
    ({"MAGZP": "NaN"}, r"MAGZP = 'NaN'"),                      # without BUNIT too: not the default unit
    ({"BUNIT": "ADU", "FLUX20": -5.0}, r"FLUX20 = -5.0"),
    ({"BUNIT": "ADU"}, r"image in counts without a zero point"),
    ({"BUNIT": "MJy/sr"}, r"unknown image unit BUNIT = 'MJy/sr'"),
    ({"BUNIT": "MJY"}, r"unknown image unit BUNIT = 'MJY'"),     # mega or milli: not guessed
    ({"BUNIT": "AB"}, r"unknown image unit BUNIT = 'AB'"),       # a magnitude system, not a pixel unit
    ({"BUNIT": "ADU", "MAGZPT": 25.0, "EXPTIME": 53.9}, r"counts without a zero point"),   # CASU's: per second
    ({"BUNIT": "ADU", "MAGZP": 28.25, "FLUX20": 4000.0}, r"zero points disagree: MAGZP = 28.25 \(28.250 mag\), "
                                                         r"FLUX20 = 4000.0 \(29.005 mag\)"),
    ({"MAGZP": 28.25, "ZP": 24.0}, r"zero points disagree: MAGZP .*ZP = 24.0"),   # a per-second ZP beside it
])
def test_an_image_whose_scale_is_unknown_is_rejected_naming_the_card(cards, message):
    with pytest.raises(Rejected, match=message):
        image_unit(fits.Header(cards), configured_unit="nanomaggies", configured_zero_point_mag=None)


def test_luminosity_features_follow_the_unit(config):
    """The same galaxy written without BUNIT (config: nanomaggies) and with BUNIT = nmgy gives the
    same image luminosities, finite in float32."""
    galaxy, _ = _disk_with_knot_and_star()
    data = galaxy + np.random.default_rng(2).normal(0, SIGMA, (SIZE, SIZE))
    settings = PreprocessSettings.from_config(config["preprocess"])
    out = []
    for cards in ({}, {"BUNIT": "nmgy"}):
        res = preprocess_galaxy(_image(data, **cards), ra_deg=150.0, dec_deg=2.0,
                                d25_arcmin=SIZE * SCALE / 60 / 1.125, stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]),
                                distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0))
        out.append(res.features["lum_sum"])
    assert out[0] == out[1] and np.isfinite(np.float32(out[0])) and 1e25 < out[0] < 1e32


@pytest.mark.parametrize("value", [1e6, -1.0, 0.0, 0.01])
def test_absurd_header_psf_fwhm_rejects(value, config):
    with pytest.raises(Rejected, match="PSF FWHM"):
        header_fwhm_arcsec(fits.Header({"PSF_FWHM": value}), default_arcsec=1.4, valid_range_arcsec=(0.3, 5.0))
    galaxy, _ = _disk_with_knot_and_star()
    settings = PreprocessSettings.from_config(config["preprocess"])
    with pytest.raises(Rejected, match="PSF_FWHM"):
        preprocess_galaxy(_image(galaxy + 0.01, PSF_FWHM=value), ra_deg=150.0, dec_deg=2.0,
                          d25_arcmin=SIZE * SCALE / 60 / 1.125, stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]),
                          distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0))


def test_star_settings_from_config_cover_every_key(config):
    s = StarSettings.from_config(config["preprocess"]["stars"])
    for key, value in config["preprocess"]["stars"].items():
        if key != "psf_model":
            assert getattr(s, key) == (tuple(value) if isinstance(value, list) else value), key
    assert s.psf.halo_fraction == config["preprocess"]["stars"]["psf_model"]["halo_fraction"]


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real SDSS cut-outs not present at {REAL}")
def test_injection_bench_on_two_real_cutouts(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    import star_injection_bench as bench

    rows, per_image = bench.main([str(REAL), "--limit", "2", "--figure", str(tmp_path / "f.png"),
                                  "--config", str(REPO / "workflow_config.yaml")])
    assert (tmp_path / "f.png").stat().st_size > 1000
    bright = rows[rows["bin"].isin(["S/N 20", "S/N 50", "S/N 200", "S/N 1000"])]
    sky = bright[bright["class"] == "sky"]
    disc = bright[bright["class"] == "disc"]
    assert sky["catalogue_removed"].min() >= 0.95, sky
    assert disc["catalogue_removed"].min() >= 0.85, disc
    assert per_image["catalogue_damage_max"].max() <= 0.01
    assert rows["patch_noise_ratio"].dropna().median() == pytest.approx(1.0, abs=0.25)


def test_mock_saturated_star_and_knots_go_through_the_same_removal(tmp_path, config, small_survey):
    """The mock renders a bright listed star saturated, with its halo; the preprocessing finds its
    flat core, replaces it and subtracts the halo, and the galaxy sets the scale."""
    from mlpipe.io.fits_image import read_image
    from mlpipe.mock.render import render_galaxy

    truth = pd.read_csv(small_survey / "truth.csv")
    gal = truth[(truth["type"] == "disk") & (truth["d25_arcmin"] > 0.8)].iloc[0].copy()
    offset_deg = 0.3 * gal["d25_arcmin"] / 60.0
    star = pd.DataFrame({"ra": [gal["ra"] + offset_deg / np.cos(np.radians(gal["dec"]))],
                         "dec": [gal["dec"] + offset_deg], "psfMag_g": [13.5]})
    path = tmp_path / "g.fits"
    render_galaxy(gal, star, config["mock"], str(path))
    image = read_image(path)
    saturation = config["mock"]["image"]["saturation_nanomaggies"]
    assert np.sum(image.data == np.float32(saturation)) >= 6           # a flat, clipped core
    settings = PreprocessSettings.from_config(config["preprocess"])
    res = preprocess_galaxy(image, ra_deg=gal["ra"], dec_deg=gal["dec"], d25_arcmin=gal["d25_arcmin"], stars=star,
                            distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0))
    assert [(r.status, r.saturated) for r in res.stars] == [(STATUS_REPLACED, True)]
    assert res.stars[0].halo_radius_px > res.stars[0].radius_px
    assert res.features["scale_max"] < 0.5 * saturation                  # the galaxy sets the scale


def _star_at(xy, *, peak: float) -> np.ndarray:
    """A star (core and halo) centred at ``xy`` (px) whose unclipped peak is ``peak``. The halo is
    evaluated directly (an FFT of its wide wings would ring along the axes), the core's FFT
    accurate to 1e-6 of its peak (at the default it rings along the star's row)."""
    c = (SIZE - 1) / 2.0
    accurate = galsim.GSParams(folding_threshold=1e-6, maxk_threshold=1e-6)
    offset = (xy[0] - c, xy[1] - c)
    unit = (galsim.Moffat(beta=3.5, fwhm=FWHM, flux=0.95, gsparams=accurate).drawImage(
                nx=SIZE, ny=SIZE, scale=SCALE, offset=offset).array
            + galsim.Moffat(beta=2.0, fwhm=6 * FWHM, flux=0.05).drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=offset,
                                                                         method="no_pixel").array)
    return unit * peak / unit.max()


def _bulge_disk_with_saturated_star(star_offset_fwhm: float, peak_over_saturation: float,
                                   bulge_flux: float = 150.0, disc_flux: float = 600.0):
    """A bulge + disc galaxy (nanomaggies) and a saturated star with its halo ``star_offset_fwhm``
    FWHM from the nucleus, clipped 10^4 sky sigma up (~90 times the galaxy's peak at the default
    fluxes)."""
    c = (SIZE - 1) / 2.0
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM)
    gal = galsim.Convolve(galsim.DeVaucouleurs(half_light_radius=1.5, flux=bulge_flux)
                          + galsim.Exponential(half_light_radius=8.0, flux=disc_flux).shear(q=0.7, beta=20 * galsim.degrees),
                          psf)
    galaxy = gal.drawImage(nx=SIZE, ny=SIZE, scale=SCALE).array
    star_xy = (c + star_offset_fwhm * FWHM / SCALE * np.cos(0.6), c + star_offset_fwhm * FWHM / SCALE * np.sin(0.6))
    saturation = 1e4 * SIGMA
    return galaxy, _star_at(star_xy, peak=peak_over_saturation * saturation), star_xy, saturation


def test_saturated_star_next_to_nucleus_does_not_set_the_scaling(config):
    """A saturated star 3 FWHM from the nucleus (its core reaching into the protected nucleus
    zone) is removed and the scaling (its maximum and ``a``) stays the galaxy's, with and without
    a catalogue; the galaxy's flux away from the star is kept."""
    galaxy, star, star_xy, saturation = _bulge_disk_with_saturated_star(3.0, 3.0)
    noise = np.random.default_rng(7).normal(0, SIGMA, (SIZE, SIZE))
    d25 = SIZE * SCALE / 60 / 1.125
    plain = _image(galaxy + noise)
    with_star = _image(np.minimum(galaxy + star + noise, saturation))
    ra, dec = with_star.wcs.celestial.all_pix2world(star_xy[0], star_xy[1], 0)
    listed = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [12.0]})
    none = pd.DataFrame(columns=["ra", "dec", "psfMag_g"])
    yy, xx = np.mgrid[:SIZE, :SIZE]
    away = np.hypot(xx - star_xy[0], yy - star_xy[1]) > 25 * FWHM / SCALE / 2
    for settings, stars in ((PreprocessSettings.from_config(config["preprocess"]), listed),
                            (_settings(config, detect_without_catalogue=True), none)):
        ref, got = (preprocess_galaxy(image, ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, stars=listing,
                                      distance_cm=3e26, sizes=[32], settings=settings,
                                      rng=np.random.default_rng(0), keep_stages=True)
                    for image, listing in ((plain, none), (with_star, stars)))
        assert [r.saturated for r in got.stars if r.status == STATUS_REPLACED] == [True]
        assert got.features["scale_max"] == pytest.approx(ref.features["scale_max"], rel=0.05)
        assert 0.6 < got.features["scale_a"] / ref.features["scale_a"] < 1.6
        assert got.features["scale_min"] > ref.features["scale_min"] - 10 * SIGMA
        # away from the star (where it is below the sky noise) its faint light may go or stay,
        # the galaxy's may not
        change = (got.stages["clean"] + got.features["sky"] - ref.stages["clean"] - ref.features["sky"])[away].sum()
        tolerance = 0.01 * galaxy[away].sum() + 3 * SIGMA * np.sqrt(away.sum())
        assert -tolerance < change < star[away].sum() + tolerance


def _run_with_and_without_star(galaxy, star, star_xy, saturation, settings, *, listed: bool = True):
    noise = np.random.default_rng(7).normal(0, SIGMA, (SIZE, SIZE))
    d25 = SIZE * SCALE / 60 / 1.125
    with_star = _image(np.minimum(galaxy + star + noise, saturation))
    ra, dec = with_star.wcs.celestial.all_pix2world(star_xy[0], star_xy[1], 0)
    none = pd.DataFrame(columns=["ra", "dec", "psfMag_g"])
    stars = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [12.0]}) if listed else none
    ref = preprocess_galaxy(_image(galaxy + noise), ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, stars=none,
                            distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0),
                            keep_stages=True)
    got = preprocess_galaxy(with_star, ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, stars=stars, distance_cm=3e26,
                            sizes=[32], settings=settings, rng=np.random.default_rng(0), keep_stages=True)
    return ref, got


@pytest.mark.parametrize("offset_fwhm", [3.0, 3.5])
def test_saturated_star_next_to_faint_nucleus_keeps_it(config, offset_fwhm):
    """A faint galaxy (peak ~14 sky sigma) with a saturated star 3-3.5 FWHM from its nucleus: the
    star's halo, far broader than its distance from the centre, nearly cancels against its
    point-symmetric counterpart, so its flux is the model's share of the star's rather than
    whatever the galaxy's asymmetries make it; the nucleus keeps its light and sets the scaling."""
    galaxy, star, star_xy, saturation = _bulge_disk_with_saturated_star(offset_fwhm, 3.0, bulge_flux=15.0,
                                                                        disc_flux=150.0)
    ref, got = _run_with_and_without_star(galaxy, star, star_xy, saturation,
                                          PreprocessSettings.from_config(config["preprocess"]))
    assert [r.saturated for r in got.stars if r.status == STATUS_REPLACED] == [True]
    assert got.features["scale_max"] == pytest.approx(ref.features["scale_max"], rel=0.05)
    c = SIZE // 2
    nucleus = (slice(c - 3, c + 4), slice(c - 3, c + 4))
    assert got.stages["clean"][nucleus].sum() == pytest.approx(ref.stages["clean"][nucleus].sum(), rel=0.15)


@pytest.mark.parametrize("listed", [True, False])
def test_galaxy_under_a_saturated_star_is_rejected_with_the_reason(config, listed):
    """A star 30 times over saturation 3 FWHM from the nucleus: its replaced disc and the pixels
    where its model's error outshines what is left hold most of the galaxy's light, so the image
    would show the star's removal; the galaxy is rejected saying so (not scaled, not "no signal")."""
    galaxy, star, star_xy, saturation = _bulge_disk_with_saturated_star(3.0, 30.0)
    settings = (PreprocessSettings.from_config(config["preprocess"]) if listed
                else _settings(config, detect_without_catalogue=True))
    with pytest.raises(Rejected, match="under a star: .* of its light within D25"):
        _run_with_and_without_star(galaxy, star, star_xy, saturation, settings, listed=listed)
    loose = copy.deepcopy(config["preprocess"])
    loose["stars"]["max_star_light_fraction"] = 1.0
    if not listed:
        loose["stars"]["detect_without_catalogue"] = True
    _, got = _run_with_and_without_star(galaxy, star, star_xy, saturation, PreprocessSettings.from_config(loose),
                                        listed=listed)
    assert got.features["scale_a"] > 0


def _field_with_stars(star_fwhm_arcsec: float, star_xy, *, compact=(), seed=11):
    """A faint disc galaxy with a compact nucleus at the centre, point sources of FWHM
    ``star_fwhm_arcsec`` at ``star_xy`` and compact galaxies (1.5 times broader) at ``compact``."""
    c = (SIZE - 1) / 2.0
    psf = galsim.Moffat(beta=3.5, fwhm=star_fwhm_arcsec)
    def draw(obj, xy):
        return obj.drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(xy[0] - c, xy[1] - c)).array
    galaxy = (draw(galsim.Convolve(galsim.Exponential(half_light_radius=6.0, flux=150.0), psf), (c, c))
              + draw(galsim.Convolve(galsim.Gaussian(fwhm=1.2, flux=20.0), psf), (c, c)))
    for xy in star_xy:
        galaxy = galaxy + draw(psf.withFlux(30.0), xy)
    for xy in compact:
        galaxy = galaxy + draw(galsim.Convolve(galsim.Gaussian(fwhm=1.1 * star_fwhm_arcsec, flux=30.0), psf), xy)
    return galaxy + np.random.default_rng(seed).normal(0, SIGMA, (SIZE, SIZE))


def test_fwhm_measured_on_the_stars_not_on_the_nucleus_or_compact_galaxies():
    """Candidates include the galaxy's nucleus and compact galaxies, both broader than the PSF:
    the FWHM is the stars' (the narrow end of the sources), not a median pulled up by them."""
    from mlpipe.preprocess.psf import measure_fwhm_px
    true_px = 1.1 / SCALE
    stars = [(25.0, 30.0), (110.0, 28.0)]
    compact = [(30.0, 110.0), (112.0, 105.0)]
    data = _field_with_stars(1.1, stars, compact=compact)
    c = (SIZE - 1) / 2.0
    xy = np.array(stars + compact + [(c, c)])
    got = measure_fwhm_px(data, xy=xy, guess_fwhm_px=FWHM / SCALE, sky_sigma=SIGMA, exclude_xy=[(c, c)],
                          exclude_radius_px=2 * FWHM / SCALE)
    assert got == pytest.approx(true_px, rel=0.06)
    # the nucleus and one star alone: too few stars to say, not the nucleus's width
    assert measure_fwhm_px(data, xy=np.array([stars[0], (c, c)]), guess_fwhm_px=FWHM / SCALE, sky_sigma=SIGMA,
                           exclude_xy=[(c, c)], exclude_radius_px=2 * FWHM / SCALE) is None


@pytest.mark.parametrize("listed", [True, False])
def test_fwhm_from_the_image_stars_when_the_header_has_none(config, listed):
    """Without a PSF in the header the FWHM is the image's stars' in both star modes (an SDSS
    cut-out's seeing is not the config's); a header PSF is used as it is."""
    stars = [(25.0, 30.0), (110.0, 28.0), (28.0, 112.0)]
    data = _field_with_stars(1.1, stars)
    settings = (PreprocessSettings.from_config(config["preprocess"]) if listed
                else _settings(config, detect_without_catalogue=True))
    image = _image(data)
    ra, dec = image.wcs.celestial.all_pix2world([s[0] for s in stars], [s[1] for s in stars], 0)
    listing = (pd.DataFrame({"ra": ra, "dec": dec, "psfMag_g": np.full(3, 18.0)}) if listed
               else pd.DataFrame(columns=["ra", "dec", "psfMag_g"]))
    d25 = SIZE * SCALE / 60 / 1.125
    def run(img):
        return preprocess_galaxy(img, ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, stars=listing, distance_cm=3e26,
                                 sizes=[32], settings=settings, rng=np.random.default_rng(0), keep_stages=True)
    got = run(image)
    assert got.features["psf_fwhm_arcsec"] == pytest.approx(1.1, rel=0.06)
    assert sum(r.status == STATUS_REPLACED for r in got.stars) == 3
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for x, y in stars:   # every star's light gone
        near = np.hypot(xx - x, yy - y) < 3 * 1.1 / SCALE
        assert abs(got.stages["clean"][near].sum()) < 0.05 * 30.0 + 4 * SIGMA * np.sqrt(near.sum())
    assert run(_image(data, PSF_FWHM=1.3)).features["psf_fwhm_arcsec"] == pytest.approx(1.3)


def test_fill_noise_follows_the_local_pixel_noise_on_a_bright_galaxy():
    """A patch on a bright galaxy, whose photon noise is 3 times the sky's, gets the noise of its
    annulus's pixel-to-pixel differences (blind to the galaxy's gradient), not the sky's."""
    from mlpipe.preprocess.noise import pixel_noise
    from mlpipe.preprocess.stars import replace_disc
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:80, :80]
    bulge = 20.0 + 0.3 * (xx - 40) + 0.2 * (yy - 40)   # a gradient 5 times the noise per pixel
    data = bulge + rng.normal(0, 3 * SIGMA, bulge.shape)
    inner = np.hypot(xx - 50, yy - 40) <= 6.0
    assert pixel_noise(data, ~inner) == pytest.approx(3 * SIGMA, rel=0.1)   # blind to the gradient
    assert np.std(data[~inner]) > 30 * SIGMA
    replace_disc(data, x_px=50.0, y_px=40.0, radius_px=6.0, width_px=4.0, noise_sigma=SIGMA, rng=rng)
    assert pixel_noise(data, inner) == pytest.approx(3 * SIGMA, rel=0.25)
    quiet = rng.normal(0, SIGMA, bulge.shape)   # on the sky: the sky's noise
    replace_disc(quiet, x_px=50.0, y_px=40.0, radius_px=6.0, width_px=4.0, noise_sigma=SIGMA, rng=rng)
    assert pixel_noise(quiet, inner) == pytest.approx(SIGMA, rel=0.25)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.31, -0.22), (-0.45, 0.4)])
def test_saturated_star_centre_fitted_on_its_unclipped_wings(shift):
    """The clipped core's mean is the centre only to a fraction of a pixel, and 0.2 px leaves a
    fifth of a bright star's light 3 px from it: the centre fitted on the unclipped pixels around
    the core is right to 0.05 px, on a galaxy's gradient."""
    from mlpipe.preprocess.psf import PsfModel
    from mlpipe.preprocess.stars import refine_saturated_centre, saturated_cores
    galaxy, _, _, saturation = _bulge_disk_with_saturated_star(3.0, 3.0)
    c = (SIZE - 1) / 2.0
    true_xy = (c + 14.0 + shift[0], c + 9.0 + shift[1])
    noise = np.random.default_rng(2).normal(0, SIGMA, (SIZE, SIZE))
    data = np.minimum(galaxy + _star_at(true_xy, peak=5.0 * saturation) + noise, saturation)
    (x0, y0), = saturated_cores(data, sky_sigma=SIGMA)
    x, y = refine_saturated_centre(data, x_px=x0, y_px=y0, fwhm_px=FWHM / SCALE, psf=PsfModel(),
                                   saturated_level=saturation)
    assert np.hypot(x - true_xy[0], y - true_xy[1]) < 0.05


@pytest.mark.parametrize("stars", [(((16.13, 65.53), 4.15), ((33.78, 59.63), 5.10)),
                                   (((42.42, 51.38), 5.8), ((6.31, 48.96), 7.9))])
def test_two_saturated_stars_are_removed_whatever_the_catalogue_order(config, stars):
    """Two saturated stars on the field, 19 and 36 px apart: each is fitted with the other's
    light taken out and its flat top left as it was, so both are found saturated, fitted at their
    flux, and the galaxy's luminosity does not depend on the catalogue's row order (before, the
    first star's removal broke the second's flat top: rejected in one order, 1.8 times the
    galaxy's light in the other)."""
    galaxy, _, _, saturation = _bulge_disk_with_saturated_star(3.0, 3.0)
    light = [_star_at(xy, peak=k * saturation) for xy, k in stars]
    noise = np.random.default_rng(7).normal(0, SIGMA, (SIZE, SIZE))
    d25 = SIZE * SCALE / 60 / 1.125
    image = _image(np.minimum(galaxy + light[0] + light[1] + noise, saturation))
    rows = []
    for xy, _ in stars:
        ra, dec = image.wcs.celestial.all_pix2world(xy[0], xy[1], 0)
        rows.append({"ra": float(ra), "dec": float(dec), "psfMag_g": np.nan})
    settings = PreprocessSettings.from_config(config["preprocess"])
    ref, *got = (preprocess_galaxy(img, ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, distance_cm=3e26, sizes=[32],
                                   stars=pd.DataFrame(listing, columns=["ra", "dec", "psfMag_g"]),
                                   settings=settings, rng=np.random.default_rng(0))
                 for img, listing in ((_image(galaxy + noise), []), (image, rows), (image, rows[::-1])))
    assert pd.Series(got[0].features).equals(pd.Series(got[1].features))
    assert np.array_equal(got[0].images[32], got[1].images[32])
    assert got[0].features["lum_sum"] == pytest.approx(ref.features["lum_sum"], rel=0.15)
    for rec, star in zip(got[0].stars, light):
        assert rec.status == STATUS_REPLACED and rec.saturated
        assert rec.flux == pytest.approx(star.sum(), rel=0.05)


@pytest.mark.parametrize("stars", [[((20.0, 20.0), 4.0)], [((-40.0, -31.0), 100.0), ((-20.0, -36.0), 2.0)]])
def test_a_saturated_nucleus_and_stars_in_each_others_halos_keep_the_galaxys_light(config, stars):
    """A galaxy whose nucleus is clipped too (3 times over) with one saturated star 28 px from it,
    or with a 2x star 21 px from a 100x one: the nucleus is never modelled as a star, and each
    star's first fit has the other's light taken out, so the galaxy keeps its light (before: 0.37
    and 0.57 of it, with exit 0)."""
    galaxy, _, _, saturation = _bulge_disk_with_saturated_star(3.0, 3.0)
    c = (SIZE - 1) / 2.0
    galaxy = galaxy + _star_at((c, c), peak=3.0 * saturation)
    noise = np.random.default_rng(7).normal(0, SIGMA, (SIZE, SIZE))
    light = sum(_star_at((c + dx, c + dy), peak=k * saturation) for (dx, dy), k in stars)
    image = _image(np.minimum(galaxy + light + noise, saturation))
    rows = []
    for (dx, dy), _ in stars:
        ra, dec = image.wcs.celestial.all_pix2world(c + dx, c + dy, 0)
        rows.append({"ra": float(ra), "dec": float(dec), "psfMag_g": np.nan})
    settings = PreprocessSettings.from_config(config["preprocess"])
    d25 = SIZE * SCALE / 60 / 1.125
    ref, got = (preprocess_galaxy(img, ra_deg=150.0, dec_deg=2.0, d25_arcmin=d25, distance_cm=3e26, sizes=[32],
                                  stars=pd.DataFrame(listing, columns=["ra", "dec", "psfMag_g"]), settings=settings,
                                  rng=np.random.default_rng(0))
                for img, listing in ((_image(np.minimum(galaxy + noise, saturation)), []), (image, rows)))
    assert got.features["lum_sum"] == pytest.approx(ref.features["lum_sum"], rel=0.1)


def _listed_star_beside(source: galsim.GSObject, *, offset_fwhm: float, star_flux: float, seed: int, config):
    """A listed star at (40, 100) on the disc of ``_disk_with_knot_and_star``, with ``source`` (seen
    through the PSF) ``offset_fwhm`` FWHM to its right, removed without fill noise; checks that the
    star's core is gone. Returns the image without the star, the source's centre, the cleaned image
    and the star's record."""
    fwhm_px = FWHM / SCALE
    c = (SIZE - 1) / 2.0
    star_xy, source_xy = (40.0, 100.0), (40.0 + offset_fwhm * fwhm_px, 100.0)
    drawn = galsim.Convolve(source, galsim.Moffat(beta=3.5, fwhm=FWHM)).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(source_xy[0] - c, source_xy[1] - c)).array
    galaxy, star = _disk_with_knot_and_star(star_xy=star_xy, star_flux=star_flux)
    rng = np.random.default_rng(seed)
    without = galaxy + drawn + rng.normal(0, SIGMA, (SIZE, SIZE))
    clean, records = subtract_stars(without + star, star_xy=np.array([star_xy]), star_mag=np.array([np.nan]),
                                    sky_sigma=SIGMA, fwhm_px=fwhm_px, protect_xy=[(c, c)],
                                    settings=_settings(config).stars, rng=rng, fill_noise=False)
    assert records[0].status == STATUS_REPLACED
    yy, xx = np.mgrid[:SIZE, :SIZE]
    star_core = np.hypot(xx - star_xy[0], yy - star_xy[1]) <= 1.5
    assert abs((clean - without)[star_core].sum()) < 0.05 * star[star_core].sum()   # the star is gone
    return without, source_xy, clean, records[0]


def test_listed_star_beside_a_companion_does_not_grow_over_it(config):
    """The replaced disc grows through rings only while what is left there could be the star's own
    wings: an extended companion galaxy 3.5 FWHM from a listed star keeps its core."""
    companion = galsim.Exponential(half_light_radius=3.0, flux=200.0)
    without, (x, y), clean, record = _listed_star_beside(companion, offset_fwhm=3.5, star_flux=50.0, seed=5,
                                                          config=config)
    assert record.radius_px < 3.5 * FWHM / SCALE - 2.0                  # stopped short of the companion
    yy, xx = np.mgrid[:SIZE, :SIZE]
    core = np.hypot(xx - x, yy - y) <= 1.5
    assert abs(clean[core].sum() - without[core].sum()) < 0.05 * without[core].sum()   # its core is there


def test_knot_under_a_bright_star_wings_is_kept(config):
    """Within a bright star's replaced disc, beyond its core, the pixels of a knot that outshine the
    star's wings several times are freed of the model and kept, not replaced by the fill."""
    knot = galsim.Gaussian(fwhm=0.8, flux=100.0)
    without, (x, y), clean, record = _listed_star_beside(knot, offset_fwhm=2.5, star_flux=10000.0, seed=7,
                                                          config=config)
    assert record.radius_px > 2.5 * FWHM / SCALE + 1.0                  # the knot lies inside the disc
    peak = (int(round(y)), int(round(x)))
    assert abs(clean[peak] - without[peak]) < 0.1 * without[peak]      # the knot's peak is still there


def test_a_found_knot_that_a_bright_star_disc_kept_is_judged_on_the_galaxy_light(config):
    """Without a catalogue, a knot beside a bright star is judged point-like or not on the image
    less the star's fitted light: the star's disc, replaced around the knot's kept pixels, would
    leave it standing alone on the fill, where it fits the PSF and would go as a star."""
    fwhm_px = FWHM / SCALE
    c = (SIZE - 1) / 2.0
    star_xy, knot_xy = (40.0, 100.0), (40.0 + 3.0 * fwhm_px, 100.0)
    knot = galsim.Convolve(galsim.Exponential(half_light_radius=1.0, flux=200.0), galsim.Moffat(beta=3.5, fwhm=FWHM))
    galaxy, star = _disk_with_knot_and_star(star_xy=star_xy, star_flux=20000.0)
    rng = np.random.default_rng(7)
    without = galaxy + knot.drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(knot_xy[0] - c, knot_xy[1] - c)).array \
        + rng.normal(0, SIGMA, (SIZE, SIZE))
    settings = _settings(config, detect_without_catalogue=True).stars
    peak = (int(round(knot_xy[1])), int(round(knot_xy[0])))
    for data, candidates in ((without, [knot_xy]), (without + star, [star_xy, knot_xy])):
        clean, records = subtract_stars(data, star_xy=np.array(candidates), star_mag=np.full(len(candidates), np.nan),
                                        sky_sigma=SIGMA, fwhm_px=fwhm_px, protect_xy=[(c, c)], settings=settings,
                                        rng=np.random.default_rng(1), from_catalogue=False, fill_noise=False)
        assert records[-1].status == STATUS_GALAXY                        # alone, and beside the star
        assert clean[peak] > 0.8 * without[peak]                          # its peak is still there
    assert records[0].status == STATUS_REPLACED and records[0].radius_px > 3.0 * fwhm_px   # the disc reached it


def test_peaks_found_again_at_the_measured_fwhm(config):
    """Without a catalogue, the candidates are found again with the image's measured FWHM when it is
    far from the config's: at the config's broader kernel the finder merges two stars 8 px apart
    (its minimum separation grows with the kernel) and the fainter one would stay."""
    stars = [(25.0, 30.0), (110.0, 28.0), (28.0, 112.0), (100.0, 100.0), (108.0, 100.0)]
    data = _field_with_stars(1.0, stars)
    settings = _settings(config, detect_without_catalogue=True)
    got = preprocess_galaxy(_image(data), ra_deg=150.0, dec_deg=2.0, d25_arcmin=SIZE * SCALE / 60 / 1.125,
                            stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]), distance_cm=3e26, sizes=[32],
                            settings=settings, rng=np.random.default_rng(0), keep_stages=True)
    assert got.features["psf_fwhm_arcsec"] == pytest.approx(1.0, rel=0.06)
    replaced = [(r.x, r.y) for r in got.stars if r.status == STATUS_REPLACED]
    for x, y in stars:
        assert any(np.hypot(x - rx, y - ry) < 1.5 for rx, ry in replaced), (x, y)


def test_fwhm_of_a_star_on_a_saturated_star_wings_is_its_own(config):
    """A star on the wings of a saturated one: its centroid is pulled towards the bright star
    (~0.5 px) and over a plane the wings' curvature narrows its fitted core (by ~17 % here). Its
    FWHM is fitted with its centre and with the saturated neighbour's wings, so with one other
    star in the image the FWHM stays the stars' (a saturated core is clipped: it cannot say)."""
    from mlpipe.preprocess.galaxy import image_fwhm_px
    true_arcsec, true_px = 1.1, 1.1 / SCALE
    c = (SIZE - 1) / 2.0
    faint_xy = (60.0, 40.0)
    alone = _field_with_stars(true_arcsec, [(110.0, 28.0)]) + galsim.Moffat(beta=3.5, fwhm=true_arcsec, flux=12.0).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(faint_xy[0] - c, faint_xy[1] - c)).array
    # 7.5 FWHM away: a star 30 times over a core clipped 10^4 sky sigma up, with its halo
    offset = (faint_xy[0] + 7.5 * true_px * np.cos(1.1) - c, faint_xy[1] + 7.5 * true_px * np.sin(1.1) - c)
    accurate = galsim.GSParams(folding_threshold=1e-6, maxk_threshold=1e-6)
    unit = (galsim.Moffat(beta=3.5, fwhm=true_arcsec, flux=0.95, gsparams=accurate).drawImage(
                nx=SIZE, ny=SIZE, scale=SCALE, offset=offset).array
            + galsim.Moffat(beta=2.0, fwhm=6 * true_arcsec, flux=0.05).drawImage(
                nx=SIZE, ny=SIZE, scale=SCALE, offset=offset, method="no_pixel").array)
    saturation = 1e4 * SIGMA
    beside = np.minimum(alone + unit * 30 * saturation / unit.max(), saturation)
    settings = _settings(config, detect_without_catalogue=True)

    def fwhm_px(data):
        return image_fwhm_px(data, header=fits.Header(), listed_xy=np.empty((0, 2)), sky_sigma=SIGMA,
                             pixel_scale_arcsec=SCALE, settings=settings, detect=True)

    (reference, _), (got, found) = fwhm_px(alone), fwhm_px(beside)
    assert reference == pytest.approx(true_px, rel=0.04)
    assert any(np.hypot(x - faint_xy[0], y - faint_xy[1]) < 1.5 for x, y in found)   # a candidate
    assert got == pytest.approx(reference, rel=0.03)


def test_faint_stars_off_the_galaxy_go_without_catalogue_and_faint_knots_on_it_stay(config):
    """Without a catalogue, stars of PSF-optimal S/N ~12 on the sky are found (by the faint
    kernel) and replaced, their point-likeness judged off the galaxy; knots of the same S/N on
    the disc, where a faint star and an HII region look alike, stay."""
    galaxy, _ = _disk_with_knot_and_star()
    c = (SIZE - 1) / 2.0
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM)
    unit = psf.drawImage(nx=41, ny=41, scale=SCALE).array
    flux = 12.0 * SIGMA * np.sqrt(1.0 / np.sum(unit**2))     # PSF-optimal S/N 12 against the sky
    sky_xy = [(12.0, 15.0), (125.0, 18.0), (15.0, 125.0), (124.0, 122.0), (70.0, 12.0), (12.0, 70.0)]
    knot_xy = [(c + 10.0, c - 6.0), (c - 9.0, c + 8.0)]
    def draw(xy):
        return psf.withFlux(flux).drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(xy[0] - c, xy[1] - c)).array
    image = galaxy + sum(draw(xy) for xy in sky_xy + knot_xy) + np.random.default_rng(5).normal(0, SIGMA, (SIZE, SIZE))
    settings = _settings(config, detect_without_catalogue=True)
    got = preprocess_galaxy(_image(image, PSF_FWHM=FWHM), ra_deg=150.0, dec_deg=2.0,
                            d25_arcmin=SIZE * SCALE / 60 / 1.125, stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]),
                            distance_cm=3e26, sizes=[32], settings=settings, rng=np.random.default_rng(0),
                            keep_stages=True)
    replaced = [(r.x, r.y) for r in got.stars if r.status == STATUS_REPLACED]
    found_on_sky = [xy for xy in sky_xy if any(np.hypot(xy[0] - x, xy[1] - y) < 1.5 for x, y in replaced)]
    assert len(found_on_sky) >= 5, found_on_sky
    assert not any(np.hypot(kx - x, ky - y) < 2 * FWHM / SCALE for kx, ky in knot_xy for x, y in replaced)
