"""Image files as archives and instruments write them: containers and inherited headers, WCS
frames, and pixels no sky holds (exact zeros, cosmic rays, saturated bleed trails), each read
correctly or rejected with its reason."""

import galsim
import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from mlpipe.io.fits_image import Image, ImageError, galaxy_image_path, read_image, tan_wcs, write_image
from mlpipe.io.store import read_table
from mlpipe.io.validation import InputError
from mlpipe.preprocess.cosmic_rays import cosmic_ray_pixels
from mlpipe.preprocess.cutout import cut_field_of_view, missing_pixels
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy
from mlpipe.preprocess.shard import process_shard
from mlpipe.preprocess.units import image_unit

SCALE = 0.396
SIZE = 128
SIGMA = 0.025          # sky noise, nanomaggies
RA, DEC = 150.0, 2.0
D25 = SIZE * SCALE / 60 / 1.125


def _galaxy(size=SIZE, fwhm_arcsec=1.4):
    psf = galsim.Moffat(beta=3.5, fwhm=fwhm_arcsec)
    gal = galsim.Exponential(half_light_radius=5.0, flux=300.0).shear(q=0.6, beta=30 * galsim.degrees)
    gal += galsim.DeVaucouleurs(half_light_radius=1.2, flux=80.0)
    return galsim.Convolve(gal, psf).drawImage(nx=size, ny=size, scale=SCALE).array


def _noisy(seed=0):
    return _galaxy() + np.random.default_rng(seed).normal(0, SIGMA, (SIZE, SIZE))


def _wcs():
    return tan_wcs(RA, DEC, ((SIZE + 1) / 2.0, (SIZE + 1) / 2.0), SCALE)


def _process(data, config, *, header=None, wcs=None, stars=None, d25_arcmin=D25):
    settings = PreprocessSettings.from_config(config["preprocess"])
    image = Image(np.asarray(data, float), wcs or _wcs(), header or fits.Header({"BUNIT": "nanomaggy"}))
    return preprocess_galaxy(image, ra_deg=RA, dec_deg=DEC, d25_arcmin=d25_arcmin,
                             stars=pd.DataFrame(columns=["ra", "dec", "psfMag_g"]) if stars is None else stars,
                             distance_cm=3e26, sizes=[64], settings=settings, rng=np.random.default_rng(0))


# --- containers and headers -------------------------------------------------------------------


def test_an_extension_inherits_the_primary_headers_unit_and_zero_point(tmp_path):
    primary = fits.PrimaryHDU(header=fits.Header({"BUNIT": "ADU", "MAGZP": 25.0}))
    sci = fits.ImageHDU(np.ones((20, 20), np.float32), header=_wcs().to_header(), name="SCI")
    sci.header["INHERIT"] = True
    fits.HDUList([primary, sci]).writeto(tmp_path / "mef.fits")
    image = read_image(tmp_path / "mef.fits")
    unit = image_unit(image.header, configured_unit="nanomaggies", configured_zero_point_mag=None)
    assert (unit.name, unit.source) == ("counts", "BUNIT, zero point MAGZP")
    sci.header["INHERIT"] = False                            # without the convention, nothing is inherited ...
    fits.HDUList([primary, sci]).writeto(tmp_path / "own.fits")
    image = read_image(tmp_path / "own.fits")
    assert "MAGZP" not in image.header
    # ... but the unit still comes from the primary where the extension says none (HSC, DECam keep it there),
    # never silently from the configuration
    unit = image_unit(image.header, configured_unit="nanomaggies", configured_zero_point_mag=None,
                      primary_header=image.primary_header)
    assert (unit.name, unit.source) == ("counts", "primary header BUNIT, zero point MAGZP")
    assert unit.cgs == image_unit(fits.Header({"BUNIT": "ADU", "MAGZP": 25.0}), configured_unit="nanomaggies",
                                  configured_zero_point_mag=None).cgs
    sci.header["BUNIT"] = "nanomaggy"                       # the extension's own unit wins
    fits.HDUList([primary, sci]).writeto(tmp_path / "both.fits")
    image = read_image(tmp_path / "both.fits")
    assert image_unit(image.header, configured_unit="counts", configured_zero_point_mag=None,
                      primary_header=image.primary_header).source == "BUNIT"


