"""Sample builder: cross-match, cuts, targets, error floor, split and shards, with every
rejection recorded."""

import numpy as np
import pandas as pd
import pytest
from conftest import equal_fractions

from mlpipe import gz2, physics
from mlpipe.catalog.crossmatch import match_nearest
from mlpipe.catalog.ml_target import mass_to_light
from mlpipe.catalog.sample import build_sample, write_sample
from mlpipe.catalog.split import shard_of, split_labels
from mlpipe.io.gswlc import COLUMNS, read_gswlc, write_gswlc
from mlpipe.io.gz2_catalog import write_gz2
from mlpipe.io.hyperleda import write_hyperleda
from mlpipe.io.photometry import write_photometry
from mlpipe.io.validation import InputError

CATALOG = {"seed": 1, "d25_min_arcmin": 0.4, "chi2_max": 5.0, "z_min": 0.0, "hyperleda_match_arcsec": 5.0,
           "gz2_match_arcsec": 3.6, "relative_error_floor": 0.05, "test_fraction": 0.1,
           "validation_fraction": 0.1, "n_shards": 3, "lum_g_column": None}
COSMO = {"H0": 70.0, "Om0": 0.3}


def test_match_nearest_radius_and_near_duplicates():
    ra = np.array([10.0, 10.0 + 1.0 / 3600, 20.0, 30.0])
    dec = np.zeros(4)
    other_ra = np.array([10.0 + 0.2 / 3600, 30.0 + 10.0 / 3600])
    m = match_nearest(ra, dec, other_ra, np.zeros(2), radius_arcsec=5.0)
    assert list(m["status"]) == ["matched", "taken", "none", "none"]
    assert m.loc[0, "index"] == 0 and m.loc[0, "sep_arcsec"] == pytest.approx(0.2, abs=1e-3)
    assert m.loc[3, "index"] == -1  # 10 arcsec away: outside the radius


def test_error_floor_and_propagation():
    y, dy = mass_to_light(logmstar_dex=np.array([10.0, 10.0]), logmstar_err_dex=np.array([0.001, 0.1]),
                          lum_lsun=np.array([1e10, 1e10]), lum_err_mag=np.array([0.0, 0.0]), relative_error_floor=0.05)
    assert y == pytest.approx([1.0, 1.0])
    assert dy[0] == pytest.approx(0.05)  # floored at 5 %
    assert dy[1] == pytest.approx(np.log(10) * 0.1)


def test_split_sizes_and_determinism():
    ids = 1237645000000000000 + np.arange(1000) * 7919
    labels = split_labels(ids, test_fraction=0.1, validation_fraction=0.1, seed=3)
    counts = pd.Series(labels).value_counts()
    assert counts["test"] == 100 and counts["validation"] == 90 and counts["train"] == 810
    assert np.array_equal(labels, split_labels(ids, test_fraction=0.1, validation_fraction=0.1, seed=3))
    assert not np.array_equal(labels, split_labels(ids, test_fraction=0.1, validation_fraction=0.1, seed=4))
    order = np.random.default_rng(0).permutation(len(ids))   # the rows in another order: same split per galaxy
    assert np.array_equal(split_labels(ids[order], test_fraction=0.1, validation_fraction=0.1, seed=3), labels[order])


def test_shards_depend_only_on_the_id():
    ids = np.arange(1237645000000000000, 1237645000000000500)
    shards = shard_of(ids, n_shards=4)
    assert set(shards) == {0, 1, 2, 3}
    assert np.array_equal(shard_of(ids[100:200], n_shards=4), shards[100:200])


