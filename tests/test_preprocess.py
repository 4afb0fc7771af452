"""Image preprocessing: star subtraction, scaling, features, resizing and rejections."""

import copy

import galsim
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from mlpipe import physics
from mlpipe.io.fits_image import ImageError, read_image, tan_wcs, write_image
from mlpipe.io.store import read_table
from mlpipe.preprocess.cutout import cut_field_of_view
from mlpipe.preprocess.errors import Rejected
from mlpipe.preprocess.features import log_image_features, luminosity_features
from mlpipe.preprocess.galaxy import PreprocessSettings, preprocess_galaxy
from mlpipe.preprocess.resize import resize
from mlpipe.preprocess.scaling import log_stretch, noise_level, rescale_unit, solve_scaling
from mlpipe.preprocess.shard import process_shard
from mlpipe.preprocess.stars import StarSettings, subtract_stars

SCALE = 0.396
FWHM = 1.4


def _galaxy(size=160, flux=400.0, seed=0):
    """A noiseless exponential disk + bulge at the image centre, PSF-convolved (nanomaggies)."""
    psf = galsim.Moffat(beta=3.5, fwhm=FWHM)
    gal = galsim.Exponential(half_light_radius=6.0, flux=0.8 * flux).shear(q=0.6, beta=30 * galsim.degrees)
    gal += galsim.DeVaucouleurs(half_light_radius=1.5, flux=0.2 * flux)
    return galsim.Convolve(gal, psf).drawImage(nx=size, ny=size, scale=SCALE).array


def _star(size, x, y, flux):
    c = (size - 1) / 2.0
    return galsim.Moffat(beta=3.5, fwhm=FWHM, flux=flux).drawImage(
        nx=size, ny=size, scale=SCALE, offset=(x - c, y - c)).array


@pytest.fixture()
def star_cfg(config):
    return StarSettings.from_config(config["preprocess"]["stars"])


def test_isolated_stars_are_removed_and_galaxy_kept(star_cfg):
    size, sigma = 160, 0.025
    rng = np.random.default_rng(1)
    galaxy = _galaxy(size)
    positions = [(25.0, 30.0), (135.0, 40.0), (30.0, 130.0), (130.0, 135.0)]
    fluxes = [physics.nanomaggies(m) for m in (17.0, 18.0, 19.0, 17.5)]
    stars = sum(_star(size, x, y, f) for (x, y), f in zip(positions, fluxes))
    noise = rng.normal(0, sigma, (size, size))
    image = galaxy + stars + noise
    centre = ((size - 1) / 2, (size - 1) / 2)
    clean, records = subtract_stars(image, star_xy=np.array(positions) + 0.7, star_mag=np.full(4, 18.0),
                                    sky_sigma=sigma, fwhm_px=FWHM / SCALE, protect_xy=[centre],
                                    settings=star_cfg, rng=rng)
    assert [r.status for r in records] == ["replaced"] * 4
    yy, xx = np.mgrid[:size, :size]
    for (x, y), flux in zip(positions, fluxes):
        region = np.hypot(xx - x, yy - y) < 6 * FWHM / SCALE
        residual = (clean - galaxy - noise)[region].sum()
        assert abs(residual) < 0.05 * flux, (x, y, residual / flux)
    galaxy_flux = galaxy.sum()
    assert abs((clean - noise).sum() - galaxy_flux) < 0.01 * galaxy_flux + 0.05 * min(fluxes)


def test_nucleus_and_knots_survive(star_cfg):
    size, sigma = 160, 0.025
    rng = np.random.default_rng(2)
    galaxy = _galaxy(size) + _star(size, 100.0, 70.0, 30.0)  # a bright compact knot, not listed
    image = galaxy + rng.normal(0, sigma, (size, size))
    centre = ((size - 1) / 2, (size - 1) / 2)
    clean, records = subtract_stars(image, star_xy=np.array([[centre[0] + 1.0, centre[1]]]),
                                    star_mag=np.array([17.0]), sky_sigma=sigma, fwhm_px=FWHM / SCALE,
                                    protect_xy=[centre], settings=star_cfg, rng=rng)
    assert records[0].status == "galaxy nucleus"
    assert np.array_equal(clean, image)