def test_asinh_compressed_pixels_are_expanded_to_linear_flux(tmp_path, config):
    """Pan-STARRS1 stacks store a asinh((flux - BOFFSET) / (2 BSOFTEN)), a = 2.5 / ln 10, with
    BSOFTEN and BOFFSET in the header: read as linear flux, the galaxy has the luminosity of the
    linear image (before: 0.7 % of it); one of the two cards alone is a reason."""
    linear = _noisy(seed=4)
    soften, offset = 0.05, -0.01
    compressed = 2.5 / np.log(10) * np.arcsinh((linear - offset) / (2 * soften))
    header = _wcs().to_header()
    header.update({"BUNIT": "nanomaggy", "BSOFTEN": soften, "BOFFSET": offset})
    fits.PrimaryHDU(compressed.astype(np.float32), header=header).writeto(tmp_path / "ps1.fits")
    image = read_image(tmp_path / "ps1.fits")
    assert image.data == pytest.approx(linear, abs=1e-5)
    assert _process(image.data, config).features["lum_sum"] == pytest.approx(
        _process(linear, config).features["lum_sum"], rel=1e-3)
    del header["BOFFSET"]
    fits.PrimaryHDU(compressed.astype(np.float32), header=header).writeto(tmp_path / "half.fits")
    with pytest.raises(ImageError, match="asinh-compressed pixels need BSOFTEN > 0 and BOFFSET"):
        read_image(tmp_path / "half.fits")


def test_an_extension_with_its_own_wcs_inherits_none_of_the_primarys(tmp_path):
    mosaic = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 10.0, "CRVAL2": -5.0,
                          "CRPIX1": 1.0, "CRPIX2": 1.0, "CD1_1": -1e-3, "CD2_2": 1e-3, "BUNIT": "nanomaggy"})
    sci = fits.ImageHDU(np.ones((20, 20), np.float32), header=_wcs().to_header(), name="SCI")   # CDELT + PC
    sci.header["INHERIT"] = True
    fits.HDUList([fits.PrimaryHDU(header=mosaic), sci]).writeto(tmp_path / "mef.fits")
    image = read_image(tmp_path / "mef.fits")
    assert "CD1_1" not in image.header and image.header["BUNIT"] == "nanomaggy"   # the unit, not the mosaic's WCS
    assert image.wcs.celestial.wcs.crval[0] == pytest.approx(RA)


def test_the_science_plane_is_read_not_a_mask_before_it(tmp_path):
    mask = fits.PrimaryHDU(np.zeros((20, 20), np.int16), header=_wcs().to_header())
    mask.header["EXTNAME"] = "MASK"
    science = np.arange(400, dtype=np.float32).reshape(20, 20)
    errors = fits.ImageHDU(np.ones((20, 20), np.float32), header=_wcs().to_header(), name="UNCERT")
    badpix = fits.ImageHDU(np.zeros((20, 20), np.float32), header=_wcs().to_header(), name="BADPIX")
    fits.HDUList([mask, errors, badpix, fits.ImageHDU(science, header=_wcs().to_header(), name="SCI"),
                  fits.ImageHDU(np.ones((20, 20), np.float32), header=_wcs().to_header(), name="IVAR")]
                 ).writeto(tmp_path / "planes.fits")
    assert np.array_equal(read_image(tmp_path / "planes.fits").data, science)


def test_a_cube_with_one_plane_is_read_as_that_plane(tmp_path):
    header = _wcs().to_header()
    plane = np.arange(400, dtype=np.float32).reshape(20, 20)
    fits.PrimaryHDU(plane[None], header=header).writeto(tmp_path / "cube.fits")
    assert np.array_equal(read_image(tmp_path / "cube.fits").data, plane)