def _write_catalogues(tmp_path, n=12):
    """Galaxies i = 0..n-1 on a line in RA; specific ones are made to fail one check each."""
    ids = 1237645000000000000 + np.arange(n)
    ra = 150.0 + np.arange(n) * 0.01
    dec = np.full(n, 2.0)
    gswlc = pd.DataFrame({c: np.zeros(n) for c in COLUMNS})
    gswlc["objid"], gswlc["ra"], gswlc["dec"] = ids, ra, dec
    gswlc["z"], gswlc["redchisq"], gswlc["logmstar"], gswlc["logmstarerr"] = 0.05, 1.0, 10.5, 0.08
    gswlc.loc[1, "redchisq"] = 7.0          # fails chi2 < 5
    gswlc.loc[2, "flag_sed"] = 2            # flagged fit
    gswlc.loc[3, "logmstarerr"] = 0.0       # zero error
    gswlc.loc[4, "z"] = np.nan              # missing redshift (-99)
    gswlc.loc[8, "z"] = -0.002              # redshift <= 0
    gswlc.loc[9, "logmstarerr"] = -0.1      # negative error
    write_gswlc(gswlc, tmp_path / "gswlc.dat")

    phot = pd.DataFrame({"objid": ids})
    for b in "ugriz":
        phot[f"modelMag_{b}"], phot[f"modelMagErr_{b}"], phot[f"extinction_{b}"] = 16.0, 0.02, 0.1
    write_photometry(phot.drop(index=5), tmp_path / "phot.csv")   # 5: no photometry

    leda = pd.DataFrame({"pgc": np.arange(n), "leda_name": [f"PGC{i}" for i in range(n)],
                         "leda_ra": ra + 1.0 / 3600, "leda_dec": dec, "logd25": 1.0})
    leda.loc[6, "logd25"] = np.log10(3.0)   # D25 = 0.3 arcmin: fails the cut
    leda.loc[7, "leda_ra"] += 20.0 / 3600   # too far for a match
    write_hyperleda(leda, tmp_path / "leda.csv")

    has_gz2 = np.arange(n) % 2 == 0
    fractions = np.tile(equal_fractions(), (has_gz2.sum(), 1))
    write_gz2(ids[has_gz2], ra[has_gz2] + 0.5 / 3600, dec[has_gz2], fractions,
              np.full(has_gz2.sum(), 40), tmp_path / "gz2.csv")
    return {"gswlc": str(tmp_path / "gswlc.dat"), "photometry": str(tmp_path / "phot.csv"),
            "hyperleda": str(tmp_path / "leda.csv"), "gz2": str(tmp_path / "gz2.csv")}, ids


def test_build_sample_records_every_rejection(tmp_path):
    paths, ids = _write_catalogues(tmp_path)
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    reasons = dict(zip(rejected["objid"], rejected["reason"]))
    assert "reduced chi2 = 7" in reasons[ids[1]]
    assert "flag_sed = 2" in reasons[ids[2]]
    assert "mass error <= 0" in reasons[ids[3]]
    assert "missing redshift" in reasons[ids[4]]
    assert "redshift <= 0: z = -0.002" in reasons[ids[8]]
    assert "mass error <= 0: -0.1 dex" in reasons[ids[9]]
    assert "no photometry row for this objid" in reasons[ids[5]]
    assert "D25 = 0.3 arcmin" in reasons[ids[6]]
    assert "no HyperLeda counterpart" in reasons[ids[7]]
    assert set(sample["objid"]) | set(rejected["objid"]) == set(ids)
    assert not set(sample["objid"]) & set(rejected["objid"])
    # the chi2 cut keeps each dropped galaxy's chi2 and M/L (the paper's Fig. 2 shows them apart)
    chi2 = rejected.set_index("objid").loc[ids[1]]
    assert chi2["redchisq"] == 7 and chi2["ml"] > 0 and chi2["ml_err"] > 0
    assert rejected.loc[~rejected["stage"].isin(["cut_chi2", "ml_range"]), "ml"].isna().all()


def test_a_mass_to_light_no_stellar_population_has_is_rejected_with_its_value(tmp_path):
    """M*/L_g = 0.014 (a mass and a luminosity of different objects) is rejected, not weighted
    ~40 times a typical galaxy by its small error; 0.05 and 30 stay."""
    paths, ids = _write_catalogues(tmp_path)
    phot = pd.read_csv(paths["photometry"])
    phot["logLg_bayes"], phot["logLg_bayes_err"] = 10.2, 0.03
    for row, ml in ((0, 0.014), (1, 60.0), (10, 0.05), (11, 30.0)):
        phot.loc[phot["objid"] == ids[row], "logLg_bayes"] = 10.5 - np.log10(ml)   # logmstar 10.5
    phot.to_csv(paths["photometry"], index=False)
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG | {"lum_g_column": "logLg_bayes", "chi2_max": 100.0},
                                    cosmo_cfg=COSMO)
    ml_range = rejected[rejected["stage"] == "ml_range"].set_index("objid")
    assert sorted(ml_range.index) == [ids[0], ids[1]]
    assert "M*/L_g = 0.014 is outside [0.03, 50]" in ml_range.loc[ids[0], "reason"]
    assert "M*/L_g = 60 is outside [0.03, 50]" in ml_range.loc[ids[1], "reason"]
    assert ml_range.loc[ids[0], "ml"] == pytest.approx(0.014)
    assert sample.set_index("objid").loc[[ids[10], ids[11]], "ml"].to_numpy() == pytest.approx([0.05, 30.0])
    assert set(sample["objid"]) | set(rejected["objid"]) == set(ids)


