"""The mock survey's documented relations hold in its own output, and it is deterministic."""

import filecmp

import numpy as np
import pandas as pd
import pytest

from mlpipe import physics
from mlpipe.catalog.ml_target import band_luminosity
from mlpipe.io.fits_image import read_image
from mlpipe.io.gswlc import read_gswlc
from mlpipe.io.photometry import read_photometry
from mlpipe.mock.survey import render_shard, write_mock_catalogues


@pytest.fixture(scope="module")
def observed(small_survey):
    """Catalogue M/L and g-i of every mock galaxy, joined to its hidden truth."""
    gswlc = read_gswlc(small_survey / "GSWLC-X2.dat")
    phot = read_photometry(small_survey / "sdss_photometry.csv")
    truth = pd.read_csv(small_survey / "truth.csv")
    df = gswlc.merge(phot, on="objid").merge(truth[["objid", "type", "inclination_deg"]], on="objid")
    cosmo = physics.cosmology(70.0, 0.3)
    df["log_ml"] = df["logmstar"] - np.log10(band_luminosity(df, z=df["z"].to_numpy(), cosmo=cosmo))
    df["g_i"] = df["mag_g"] - df["mag_i"]
    return df


def test_ellipticals_have_higher_ml_than_disks(observed):
    med = observed.groupby("type")["log_ml"].median()
    assert 10 ** med["elliptical"] > 3.0 and 0.7 < 10 ** med["disk"] < 2.5
    assert med["elliptical"] > med["disk"] + 0.3 > med["irregular"] + 0.3


def test_colour_predictor_underpredicts_edge_on_disks(observed):
    disks = observed[observed["type"] == "disk"]
    edge_on = disks["inclination_deg"] > 75
    slope, intercept = np.polyfit(disks.loc[~edge_on, "g_i"], disks.loc[~edge_on, "log_ml"], 1)
    residual = disks["log_ml"] - (intercept + slope * disks["g_i"])
    assert edge_on.sum() > 30
    assert residual[edge_on].median() > residual[~edge_on].median() + 0.05


def test_catalogues_are_deterministic(tmp_path, config, small_survey):
    config["mock"]["n_galaxies"] = 4000
    write_mock_catalogues(config["mock"], config["cosmology"], tmp_path)
    for name in ("GSWLC-X2.dat", "hyperleda.csv", "gz2_hart16.csv", "stars.csv", "sdss_photometry.csv"):
        assert filecmp.cmp(tmp_path / name, small_survey / name, shallow=False), name


def test_rendered_cutouts_follow_the_catalogue(tmp_path, config, small_survey):
    truth = pd.read_csv(small_survey / "truth.csv")
    chosen = truth[truth["d25_arcmin"] > 0.5].head(6)
    chosen[["objid"]].to_csv(tmp_path / "shard.csv", index=False)
    render_shard(tmp_path / "shard.csv", small_survey / "truth.csv", small_survey / "stars.csv",
                 config["mock"], tmp_path / "img")
    for _, gal in chosen.iterrows():
        image = read_image(tmp_path / "img" / f"{gal['objid']}.fits")
        x, y = image.wcs.all_world2pix(gal["ra"], gal["dec"], 0)
        assert image.header["BUNIT"] == "nanomaggy"
        yy, xx = np.mgrid[: image.data.shape[0], : image.data.shape[1]]
        near = np.hypot(xx - x, yy - y) < 0.5 * gal["d25_arcmin"] * 60 / 0.396  # inside the D25 isophote
        expected = physics.nanomaggies(gal["g_obs"])
        assert 0.4 * expected < image.data[near].sum() < 1.05 * expected
        core = np.hypot(xx - x, yy - y) < 0.25 * gal["d25_arcmin"] * 60 / 0.396
        peak = np.unravel_index(np.argmax(np.where(core, image.data, -np.inf)), image.data.shape)
        assert np.hypot(peak[1] - x, peak[0] - y) < 6  # galaxy at its WCS position
    # re-rendering gives the same pixels
    render_shard(tmp_path / "shard.csv", small_survey / "truth.csv", small_survey / "stars.csv",
                 config["mock"], tmp_path / "img2")
    first = f"{chosen['objid'].iloc[0]}.fits"
    assert np.array_equal(read_image(tmp_path / "img" / first).data, read_image(tmp_path / "img2" / first).data)


def test_ml_rises_with_mass_at_fixed_colour(observed):
    """The part of M/L that g-i does not carry: luminosity-based predictors can use it."""
    disks = observed[(observed["type"] == "disk") & (observed["inclination_deg"] < 60)]
    slope, intercept = np.polyfit(disks["g_i"], disks["log_ml"], 1)
    residual = disks["log_ml"] - (intercept + slope * disks["g_i"])
    mass_slope = np.polyfit(disks["logmstar"], residual, 1)[0]
    assert mass_slope > 0.05


def test_morphology_moves_ml_off_the_colour_relation(small_survey, default_config):
    """At fixed rest-frame colour, bulge + disc composites and edge-on discs lie above the
    single-population colour-M/L relation, bursty irregulars below it, each as configured."""
    ml = default_config["mock"]["mass_to_light"]
    truth = pd.read_csv(small_survey / "truth.csv")
    hidden = ml["mass_slope_at_fixed_colour"] * (truth["log_mass"] - 10.5)
    residual = truth["log_ml"] - hidden - (ml["colour_zero_point"] + ml["colour_slope"] * truth["rest_g_minus_i"])
    disk, irr = truth["type"] == "disk", truth["type"] == "irregular"
    face_on = truth["inclination_deg"] < 45
    pure_disc = disk & face_on & (truth["bulge_fraction"] < 0.05)
    composite = disk & face_on & truth["bulge_fraction"].between(0.3, 0.6)
    edge_on = disk & (truth["inclination_deg"] > 75) & (truth["bulge_fraction"] < 0.05)
    assert min(pure_disc.sum(), composite.sum(), edge_on.sum()) > 30
    assert residual[composite].median() > residual[pure_disc].median() + 0.04
    assert residual[edge_on].median() > residual[pure_disc].median() + 0.1
    bursty, mild = irr & (truth["burst_fraction"] > 0.6), irr & (truth["burst_fraction"] < 0.35)
    assert min(bursty.sum(), mild.sum()) > 30
    assert residual[bursty].median() < residual[mild].median() - 0.03 < residual[pure_disc].median() - 0.03
    # the images and the votes see the burst: more knots for a brighter burst
    assert truth.loc[bursty, "n_clumps"].mean() > truth.loc[mild, "n_clumps"].mean() + 2