@pytest.mark.parametrize("change, message", [
    ({"CD1_1": 0.0, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 0.0}, r"invalid WCS in bad.fits: \w+Error: .*singular"),
    ({"CRVAL1": "NAN"}, r"invalid WCS in bad.fits: CRVAL1 = 'NAN' is not a finite number"),
    ({"CD1_1": -0.396 / 3600, "CD2_2": 0.594 / 3600}, r"pixels of bad.fits are not square \(0.396 x 0.594 arcsec\)"),
])
def test_a_wcs_that_cannot_place_the_galaxy_is_a_one_line_reason(tmp_path, change, message):
    header = _wcs().to_header()
    for key in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        header.remove(key, ignore_missing=True)
    header.update({"CD1_1": -SCALE / 3600, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": SCALE / 3600} | change)
    fits.PrimaryHDU(np.ones((20, 20), np.float32), header=header).writeto(tmp_path / "bad.fits")
    with pytest.raises(ImageError, match=message) as err:
        read_image(tmp_path / "bad.fits")
    assert "\n" not in str(err.value)


def _other_wcs(kind):
    wcs = WCS(naxis=2)
    centre = (SIZE + 1) / 2.0
    if kind == "galactic":
        coord = SkyCoord(RA, DEC, unit="deg").galactic
        wcs.wcs.ctype, wcs.wcs.crval = ["GLON-TAN", "GLAT-TAN"], [coord.l.deg, coord.b.deg]
        # the pixel grid rotated against RA/Dec: compare only the galaxy's position below
    else:   # declination first
        wcs.wcs.ctype, wcs.wcs.crval = ["DEC--TAN", "RA---TAN"], [DEC, RA]
    wcs.wcs.crpix = [centre, centre]
    wcs.wcs.cdelt = [-SCALE / 3600, SCALE / 3600] if kind == "galactic" else [SCALE / 3600, -SCALE / 3600]
    return wcs


@pytest.mark.parametrize("kind", ["galactic", "dec_first"])
def test_the_galaxy_is_placed_in_the_frame_and_axis_order_of_the_images_wcs(kind):
    data = np.random.default_rng(4).normal(0, SIGMA, (SIZE, SIZE))
    data[60:68, 60:68] += 1.0                                 # the galaxy at the reference pixel
    image = Image(data, _other_wcs(kind), fits.Header())
    cut = cut_field_of_view(image, ra_deg=RA, dec_deg=DEC, d25_arcmin=0.4, fov_d25=1.125, min_coverage=0.9,
                            max_bad_fraction=0.5)
    n = cut.data.shape[0]
    assert cut.x0 == cut.y0 == int(round((SIZE - 1) / 2.0 - (n - 1) / 2.0))


@pytest.mark.parametrize("scale_arcsec", [0.262, 0.198, 0.6])
def test_the_image_features_are_on_sdss_pixels_whatever_the_images_pixels(config, scale_arcsec):
    """The same galaxy and sky (noise per square arcsec) imaged with 0.262" (Legacy Survey), 0.198"
    and 0.6" pixels: its field is resampled to 0.396" pixels after the star removal, so the
    per-pixel luminosities and the field's size in pixels are those of the SDSS image (before: 2.3
    times off at 0.262", 4 times at 0.198"). The stretch's ``a`` is not compared: resampled noise
    is smoother than an SDSS image's (BENCHMARKS.md)."""
    field_arcsec = SIZE * SCALE
    psf = galsim.Moffat(beta=3.5, fwhm=1.4)
    gal = galsim.Convolve(galsim.Exponential(half_light_radius=5.0, flux=300.0).shear(q=0.6, beta=30 * galsim.degrees)
                          + galsim.DeVaucouleurs(half_light_radius=1.2, flux=80.0), psf)
    got = {}
    for scale in (SCALE, scale_arcsec):
        n = int(round(field_arcsec / scale))
        data = gal.drawImage(nx=n, ny=n, scale=scale).array
        data = data + np.random.default_rng(5).normal(0, SIGMA * scale / SCALE, (n, n))
        wcs = tan_wcs(RA, DEC, ((n + 1) / 2.0, (n + 1) / 2.0), scale)
        got[scale] = _process(data, config, wcs=wcs).features
    sdss, other = got[SCALE], got[scale_arcsec]
    assert other["image_size_px"] == pytest.approx(sdss["image_size_px"], abs=1)
    for name in ("lum_sum", "lum_mean"):
        assert other[name] == pytest.approx(sdss[name], rel=0.05), name
    for name in ("lum_max", "lum_centre", "lum_centre5", "log_mean"):
        assert other[name] == pytest.approx(sdss[name], rel=0.2), name


def test_an_ecliptic_wcs_is_a_reason_not_read_as_ra_and_dec():
    """astropy gives an ELON / ELAT WCS the ICRS frame: the galaxy's RA and Dec would be placed as
    ecliptic longitude and latitude (before: 'outside the image', a wrong reason, or a wrong place)."""
    wcs = _wcs()
    wcs.wcs.ctype = ["ELON-TAN", "ELAT-TAN"]
    with pytest.raises(ImageError, match="ELON / ELAT coordinates; equatorial"):
        cut_field_of_view(Image(_noisy(), wcs, fits.Header()), ra_deg=RA, dec_deg=DEC, d25_arcmin=0.4, fov_d25=1.125,
                          min_coverage=0.9, max_bad_fraction=0.5)


@pytest.mark.parametrize("name", ["7.fits.gz", "7.fit", "7.fits.fz", "7.FITS"])
def test_a_galaxys_cut_out_is_found_under_the_usual_names(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert galaxy_image_path(tmp_path, 7).name == name
    (tmp_path / "7.fits").write_bytes(b"")
    assert galaxy_image_path(tmp_path, 7).name == "7.fits"    # the plain name first


def test_a_folder_of_images_that_does_not_exist_is_one_error(tmp_path, config):
    pd.DataFrame({"objid": [1], "ra": [RA], "dec": [DEC], "z": [0.05], "d25_arcmin": [D25],
                  "pixel_kpc": [0.4]}).to_csv(tmp_path / "shard.csv", index=False)
    (tmp_path / "stars.csv").write_text("ra,dec,psfMag_g\n")
    with pytest.raises(InputError, match=r"imagse: no such folder of images"):
        process_shard(tmp_path / "shard.csv", images_dir=tmp_path / "imagse", stars_csv=tmp_path / "stars.csv",
                      sizes=[32], preprocess_cfg=config["preprocess"], cosmo_cfg=config["cosmology"],
                      out_path=tmp_path / "s.h5")
    assert not (tmp_path / "s.h5").exists()


# --- pixels no sky holds ----------------------------------------------------------------------


def test_zeros_in_an_image_with_its_sky_left_in_are_missing_pixels():
    rng = np.random.default_rng(1)
    data = 1100.0 + 5.0 * rng.normal(size=(64, 64))           # ADU with the sky left in
    data[10, 10] = data[30, 40] = 0.0                        # single masked pixels, as archives write them
    assert missing_pixels(data, min_zero_run_px=5).sum() == 2
    subtracted = data - 1100.0                                # sky subtracted: a lone zero could be a value
    subtracted[10, 10] = subtracted[30, 40] = 0.0
    assert missing_pixels(subtracted, min_zero_run_px=5).sum() == 0


@pytest.mark.parametrize("sky_counts", [1000.0, 1000.4])
def test_the_sky_of_integer_counts_is_not_rounded_to_a_whole_count(config, sky_counts):
    """An image in whole counts (ADU, SDSS fpC, int16) with 3 counts of sky noise: the median of whole
    numbers is a whole number, up to half a count off the sky, which over the field's 16,000 pixels
    was 14 % of this galaxy's light; each count taken as spread over its step, the luminosity is
    that of the same image before rounding to 1 %."""
    per_nmgy = 3.0 / SIGMA
    counts = _noisy(seed=3) * per_nmgy + sky_counts
    exact, whole = (_process(values / per_nmgy, config) for values in (counts, np.round(counts)))
    assert whole.features["lum_sum"] == pytest.approx(exact.features["lum_sum"], rel=0.01)
    assert whole.features["sky"] * per_nmgy == pytest.approx(sky_counts, abs=0.1)


def test_scaled_sixteen_bit_counts_are_whole_counts(tmp_path, config):
    """Whole counts stored as unsigned 16-bit (int16, BZERO 32768, BSCALE): astropy scales them in
    float32, 2e-5 of a step off the lattice, and their sky is still measured as whole counts'."""
    per_nmgy = 1.0 / SIGMA
    counts = np.round(_noisy(seed=6) * per_nmgy + 1000.4)
    header = _wcs().to_header()
    header["BUNIT"] = "nanomaggy"
    hdu = fits.PrimaryHDU((counts - 32768).astype(np.int16), header=header)
    hdu.header["BZERO"], hdu.header["BSCALE"] = 32768 / per_nmgy, 1 / per_nmgy
    hdu.writeto(tmp_path / "u16.fits")
    image = read_image(tmp_path / "u16.fits")
    assert image.data.dtype == np.float64 and not np.allclose(image.data * per_nmgy, counts, rtol=0, atol=1e-6)
    stored, exact = (_process(values, config) for values in (image.data, counts / per_nmgy))
    assert stored.features["lum_sum"] == pytest.approx(exact.features["lum_sum"], rel=0.005)


def test_zeros_are_values_in_an_image_quantised_at_its_noise():
    rng = np.random.default_rng(2)
    data = np.round(rng.normal(size=(64, 64)))                # sky subtracted, one count ~ one sigma
    data[20:23, 20:23] = 0.0                                  # a run of zeros that is just data
    assert (data == 0).mean() > 0.3 and missing_pixels(data, min_zero_run_px=5).sum() == 0
    data[40:42, :] = 0.0                                      # a zeroed stripe: longer than chance makes one
    data[:, 60:] = 0.0                                        # and a zeroed edge
    stripe_and_edge = np.zeros(data.shape, bool)
    stripe_and_edge[40:42, :] = stripe_and_edge[:, 60:] = True
    assert np.array_equal(missing_pixels(data, min_zero_run_px=5), stripe_and_edge)
    float_data = rng.normal(size=(64, 64))
    float_data[40:42, :] = 0.0
    assert missing_pixels(float_data, min_zero_run_px=5).sum() == 128   # in float noise too


def _cosmic_rays(data, level):
    hit = data.copy()
    for (y, x), shape in zip([(40, 80), (90, 50), (75, 70)], ["pair", "single", "ell"]):
        hit[y, x] += level
        if shape in ("pair", "ell"):
            hit[y, x + 1] += 0.7 * level
        if shape == "ell":
            hit[y + 1, x] += 0.5 * level
    return hit


def test_cosmic_rays_are_replaced_before_they_set_the_luminosity_or_the_stretch(config):
    clean = _noisy()
    hit = _cosmic_rays(clean, level=60.0)                     # 2400 sigma, beside the galaxy's ~5 nanomaggy peak
    flagged = cosmic_ray_pixels(hit, sky_sigma=SIGMA)
    assert flagged.sum() == 6 and not cosmic_ray_pixels(clean, sky_sigma=SIGMA).any()
    before, after = _process(clean, config), _process(hit, config)
    assert after.features["cosmic_ray_pixels"] == 6
    assert after.features["lum_sum"] == pytest.approx(before.features["lum_sum"], rel=2e-3)
    assert after.features["scale_a"] == pytest.approx(before.features["scale_a"], rel=1e-3)
    assert np.abs(after.images[64] - before.images[64]).max() < 0.03      # where the hits were: their neighbours' median


@pytest.mark.parametrize("fwhm_arcsec", [0.8, 1.4, 2.5])
def test_no_star_or_nucleus_is_taken_for_a_cosmic_ray(fwhm_arcsec):
    rng = np.random.default_rng(3)
    data = _galaxy(fwhm_arcsec=fwhm_arcsec) + rng.normal(0, SIGMA, (SIZE, SIZE))
    for x, y, flux in [(20.3, 30.7, 5000.0), (100.0, 100.5, 50.0), (30.5, 100.0, 2.0)]:   # bright to faint stars
        data += galsim.Moffat(beta=3.5, fwhm=fwhm_arcsec, flux=flux).drawImage(
            nx=SIZE, ny=SIZE, scale=SCALE, offset=(x - (SIZE - 1) / 2, y - (SIZE - 1) / 2)).array
    assert not cosmic_ray_pixels(data, sky_sigma=SIGMA).any()


def test_a_saturated_bleed_trail_across_the_disc_rejects_the_galaxy(config):
    data = _noisy()
    data[30:100, 92:95] = 40.0                                # a flat column at the detector's limit, 29 px off centre
    with pytest.raises(Rejected, match=r"\d+ saturated pixels \(a bleed trail .*\) lie within D25"):
        _process(data, config)
    flat_fielded = data + np.where(data == 40.0, np.random.default_rng(5).normal(0, 0.2, data.shape), 0.0)
    with pytest.raises(Rejected, match=r"saturated pixels"):   # not one exact value: 0.5 % scatter
        _process(flat_fielded, config)
    low_level = fits.Header({"BUNIT": "nanomaggy", "SATURATE": 0.5})   # in another scale than the pixels
    assert _process(_noisy(), config, header=low_level).features["saturated_pixels_cleared"] == 0
    star = _noisy() + galsim.Moffat(beta=3.5, fwhm=1.4, flux=3000.0).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(93.0 - (SIZE - 1) / 2, 40.0 - (SIZE - 1) / 2)).array
    star = np.minimum(star, 40.0)
    star[40:100, 92:95] = 40.0                                # a listed saturated star bleeding across the disc
    ra, dec = _wcs().all_pix2world(93.0, 40.0, 0)
    listed = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [13.8]})
    with pytest.raises(Rejected, match=r"saturated pixels"):  # its fitted wings do not hide the trail
        _process(star, config, stars=listed)
    from_nucleus = _noisy()
    from_nucleus[58:70, 58:70] = 40.0                         # a saturated nucleus ...
    assert _process(from_nucleus, config).features["saturated_pixels_cleared"] == 0   # ... stays
    from_nucleus[20:108, 62:66] = 40.0                        # ... with a bleed trail out of it does not
    with pytest.raises(Rejected, match=r"a bleed trail from the saturated nucleus"):
        _process(from_nucleus, config)
    outside = _noisy()
    outside[0:12, 2:5] = 40.0                                 # in the field's corner, beyond D25: removed
    result, reference = _process(outside, config), _process(_noisy(), config)
    assert result.features["stars_replaced"] == 1 or result.features["saturated_pixels_cleared"] == 36
    assert result.features["lum_sum"] == pytest.approx(reference.features["lum_sum"], rel=0.02)