def test_user_luminosity_column_replaces_modelmag(tmp_path):
    paths, ids = _write_catalogues(tmp_path)
    phot = pd.read_csv(paths["photometry"])
    phot["logLg_bayes"] = 10.2
    phot["logLg_bayes_err"] = 0.03
    phot.loc[0, "logLg_bayes"] = -9999.0         # missing: rejected with the column named
    phot.to_csv(paths["photometry"], index=False)
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG | {"lum_g_column": "logLg_bayes"}, cosmo_cfg=COSMO)
    assert sample["lum_g"].to_numpy() == pytest.approx(10**10.2)
    assert sample["ml"].to_numpy() == pytest.approx(10**10.5 / 10**10.2)
    sigma = np.hypot(0.08, 0.03) * np.log(10.0)   # mass and luminosity errors in quadrature
    assert sample["ml_err"].to_numpy() == pytest.approx(sample["ml"].to_numpy() * sigma)
    reasons = dict(zip(rejected["objid"], rejected["reason"]))
    assert "logLg_bayes" in reasons[ids[0]]
    phot.drop(columns="logLg_bayes_err").to_csv(paths["photometry"], index=False)
    with pytest.raises(InputError, match="missing column.*logLg_bayes_err"):
        build_sample(paths, catalog_cfg=CATALOG | {"lum_g_column": "logLg_bayes"}, cosmo_cfg=COSMO)


def test_build_sample_targets_gz2_flags_and_files(tmp_path):
    paths, ids = _write_catalogues(tmp_path)
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    cosmo = physics.cosmology(70.0, 0.3)
    lum = physics.luminosity_from_mag(15.9, 0.05, cosmo)
    assert sample["ml"].to_numpy() == pytest.approx(10**10.5 / lum)
    assert (sample["ml_err"] >= 0.05 * sample["ml"] - 1e-12).all()
    assert list(sample["gz2_match"]) == [i % 2 == 0 for i in range(12) if ids[i] in set(sample["objid"])]
    unmatched = sample[~sample["gz2_match"]]
    assert unmatched[[f"gz2_{n}" for n in gz2.answer_names()]].isna().all().all()
    matched = sample[sample["gz2_match"]]
    assert matched["gz2_q01_smooth_or_features_smooth"].to_numpy() == pytest.approx(1 / 3)
    write_sample(sample, rejected, n_shards=3, outdir=tmp_path / "out")
    shards = [pd.read_csv(tmp_path / "out" / "shards" / f"shard-{k}.csv") for k in range(3)]
    assert sum(len(s) for s in shards) == len(sample)
    back = pd.read_csv(tmp_path / "out" / "sample.csv")
    assert back["objid"].dtype == np.int64 and set(back["objid"]) == set(sample["objid"])
    # written again with fewer shards: no shard of the earlier run is left to hold its galaxies twice
    write_sample(sample, rejected, n_shards=1, outdir=tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "shards").iterdir()) == ["shard-0.csv"]


def test_build_sample_on_mock_survey_counts(small_survey):
    paths = {k: str(small_survey / f) for k, f in [("gswlc", "GSWLC-X2.dat"),
             ("hyperleda", "hyperleda.csv"), ("gz2", "gz2_hart16.csv"), ("photometry", "sdss_photometry.csv")]}
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    assert len(sample) + len(rejected) == 4000
    assert (sample["d25_arcmin"] > 0.4).all() and (sample["redchisq"] < 5).all()
    assert 0.7 < sample["gz2_match"].mean() < 0.9
    counts = sample["split"].value_counts()
    assert counts["test"] == round(0.1 * len(sample))


def test_build_sample_on_real_gswlc_and_hyperleda(real_dir, tmp_path, caplog):
    """The genuine GSWLC-2 rows cross-match the HyperLeda export and pass the sample builder."""
    from mlpipe.io.gswlc import read_gswlc

    gswlc = read_gswlc(real_dir / "gswlc" / "nsa_gswlc.virgo.fits").drop(columns="line")
    write_gswlc(gswlc, tmp_path / "GSWLC-X2.dat")
    rng = np.random.default_rng(0)
    phot = pd.DataFrame({"objid": gswlc.loc[gswlc["objid"] > 0, "objid"]})
    for b in "ugriz":  # no real photometry ships with these rows: plausible stand-in magnitudes
        phot[f"modelMag_{b}"] = rng.uniform(13, 17, len(phot))
        phot[f"modelMagErr_{b}"], phot[f"extinction_{b}"] = 0.02, 0.05
    write_photometry(phot, tmp_path / "phot.csv")
    write_gz2(np.array([1]), np.array([0.0]), np.array([0.0]), equal_fractions()[None, :], np.array([30]),
              tmp_path / "gz2.csv")
    paths = {"gswlc": str(tmp_path / "GSWLC-X2.dat"), "photometry": str(tmp_path / "phot.csv"),
             "hyperleda": str(real_dir / "hyperleda" / "hyperleda-finn-24Feb20.csv"),
             "gz2": str(tmp_path / "gz2.csv")}
    with caplog.at_level("INFO"):
        sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    assert len(sample) > 50
    assert len(sample) + len(rejected) == len(gswlc)
    assert "hyperleda_match" in caplog.text and "cut_d25" in caplog.text