@pytest.mark.parametrize("level", [1e-4, 0.003, 0.05, 0.19])
def test_scaling_maps_noise_level_to_target(level):
    a = solve_scaling(level, 0.2)
    assert abs(np.log1p(a * level) / np.log1p(a) - 0.2) < 1e-6


def test_scaling_edges():
    assert solve_scaling(0.25, 0.2) == 0.0  # noise already above the target: left linear
    unit = np.linspace(0, 1, 11)
    assert np.array_equal(log_stretch(unit, 0.0), unit)
    with pytest.raises(Rejected):
        rescale_unit(np.ones((5, 5)))


def test_noise_level_of_scaled_image_is_target(config):
    rng = np.random.default_rng(3)
    unit = rescale_unit(_galaxy(120) + rng.normal(0, 0.025, (120, 120)))
    a = solve_scaling(noise_level(unit, 3.0), 0.2)
    assert noise_level(unit, 3.0) < 0.2 and a > 1
    assert log_stretch(unit, a).min() == 0.0 and log_stretch(unit, a).max() == pytest.approx(1.0)


def test_features_equal_direct_numpy():
    rng = np.random.default_rng(4)
    img = rng.random((31, 31))
    d = 3.0e26
    f = luminosity_features(img, d, 2.0)
    lum = img * 2.0 * 4 * np.pi * d**2
    assert f["lum_sum"] == pytest.approx(lum.sum())
    assert f["lum_mean"] == pytest.approx(lum.mean())
    assert f["lum_max"] == pytest.approx(lum.max()) and f["lum_min"] == pytest.approx(lum.min())
    assert f["lum_std"] == pytest.approx(lum.std())
    assert f["lum_centre"] == pytest.approx(lum[15, 15])
    assert f["lum_centre5"] == pytest.approx(lum[13:18, 13:18].mean())
    g = log_image_features(img)
    assert g["log_centre5"] == pytest.approx(img[13:18, 13:18].mean())
    assert g["log_std"] == pytest.approx(img.std())


def test_resize_preserves_mean_and_field():
    rng = np.random.default_rng(5)
    img = rng.random((150, 150))
    small = resize(img, 64)
    assert small.shape == (64, 64) and small.mean() == pytest.approx(img.mean(), rel=1e-5)
    blocks = resize(np.kron(np.arange(4.0).reshape(2, 2), np.ones((50, 50))), 2)
    assert np.allclose(blocks, [[0, 1], [2, 3]])  # exact area averaging
    big = resize(img[:40, :40], 69)
    assert big.shape == (69, 69) and abs(big.mean() - img[:40, :40].mean()) < 0.02


def _write_fits(path, data, ra=150.0, dec=2.0, with_wcs=True, offset=(2.0, -1.0)):
    n = data.shape[0]
    if with_wcs:
        write_image(data, tan_wcs(ra, dec, ((n - 1) / 2 + offset[0] + 1, (n - 1) / 2 + offset[1] + 1), SCALE),
                    path, {"BUNIT": "nanomaggy"})
    else:
        fits.PrimaryHDU(data.astype(np.float32)).writeto(path)


def test_cutout_uses_wcs_not_array_centre():
    data = np.zeros((101, 101))
    data[55, 58] = 1.0  # the galaxy position per the WCS below: (50 + 8, 50 + 5)
    wcs = tan_wcs(150.0, 2.0, (59.0, 56.0), SCALE)
    from mlpipe.io.fits_image import Image
    img = Image(data + np.random.default_rng(0).normal(0, 0.01, data.shape), wcs, fits.Header())
    cut = cut_field_of_view(img, ra_deg=150.0, dec_deg=2.0, d25_arcmin=31 * SCALE / 60 / 1.125, fov_d25=1.125,
                            min_coverage=0.9, max_bad_fraction=0.1)
    assert cut.data.shape == (31, 31)
    assert np.unravel_index(np.argmax(cut.data), cut.data.shape) == (15, 15)