def test_a_nucleus_without_data_is_named_as_such(config):
    data = _noisy()
    data[61:67, 61:67] = np.nan
    with pytest.raises(Rejected, match=r"the nucleus has no data: 25 of the central 5x5 pixels are missing"):
        _process(data, config)


def test_a_hole_in_the_disc_is_filled_from_the_galaxy_around_it_not_with_the_sky(config):
    reference = _process(_noisy(), config)
    data = _noisy()
    data[55:65, 66:76] = np.nan                               # 10 x 10 px beside the nucleus: 1 % of D25
    result = _process(data, config)
    assert result.features["masked_d25_fraction"] == pytest.approx(100 / np.sum(
        np.hypot(*np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2) <= SIZE / 2.25), rel=0.01)
    # filled with the sky the hole lost ~10 % of the light and showed a black square (0.66 of the stretch)
    assert result.features["lum_sum"] == pytest.approx(reference.features["lum_sum"], rel=0.03)
    assert np.abs(result.images[64] - reference.images[64]).max() < 0.25


def test_an_undersampled_point_like_nucleus_is_not_taken_for_a_cosmic_ray(config):
    data = _noisy()
    data[64, 64] += 30.0                                      # all of a bright point source in one pixel
    assert cosmic_ray_pixels(data, sky_sigma=SIGMA)[64, 64]   # as sharp as a hit ...
    assert _process(data, config).features["cosmic_ray_pixels"] == 0   # ... but where the nucleus is