@pytest.mark.parametrize("column, value, stage, reason", [
    ("objid", -5, "gswlc_id", "objid <= 0"),
    ("logmstar", np.inf, "gswlc_range", "logmstar = inf is not finite"),
    ("logmstar", -5.0, "gswlc_range", "logmstar = -5 is outside [5, 13]"),
    ("logmstarerr", np.inf, "gswlc_range", "logmstarerr = inf is not finite"),
    ("z", np.inf, "gswlc_range", "z = inf is not finite"),
    ("z", 30.0, "gswlc_range", "z = 30 is outside [0, 1.5]"),
])
def test_impossible_gswlc_values_are_rejections_with_reasons(tmp_path, column, value, stage, reason):
    paths, ids = _write_catalogues(tmp_path)
    lines = open(paths["gswlc"]).read().splitlines()
    fields = lines[0].split()
    fields[COLUMNS.index(column)] = str(int(value)) if column == "objid" else str(value)
    lines[0] = " ".join(fields)
    open(paths["gswlc"], "w").write("\n".join(lines) + "\n")
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    objid = int(value) if column == "objid" else ids[0]
    row = rejected[rejected["objid"] == objid]
    assert row["stage"].tolist() == [stage] and row["reason"].iloc[0].startswith(reason)
    assert len(sample) + len(rejected) == len(ids)           # every GSWLC row is in one of them


@pytest.mark.parametrize("column, value, reason", [
    ("modelMag_g", "99", "modelMag_g = 99 (missing-value marker)"),
    ("modelMag_i", "inf", "modelMag_i = inf is not finite"),
    ("modelMag_i", "-inf", "modelMag_i = -inf is not finite"),
    ("extinction_r", "nan", "extinction_r is missing"),
    ("logLg_sed", "inf", "logLg_sed = inf is not finite"),
    ("logLg_sed", "1e5", "logLg_sed = 100000 is outside"),
])
def test_unusable_photometry_is_a_rejection_with_reason(tmp_path, column, value, reason):
    paths, ids = _write_catalogues(tmp_path)
    phot = pd.read_csv(paths["photometry"], dtype=str)
    phot["logLg_sed"], phot["logLg_sed_err"] = "10.2", "0.03"
    phot.loc[0, column] = value
    phot.to_csv(paths["photometry"], index=False)
    sample, rejected = build_sample(paths, catalog_cfg=CATALOG | {"lum_g_column": "logLg_sed"}, cosmo_cfg=COSMO)
    assert dict(zip(rejected["objid"], rejected["reason"]))[ids[0]].startswith(reason)
    assert ids[0] not in set(sample["objid"])


def test_reordered_gswlc_rows_change_no_split(tmp_path):
    paths, ids = _write_catalogues(tmp_path, n=40)
    first, _ = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    lines = open(paths["gswlc"]).read().splitlines()
    open(paths["gswlc"], "w").write("\n".join(lines[::-1]) + "\n")
    second, _ = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
    pd.testing.assert_frame_equal(first[["objid", "split", "shard"]], second[["objid", "split", "shard"]])
    assert set(first["split"]) == {"train", "validation", "test"}


def test_build_sample_cli_names_the_file_and_exits_2_without_traceback(tmp_path, caplog):
    from mlpipe.cli import main

    paths, _ = _write_catalogues(tmp_path)
    open(paths["gswlc"], "wb").write(b"\x89PNG binary \xff\xfe\n")
    cfg = tmp_path / "cfg.json"
    import json

    cfg.write_text(json.dumps({"catalog": CATALOG, "cosmology": COSMO}))
    code = main(["build-sample", "--config-json", cfg.read_text(), *[f"--{k}={v}" for k, v in paths.items()],
                 "--outdir", str(tmp_path / "out")])
    assert code == 2 and "gswlc.dat: line 1: not UTF-8 text" in caplog.text and "Traceback" not in caplog.text