@pytest.fixture()
def shard_with_bad_inputs(tmp_path):
    """A shard of eight galaxies: two good and one of each kind of bad input."""
    rng = np.random.default_rng(6)
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    size = 120
    d25 = size * SCALE / 60 / 1.3
    def add(objid, data=None, **kw):
        rows.append({"objid": objid, "ra": 150.0, "dec": 2.0, "z": 0.05, "d25_arcmin": d25,
                     "pixel_kpc": 0.39})
        if data is not None:
            _write_fits(images / f"{objid}.fits", data, **kw)
    good = _galaxy(size) + rng.normal(0, 0.025, (size, size))
    add(1, good)
    add(2, good + _star(size, 20, 25, 50.0))
    add(3)                                                   # missing file
    (images / "4.fits").write_bytes(fits.PrimaryHDU(good.astype(np.float32)).header.tostring().encode()[:1000])
    rows.append({**rows[-1], "objid": 4})                    # truncated FITS
    add(5, good, with_wcs=False)                             # no WCS
    add(6, np.full((size, size), np.nan))                    # all NaN
    add(7, np.zeros((size, size)))                           # all zero: missing data
    add(8, good[:60, :60])                                   # smaller than the field of view
    add(9, rng.normal(0, 0.025, (size, size)))               # no galaxy: noise only
    shard = pd.DataFrame(rows)
    shard.to_csv(tmp_path / "shard.csv", index=False)
    c = (size - 1) / 2 + 2.0
    star_ra = 150.0 + (c - 20) * SCALE / 3600 / np.cos(np.radians(2.0))
    star_dec = 2.0 + (25 - (c - 3.0)) * SCALE / 3600
    pd.DataFrame({"ra": [star_ra], "dec": [star_dec], "psfMag_g": [18.3]}).to_csv(tmp_path / "stars.csv", index=False)
    return tmp_path


def test_shard_records_each_bad_input_and_completes(shard_with_bad_inputs, config):
    import h5py

    out = shard_with_bad_inputs / "shard.h5"
    rejects, _ = process_shard(shard_with_bad_inputs / "shard.csv", images_dir=shard_with_bad_inputs / "images",
                               stars_csv=shard_with_bad_inputs / "stars.csv", sizes=[32, 69],
                               preprocess_cfg=config["preprocess"], cosmo_cfg=config["cosmology"], out_path=out)
    reasons = dict(zip(rejects["objid"], rejects["reason"]))
    assert "image file missing" in reasons[3]
    assert "unreadable FITS" in reasons[4]
    assert "no celestial WCS" in reasons[5]
    assert "missing (NaN, infinite" in reasons[6]
    assert "missing (NaN, infinite or zero)" in reasons[7]   # a frame of exact zeros holds no data
    assert "covers only" in reasons[8]
    assert "no signal" in reasons[9]
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9}
    with h5py.File(out) as fh:
        assert list(fh["objid"][()]) == [1, 2]
        assert fh["images/69"].shape == (2, 69, 69) and fh["images/32"].shape == (2, 32, 32)
        stars = read_table(fh, "stars")
        assert "replaced" in set(stars.loc[stars["objid"] == 2, "status"])
        feats = read_table(fh, "features")
        assert feats.loc[1, "stars_replaced"] == 1 and np.isfinite(feats.to_numpy()).all()
        assert len(read_table(fh, "rejects")) == 7
    assert not list(shard_with_bad_inputs.glob(".shard.h5.*"))  # no half-written temp file


def test_read_image_errors(tmp_path):
    with pytest.raises(ImageError, match="missing"):
        read_image(tmp_path / "nope.fits")