def test_a_star_whose_model_takes_more_light_than_it_had_rejects_the_galaxy(config):
    """A saturated star with wings unlike the PSF model's (Moffat beta 2.5 against the model's
    3.5 and halo), fitted beyond its clipped core, over-subtracts the disc around it."""
    data = _noisy() + galsim.Moffat(beta=2.5, fwhm=1.4, flux=3e5).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(93.0 - (SIZE - 1) / 2, 74.0 - (SIZE - 1) / 2)).array
    ra, dec = _wcs().all_pix2world(93.0, 74.0, 0)
    listed = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [22.5 - 2.5 * np.log10(3e5)]})
    with pytest.raises(Rejected, match=r"a removed star's model does not fit it: .* times the galaxy's light"):
        _process(np.minimum(data, 40.0), config, stars=listed)


@pytest.mark.parametrize("x_px", [-2.0, 1.0, 6.0])
def test_a_saturated_star_at_the_fields_edge_is_removed_even_when_its_listed_centre_is_off_it(config, x_px):
    """Listed at x = -2 px, off the cut-out, its saturated core and halo reach in: removed as an
    unlisted core. At 1 and 6 px it is removed as listed; no case is mistaken for over-subtraction."""
    star = galsim.Moffat(beta=3.5, fwhm=1.4, flux=3e4).drawImage(
        nx=SIZE, ny=SIZE, scale=SCALE, offset=(x_px - (SIZE - 1) / 2, 30.0 - (SIZE - 1) / 2)).array
    ra, dec = _wcs().all_pix2world(x_px, 30.0, 0)
    listed = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [22.5 - 2.5 * np.log10(3e4)]})
    result = _process(np.minimum(_noisy() + star, 40.0), config, stars=listed)
    assert result.features["stars_replaced"] == 1
    assert result.features["lum_sum"] == pytest.approx(_process(_noisy(), config).features["lum_sum"], rel=0.03)