def test_two_counterparts_at_similar_separations_are_ambiguous():
    """A duplicated catalogue entry (the same position, another D25) or a close pair makes the match
    ambiguous in whichever order the rows come; a far second candidate does not."""
    ra, dec = np.array([10.0, 20.0]), np.zeros(2)
    other_ra = np.array([10.0 + 1.0 / 3600, 10.0 + 1.0 / 3600, 20.0 + 0.5 / 3600, 20.0 + 4.0 / 3600])
    for order in ([0, 1, 2, 3], [1, 0, 3, 2]):
        m = match_nearest(ra, dec, other_ra[order], np.zeros(4), radius_arcsec=5.0)
        assert list(m["status"]) == ["ambiguous", "matched"]
        assert m.loc[0, "index"] == -1 and m.loc[0, "second_sep_arcsec"] == pytest.approx(1.0, abs=1e-3)
        assert other_ra[order][m.loc[1, "index"]] == other_ra[2]


def test_a_duplicated_hyperleda_entry_rejects_its_galaxy_with_both_names(tmp_path):
    paths, ids = _write_catalogues(tmp_path)
    leda = pd.read_csv(paths["hyperleda"])
    twin = leda.iloc[[0]].assign(pgc=99, objname="PGC99", logd25=2.5)
    for rows in (pd.concat([twin, leda]), pd.concat([leda, twin])):   # either order
        rows.to_csv(paths["hyperleda"], index=False)
        sample, rejected = build_sample(paths, catalog_cfg=CATALOG, cosmo_cfg=COSMO)
        reason = rejected.set_index("objid").loc[ids[0]]
        assert reason["stage"] == "hyperleda_match" and "ambiguous HyperLeda counterpart" in reason["reason"]
        assert "PGC0" in reason["reason"] and "PGC99" in reason["reason"]
        assert ids[0] not in set(sample["objid"]) and len(sample) + len(rejected) == len(ids)


def test_no_galaxy_left_is_an_error_that_says_why(tmp_path):
    paths, ids = _write_catalogues(tmp_path)
    phot = pd.read_csv(paths["photometry"], dtype=str)
    phot["logLg_sed"], phot["logLg_sed_err"] = "4.9e9", "0.03"   # a linear luminosity in the log column
    phot.to_csv(paths["photometry"], index=False)
    with pytest.raises(InputError, match=r"no galaxy of the 12 GSWLC rows .* passed: \d+ at luminosity "
                                         r"\(e\.g\. objid \d+: logLg_sed = 4\.9e\+09 is outside"):
        build_sample(paths, catalog_cfg=CATALOG | {"lum_g_column": "logLg_sed"}, cosmo_cfg=COSMO)


def test_a_blank_flag_sed_is_a_rejection_and_a_null_in_an_unused_column_is_not_an_error(tmp_path, caplog):
    from astropy.table import Table

    paths, ids = _write_catalogues(tmp_path)
    table = Table.from_pandas(read_gswlc(paths["gswlc"]).drop(columns="line"))
    for name in ("flag_sed", "flag_wise", "glxid"):
        table[name] = np.ma.MaskedArray(table[name], mask=np.arange(len(table)) == (0 if name == "flag_sed" else 10))
    table["plate"] = table["plate"] + 0.5          # a column mlpipe does not use, not whole numbers
    table.write(tmp_path / "gswlc.vot", format="votable")
    with caplog.at_level("WARNING"):
        sample, rejected = build_sample(paths | {"gswlc": str(tmp_path / "gswlc.vot")}, catalog_cfg=CATALOG,
                                        cosmo_cfg=COSMO)
    reasons = rejected.set_index("objid")["reason"]
    assert reasons[ids[0]].startswith("no flag_sed (-99, blank or NULL)")
    assert ids[10] in set(sample["objid"]) and "plate" not in sample.columns
    assert "column 'plate'" in caplog.text and "column left out" in caplog.text
    assert sample.set_index("objid").loc[ids[10], "glxid"] == -99


def test_counterparts_closer_than_positions_can_tell_apart_are_ambiguous():
    """Two entries at exactly the galaxy's position (0" and 0"), or both within 1": ambiguous in
    either row order; one at 0.5" beside one at 4" stays a match."""
    for other_ra in ([150.0, 150.0], [150.0, 150.0 + 0.6 / 3600], [150.0 + 0.5 / 3600, 150.0 + 4.0 / 3600]):
        for order in ([0, 1], [1, 0]):
            m = match_nearest(np.array([150.0]), np.array([2.0]), np.asarray(other_ra)[order],
                              np.full(2, 2.0), radius_arcsec=5.0)
            expected = "matched" if other_ra[1] - other_ra[0] > 3.0 / 3600 else "ambiguous"
            assert m.loc[0, "status"] == expected, (other_ra, order)