def test_real_sdss_cutouts_processed_or_rejected(real_dir, config, tmp_path):
    """Real r-band cut-outs (sky not subtracted, real stars): each processed or rejected, no crash."""
    from mlpipe.io.fits_image import read_image as read

    cfg = copy.deepcopy(config["preprocess"])
    cfg["stars"]["detect_without_catalogue"] = True
    settings = PreprocessSettings.from_config(cfg)
    files = sorted((real_dir / "sdss_cutouts").glob("*.fits"))
    assert len(files) == 21
    outcomes = {}
    no_stars = pd.DataFrame(columns=["ra", "dec", "psfMag_g"])
    for path in files:
        img = read(path)
        n_y, n_x = img.data.shape
        ra, dec = img.wcs.celestial.all_pix2world((n_x - 1) / 2, (n_y - 1) / 2, 0)
        gal = pd.Series({"ra": float(ra), "dec": float(dec), "d25_arcmin": min(n_x, n_y) * SCALE / 60 / 1.125})
        try:
            result = preprocess_galaxy(img, ra_deg=gal["ra"], dec_deg=gal["dec"], d25_arcmin=gal["d25_arcmin"],
                                       stars=no_stars, distance_cm=3e26, sizes=[69], settings=settings,
                                       rng=np.random.default_rng(0))
        except Rejected as err:
            outcomes[path.name] = str(err)
            continue
        assert result.features["sky"] > 0  # the sky was estimated (it is not subtracted in these files)
        assert result.images[69].shape == (69, 69) and np.isfinite(result.images[69]).all()
        outcomes[path.name] = "processed"
    assert sum(v == "processed" for v in outcomes.values()) >= 15, outcomes
    assert all(v == "processed" or len(v) > 10 for v in outcomes.values())


def test_galaxies_cut_from_a_shared_frame_through_the_image_index(tmp_path, config):
    """Frames plus positions: two galaxies in one frame, each cut out at its own WCS position; a
    galaxy the index does not list is rejected with that reason."""
    import h5py

    from mlpipe.io.image_index import read_image_index
    from mlpipe.io.validation import InputError

    rng = np.random.default_rng(8)
    frame = rng.normal(0, 0.025, (400, 300))
    size = 81
    frame[40:40 + size, 30:30 + size] += _galaxy(size)
    frame[250:250 + size, 180:180 + size] += 0.5 * _galaxy(size)
    wcs = tan_wcs(150.0, 2.0, (150.5, 200.5), SCALE)
    (tmp_path / "frames").mkdir()
    write_image(frame, wcs, tmp_path / "frames" / "frame-g-000094-1-0100.fits", {"BUNIT": "nanomaggy"})
    centres = wcs.all_pix2world([[30 + 40, 40 + 40], [180 + 40, 250 + 40]], 0)
    d25 = 60 * SCALE / 60 / 1.125
    big = 1237645017035724800
    shard = pd.DataFrame({"objid": [big + 1, big + 2, big + 3], "ra": [*centres[:, 0], 150.0],
                          "dec": [*centres[:, 1], 2.0], "z": 0.05, "d25_arcmin": d25, "pixel_kpc": 0.39})
    shard.to_csv(tmp_path / "shard.csv", index=False)
    (tmp_path / "index.csv").write_text(f"objid,file\n{big + 1},frame-g-000094-1-0100.fits\n"
                                        f"{big + 2},frame-g-000094-1-0100.fits\n")
    pd.DataFrame(columns=["ra", "dec", "psfMag_g"]).to_csv(tmp_path / "stars.csv", index=False)
    rejects, _ = process_shard(tmp_path / "shard.csv", images_dir=tmp_path / "frames", stars_csv=tmp_path / "stars.csv",
                               sizes=[32], preprocess_cfg=config["preprocess"], cosmo_cfg=config["cosmology"],
                               out_path=tmp_path / "out.h5", image_index=read_image_index(tmp_path / "index.csv"))
    assert dict(zip(rejects["objid"], rejects["reason"])) == {big + 3: "no entry in the image index"}
    with h5py.File(tmp_path / "out.h5") as fh:
        assert list(fh["objid"][()]) == [big + 1, big + 2]
        features = read_table(fh, "features")
        for image in fh["images/32"][()]:
            assert np.unravel_index(np.argmax(image), image.shape) in {(15, 15), (15, 16), (16, 15), (16, 16)}
    assert features.loc[0, "lum_sum"] == pytest.approx(2 * features.loc[1, "lum_sum"], rel=0.05)
    # an entry without a file name is an error naming its line, not an attempt to read the folder
    (tmp_path / "blank.csv").write_text(f"objid,file\n{big + 1},frame-g-000094-1-0100.fits\n{big + 2},\n")
    with pytest.raises(InputError, match=r"blank.csv: line 3, column 'file': no file name"):
        read_image_index(tmp_path / "blank.csv")