#: a field 110 px across in the 128 px image: 9 px of image around it on each side
SMALL_D25 = 110 * SCALE / 60 / 1.125
FIELD_EDGE_PX = (SIZE - 1) / 2 + 55


def _star_with_halo(x_px, y_px, flux):
    """A star as the PSF model draws it: a Moffat core and 5 % of its flux in a wide halo."""
    star = galsim.Moffat(beta=3.5, fwhm=1.4, flux=0.95 * flux) + galsim.Moffat(beta=2.0, fwhm=6 * 1.4, flux=0.05 * flux)
    return star.drawImage(nx=SIZE, ny=SIZE, scale=SCALE, offset=(x_px - (SIZE - 1) / 2, y_px - (SIZE - 1) / 2)).array


def _listed(x_px, y_px):
    ra, dec = _wcs().all_pix2world(x_px, y_px, 0)
    return pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [np.nan]})


@pytest.mark.parametrize("x_px", [FIELD_EDGE_PX + 5.0, SIZE - 1 + 6.0],
                         ids=["in the image around the field", "off the image"])
def test_a_saturated_star_centred_outside_the_field_is_removed_from_the_light_it_sends_in(config, x_px):
    """Its core and halo reach into the field: left there (as an unlisted star), they add tens of
    per cent to the luminosity; centred on the image around the field it is fitted there, centred
    off the image it is fitted on its wings alone."""
    y_px = (SIZE - 1) / 2 + 20.0
    data = np.minimum(_noisy() + _star_with_halo(x_px, y_px, 3e4), 40.0)
    reference = _process(_noisy(), config, d25_arcmin=SMALL_D25).features["lum_sum"]
    left_in = _process(data, config, d25_arcmin=SMALL_D25, stars=_listed(-500.0, -500.0)).features["lum_sum"]
    assert left_in > 1.1 * reference
    result = _process(data, config, d25_arcmin=SMALL_D25, stars=_listed(x_px, y_px))
    assert [r.status for r in result.stars] == ["replaced"]
    assert result.features["lum_sum"] == pytest.approx(reference, rel=0.03)


@pytest.mark.parametrize("case", ["the image beyond the field is zeros", "centred on the field's last pixel"])
def test_a_star_at_the_fields_edge_is_removed_whatever_lies_beyond(config, case):
    """The image beyond the field may hold exact zeros (no data, as archives pad), or a star may be
    centred on the field's last pixel: each is fitted on the field with the margin, on the pixels
    with data, and the luminosity is the galaxy's."""
    y_px = (SIZE - 1) / 2 + 20.0
    x_px, flux, zeros = {"the image beyond the field is zeros": (FIELD_EDGE_PX + 5.0, 3e4, True),
                         "centred on the field's last pixel": (FIELD_EDGE_PX - 0.2, 3e4, False)}[case]
    background = _noisy()
    data = np.minimum(background + _star_with_halo(x_px, y_px, flux), 40.0)
    if zeros:
        background[:, int(FIELD_EDGE_PX + 1):] = 0.0
        data[:, int(FIELD_EDGE_PX + 1):] = 0.0
    reference = _process(background, config, d25_arcmin=SMALL_D25).features["lum_sum"]
    assert _process(data, config, d25_arcmin=SMALL_D25).features["lum_sum"] > 1.2 * reference
    result = _process(data, config, d25_arcmin=SMALL_D25, stars=_listed(x_px, y_px))
    assert [r.status for r in result.stars] == ["replaced"]
    assert result.features["lum_sum"] == pytest.approx(reference, rel=0.05)


def test_the_clipped_core_of_a_listed_star_off_the_image_is_that_star(config):
    """A star of g ~ 5 centred 20 px off the image: the part of its clipped core on the image lies
    ~20 px from its centre, beyond where a core is matched to a listed star by distance alone.
    It runs into the image's edge towards the listed star, so it is that star's (fitted on its
    wings), not an unlisted star centred on the image; the field 26 px in keeps the galaxy's light."""
    size, centre_x, centre_y = 300, 90.0, 149.5
    gal = galsim.Convolve(galsim.Exponential(half_light_radius=5.0, flux=300.0).shear(q=0.6, beta=30 * galsim.degrees)
                          + galsim.DeVaucouleurs(half_light_radius=1.2, flux=80.0), galsim.Moffat(beta=3.5, fwhm=1.4))
    background = gal.drawImage(nx=size, ny=size, scale=SCALE, offset=(centre_x - (size - 1) / 2, 0.0)).array
    background += np.random.default_rng(0).normal(0, SIGMA, (size, size))
    yy, xx = np.mgrid[:size, :size]
    star = np.zeros((size, size))   # Moffat core and halo, evaluated directly: its centre is off the image
    for flux, fwhm, beta in ((0.95e7, 1.4 / SCALE, 3.5), (0.05e7, 6 * 1.4 / SCALE, 2.0)):
        alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
        star += flux * (beta - 1) / (np.pi * alpha**2) * (1 + ((xx + 20.0) ** 2 + (yy - 169.5) ** 2) / alpha**2) ** -beta
    wcs = tan_wcs(RA, DEC, (centre_x + 1.0, centre_y + 1.0), SCALE)
    ra, dec = wcs.all_pix2world(-20.0, 169.5, 0)
    listed = pd.DataFrame({"ra": [float(ra)], "dec": [float(dec)], "psfMag_g": [np.nan]})
    d25 = 128 * SCALE / 60 / 1.125
    reference = _process(background, config, wcs=wcs, d25_arcmin=d25).features["lum_sum"]
    result = _process(np.minimum(background + star, 40.0), config, wcs=wcs, d25_arcmin=d25, stars=listed)
    assert [r.status for r in result.stars] == ["replaced"]
    assert result.features["lum_sum"] == pytest.approx(reference, rel=0.05)


def test_a_shard_hands_on_the_stars_beyond_the_fields_corners_that_reach_into_it(tmp_path, config):
    """The catalogue's stars are looked up out to the margin where a star centred outside the field
    may still reach into it: a saturated star off the image 15 px beyond the field's edge, 86 px
    from the galaxy (beyond 0.75 of the field's side), is removed in the shard's store."""
    x_px, y_px = SIZE - 1 + 6.0, (SIZE - 1) / 2 + 50.0
    data = np.minimum(_noisy() + _star_with_halo(x_px, y_px, 3e4), 40.0)
    (tmp_path / "images").mkdir()
    write_image(data, _wcs(), tmp_path / "images" / "1.fits", {"BUNIT": "nanomaggy"})
    pd.DataFrame({"objid": [1], "ra": [RA], "dec": [DEC], "z": [0.05], "d25_arcmin": [SMALL_D25],
                  "pixel_kpc": [0.4]}).to_csv(tmp_path / "shard.csv", index=False)
    _listed(x_px, y_px).to_csv(tmp_path / "stars.csv", index=False)
    rejects, _ = process_shard(tmp_path / "shard.csv", images_dir=tmp_path / "images", stars_csv=tmp_path / "stars.csv",
                               sizes=[32], preprocess_cfg=config["preprocess"], cosmo_cfg=config["cosmology"],
                               out_path=tmp_path / "s.h5")
    assert rejects.empty
    with h5py.File(tmp_path / "s.h5") as store:
        stars = read_table(store, "stars")
    assert list(stars["status"].astype(str)) == ["replaced"]


def test_a_listed_star_off_the_image_that_sends_no_light_in_changes_nothing(config):
    """Listed just beyond the image's edge where nothing shines: no flux is fitted to its wings
    (the galaxy's own light is left out of the fit), and the field is as without it."""
    alone = _process(_noisy(), config, d25_arcmin=SMALL_D25)
    result = _process(_noisy(), config, d25_arcmin=SMALL_D25, stars=_listed(SIZE - 1 + 5.0, (SIZE - 1) / 2))
    assert [r.status for r in result.stars] == ["not found"]
    assert result.features["lum_sum"] == alone.features["lum_sum"]
    np.testing.assert_array_equal(result.images[64], alone.images[64])


def test_a_field_whose_light_sums_to_nothing_is_rejected(config):
    data = _noisy()
    r = np.hypot(*np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2)
    data[(r > 20) & (r < 50)] -= 0.2                          # a deficit no galaxy has (a star's model taken twice)
    with pytest.raises(Rejected, match=r"the field's light sums to -.* \(<= 0\) after the star removal"):
        _process(data, config)
