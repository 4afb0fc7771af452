"""Catalogues in any table format, found from their content, with the user's column names; every
bad value caught where it enters: an error naming file, line (or row) and column, or a galaxy
rejected with its reason."""

import gzip

import numpy as np
import pandas as pd
import pytest
from astropy.table import Column, Table
from conftest import equal_fractions

from mlpipe.io.gswlc import COLUMNS, read_gswlc, write_gswlc
from mlpipe.io.gz2_catalog import read_gz2, write_gz2
from mlpipe.io.hyperleda import read_hyperleda
from mlpipe.io.photometry import read_photometry
from mlpipe.io.stars import read_stars
from mlpipe.io.table import detect_format, read_table
from mlpipe.io.validation import InputError

IDS = np.array([1237645026242113489, 1237645026242113490, 1237645026242113491])


def _gswlc_frame(n=3):
    df = pd.DataFrame({c: np.zeros(n) for c in COLUMNS})
    df["objid"], df["ra"], df["dec"] = IDS[:n], 150.0 + np.arange(n) * 0.01, 2.0
    df["z"], df["redchisq"], df["logmstar"], df["logmstarerr"] = 0.05, 1.0, 10.5, 0.08
    return df


@pytest.mark.parametrize("fmt", ["csv", "fits", "ecsv", "votable", "whitespace"])
def test_every_format_reads_to_the_same_table_found_from_content(tmp_path, fmt):
    df = _gswlc_frame()
    path = tmp_path / "gswlc.data"          # the extension says nothing: the content does
    if fmt == "whitespace":
        write_gswlc(df, path)
    elif fmt == "csv":
        df.to_csv(path, index=False)
    else:
        Table.from_pandas(df).write(path, format={"fits": "fits", "ecsv": "ascii.ecsv", "votable": "votable"}[fmt])
    assert detect_format(path) == fmt
    out = read_gswlc(path)
    assert out["objid"].dtype == np.int64 and out["objid"].tolist() == IDS.tolist()   # 19 digits, exact
    assert out["z"].tolist() == pytest.approx([0.05] * 3)


def test_fits_given_where_a_csv_was_expected_reads_correctly(tmp_path):
    Table({"objid": IDS, "ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0], "psfMag_g": [18.0, 19.0, 20.0]}).write(
        tmp_path / "stars.csv", format="fits")
    assert read_stars(tmp_path / "stars.csv")["psfMag_g"].tolist() == [18.0, 19.0, 20.0]


@pytest.mark.parametrize("value", ["-999", "-3.5", "120"])
def test_a_star_magnitude_no_star_has_is_an_error_naming_its_line(tmp_path, value):
    """Missing-value markers (99, -9999, blank) are no magnitude; another value outside the range
    a star's magnitude can have (Sirius: -1.5) is an error, not a star brighter than any."""
    (tmp_path / "stars.csv").write_text(f"ra,dec,psfMag_g\n10.0,2.0,18.0\n10.1,2.0,{value}\n10.2,2.0,-9999\n")
    with pytest.raises(InputError, match=rf"stars.csv.*line 3.*psfMag_g.*{value}.* is outside \[-2, 35\]"):
        read_stars(tmp_path / "stars.csv")


def test_column_map_and_case_insensitive_fits_names(tmp_path):
    df = _gswlc_frame()
    table = Table.from_pandas(df.rename(columns={"objid": "OBJID_GSWLC", "z": "Z_1", "dec": "DECL"}))
    table.rename_columns([c for c in table.colnames if c not in ("OBJID_GSWLC", "Z_1", "DECL")],
                         [c.upper() for c in table.colnames if c not in ("OBJID_GSWLC", "Z_1", "DECL")])
    table.write(tmp_path / "g.fits")
    with pytest.raises(InputError, match=r"missing column\(s\) objid, z; map your names with inputs.gswlc.columns"):
        read_gswlc(tmp_path / "g.fits")
    out = read_gswlc(tmp_path / "g.fits", {"objid": "OBJID_GSWLC", "z": "Z_1"})
    assert out["objid"].tolist() == IDS.tolist() and out["dec"].tolist() == [2.0] * 3


def test_float_looking_or_float64_ids_are_errors_naming_line_and_column(tmp_path):
    df = _gswlc_frame()
    write_gswlc(df, tmp_path / "g.dat")
    lines = (tmp_path / "g.dat").read_text().splitlines()
    lines[1] = lines[1].replace(str(IDS[1]), f"{IDS[1]}.0", 1)
    (tmp_path / "g.dat").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"g.dat: line 2, column 'objid': not an integer id: '1237645026242113490.0'"):
        read_gswlc(tmp_path / "g.dat")
    Table.from_pandas(df.astype({"objid": float})).write(tmp_path / "g.fits")
    with pytest.raises(InputError, match="g.fits: column 'objid' is stored as float64"):
        read_gswlc(tmp_path / "g.fits")


@pytest.mark.parametrize("column, value, message", [
    ("flag_sed", "0.5", "line 2, column 'flag_sed': 0.5 is not an integer flag"),
    ("flag_sed", "inf", "line 2, column 'flag_sed': inf is not an integer flag"),
    ("ra", "-99", "line 2, column 'ra': position missing"),
    ("dec", "95", "line 2, column 'dec': position 95.0 is outside"),
    ("z", "abc", "line 2, column 'z': not a number: 'abc'"),
])
def test_gswlc_malformed_values_stop_naming_line_and_column(tmp_path, column, value, message):
    df = _gswlc_frame()
    write_gswlc(df, tmp_path / "g.dat")
    lines = [line.split() for line in (tmp_path / "g.dat").read_text().splitlines()]
    lines[1][COLUMNS.index(column)] = value
    (tmp_path / "g.dat").write_text("\n".join(" ".join(f) for f in lines) + "\n")
    with pytest.raises(InputError, match=message):
        read_gswlc(tmp_path / "g.dat")


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\n\n", "empty file"),
    (b"# only a comment\n", "no data rows"),
    (gzip.compress(b"1 2 3\n"), "gzip-compressed"),
    (b"1237645026242113489 caf\xe9 1\n", "line 1: not UTF-8 text"),
    (b"SIMPLE  =                    T / truncated FITS", "not a readable FITS table"),
])
def test_unreadable_files_are_clear_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "GSWLC-X2.dat"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        read_gswlc(path)
    assert "GSWLC-X2.dat" in str(err.value)


def test_truncated_and_non_fits_fits_files_are_errors(tmp_path):
    Table.from_pandas(_gswlc_frame()).write(tmp_path / "g.fits")
    data = (tmp_path / "g.fits").read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) - 3000])
    with pytest.raises(InputError, match="cut.fits: not a readable FITS table"):
        read_gswlc(tmp_path / "cut.fits")
    (tmp_path / "text.fits").write_text("objid,ra\n1,2\n")          # not FITS: read as what it is
    with pytest.raises(InputError, match=r"text.fits: missing column\(s\) dec, z"):
        read_gswlc(tmp_path / "text.fits")


@pytest.mark.parametrize("reader, header, row", [
    (read_hyperleda, "objname,al2000,de2000,logd25", "PGC2,10.1,5.0"),              # missing last field
    (read_photometry, "objid," + ",".join(f"{k}_{b}" for k in ("modelMag", "modelMagErr", "extinction")
                                          for b in "ugriz"), "7," + ",".join(["17.0"] * 14)),
    (read_stars, "ra,dec,psfMag_g", "10.0,2.0"),
])
def test_truncated_rows_are_column_count_errors(tmp_path, reader, header, row):
    good = {"objname": "PGC1,10.0,5.0,1.0", "objid": "6," + ",".join(["17.0"] * 15),
            "ra": "10.0,1.0,18.0"}[header.split(",")[0]]
    path = tmp_path / "t.csv"
    path.write_text(f"{header}\n{good}\n{row}")                      # the file's last bytes cut off
    with pytest.raises(InputError, match=r"t.csv: line 3: expected \d+ comma-separated fields, found \d+ "
                                         r"\(a truncated row\?\)"):
        reader(path)


@pytest.mark.parametrize("reader, text", [
    (read_hyperleda, "objname,al2000,de2000,logd25\n"),
    (read_photometry, "objid,modelMag_g\n"),
    (read_gz2, "dr7objid,ra,dec\n"),
    (read_stars, ""),
])
def test_empty_or_header_only_catalogues_are_clear_errors(tmp_path, reader, text):
    path = tmp_path / "cat.csv"
    path.write_text(text)
    with pytest.raises(InputError, match="cat.csv: (empty file|a header but no data rows)"):
        reader(path)


def test_header_only_star_list_is_an_empty_list(tmp_path):
    (tmp_path / "stars.csv").write_text("ra,dec,psfMag_g\n")
    assert read_stars(tmp_path / "stars.csv").empty


def _gz2_file(tmp_path, fractions, ids=(1, 2)):
    write_gz2(np.array(ids), np.array([10.0, 10.1]), np.array([1.0, 1.0]), fractions, np.array([30, 30]),
              tmp_path / "gz2.csv")
    return tmp_path / "gz2.csv"


@pytest.mark.parametrize("row, message", [
    (np.zeros(37), r"line 3, column 't01_smooth_or_features_a01_smooth_weighted_fraction': the fractions of "
                   r"question 1 \(smooth_or_features\) sum to 0"),
    (np.ones(37), "question 1 .* sum to 3"),
])
def test_gz2_rows_whose_answers_do_not_sum_to_one_stop(tmp_path, row, message):
    path = _gz2_file(tmp_path, np.vstack([equal_fractions(), row]))
    with pytest.raises(InputError, match=message):
        read_gz2(path)


def test_gz2_duplicate_ids_stop(tmp_path):
    path = _gz2_file(tmp_path, np.vstack([equal_fractions()] * 2), ids=(5, 5))
    with pytest.raises(InputError, match="line 3, column 'dr7objid': duplicate id 5"):
        read_gz2(path)


def _phot_csv(path, values):
    cols = ["objid"] + [f"{k}_{b}" for k in ("modelMag", "modelMagErr", "extinction") for b in "ugriz"]
    rows = []
    for i, override in enumerate(values):
        row = {c: 17.0 if c.startswith("modelMag_") else 0.05 for c in cols[1:]} | override
        rows.append({"objid": IDS[i], **row})
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


@pytest.mark.parametrize("value, reason", [
    ("99", "modelMag_i = 99 (missing-value marker)"),
    ("-9999", "modelMag_i = -9999 (missing-value marker)"),
    ("inf", "modelMag_i = inf is not finite"),
    ("-inf", "modelMag_i = -inf is not finite"),
    ("", "modelMag_i is missing"),
    ("45", "modelMag_i = 45 is outside"),
])
def test_unusable_magnitudes_give_the_galaxy_a_reason(tmp_path, value, reason):
    _phot_csv(tmp_path / "p.csv", [{}, {}])
    text = (tmp_path / "p.csv").read_text().splitlines()
    fields = text[2].split(",")
    fields[1 + 3] = value                    # modelMag_i of the second galaxy
    text[2] = ",".join(fields)
    (tmp_path / "p.csv").write_text("\n".join(text) + "\n")
    phot = read_photometry(tmp_path / "p.csv")
    assert phot["phot_problem"].tolist()[0] == ""
    assert phot["phot_problem"].tolist()[1].startswith(reason)


def test_only_the_bands_read_are_required(tmp_path):
    pd.DataFrame({"objid": IDS[:1], "modelMag_g": [17.0], "modelMagErr_g": [0.02], "extinction_g": [0.1],
                  "modelMag_i": [16.0], "modelMagErr_i": [0.02], "extinction_i": [0.05]}).to_csv(tmp_path / "p.csv", index=False)
    phot = read_photometry(tmp_path / "p.csv", {"bands": "gi"})
    assert phot["mag_g"].tolist() == pytest.approx([16.9]) and phot["mag_i"].tolist() == pytest.approx([15.95])
    with pytest.raises(InputError, match="missing column modelMag_u for band u"):
        read_photometry(tmp_path / "p.csv")                  # the default reads ugriz


def test_cmodel_magnitudes_already_corrected(tmp_path):
    pd.DataFrame({"objid": IDS[:1], "cModelMag_g": [17.0], "cModelMagErr_g": [0.02]}).to_csv(tmp_path / "p.csv", index=False)
    phot = read_photometry(tmp_path / "p.csv", {"bands": "g", "magnitude": "cModelMag", "extinction_corrected": True})
    assert phot["mag_g"].tolist() == [17.0] and phot["mag_err_g"].tolist() == [0.02]


def test_fluxes_in_maggies_nanomaggies_and_array_columns_give_the_same_magnitudes(tmp_path):
    nmgy = np.array([[100.0, 250.0], [40.0, 80.0]])          # g, i for two galaxies
    ivar = 1.0 / (0.01 * nmgy) ** 2                          # 1 % errors
    ext = np.array([[0.1, 0.05], [0.2, 0.1]])
    expected_g = 22.5 - 2.5 * np.log10(nmgy[:, 0]) - ext[:, 0]
    # maggies, per-band columns with the user's names, extinction to subtract
    Table({"id": IDS[:2], "maggies_g": nmgy[:, 0] * 1e-9, "ivar_maggies_g": ivar[:, 0] * 1e18, "A_g": ext[:, 0],
           "maggies_i": nmgy[:, 1] * 1e-9, "ivar_maggies_i": ivar[:, 1] * 1e18, "A_i": ext[:, 1]}).write(tmp_path / "m.fits")
    settings = {"kind": "fluxes", "flux_unit": "maggies", "bands": "gi",
                "columns": {"objid": "id", "flux_g": "maggies_g", "flux_ivar_g": "ivar_maggies_g", "extinction_g": "A_g",
                            "flux_i": "maggies_i", "flux_ivar_i": "ivar_maggies_i", "extinction_i": "A_i"}}
    a = read_photometry(tmp_path / "m.fits", settings)
    # NSA-style array columns (FNugriz), nanomaggies by the file's own unit, extinction-corrected
    order = "FNugriz"
    arr = np.zeros((2, 7))
    arr_ivar = np.ones((2, 7))
    arr[:, order.index("g")] = nmgy[:, 0] * 10 ** (0.4 * ext[:, 0])
    arr[:, order.index("i")] = nmgy[:, 1] * 10 ** (0.4 * ext[:, 1])
    arr_ivar[:, order.index("g")], arr_ivar[:, order.index("i")] = ivar[:, 0], ivar[:, 1]
    from astropy.io import fits

    fits.BinTableHDU.from_columns([fits.Column("NSAID", "K", array=IDS[:2]),
                                   fits.Column("NMGY", "7D", unit="nanomaggies", array=arr),   # as NSA writes it
                                   fits.Column("NMGY_IVAR", "7D", array=arr_ivar)]).writeto(tmp_path / "nsa.fits")
    b = read_photometry(tmp_path / "nsa.fits", {"kind": "fluxes", "flux_unit": "maggies", "bands": "gi",
                                                "band_order": order, "extinction_corrected": True,
                                                "columns": {"objid": "NSAID", "flux": "NMGY", "flux_ivar": "NMGY_IVAR"}})
    assert a["mag_g"].to_numpy() == pytest.approx(expected_g)
    assert b["mag_g"].to_numpy() == pytest.approx(expected_g, abs=1e-6)   # the unit in the file wins over the hint
    assert a["mag_err_g"].to_numpy() == pytest.approx(2.5 / np.log(10) * 0.01)
    assert (a["phot_problem"] == "").all() and (b["phot_problem"] == "").all()


def test_non_positive_flux_is_a_reason(tmp_path):
    pd.DataFrame({"objid": IDS[:2], "flux_g": [10.0, -1.0], "flux_ivar_g": [1.0, 1.0]}).to_csv(tmp_path / "f.csv",
                                                                                                index=False)
    phot = read_photometry(tmp_path / "f.csv", {"kind": "fluxes", "bands": "g", "extinction_corrected": True})
    assert phot["phot_problem"].tolist() == ["", "flux_g = -1 is not a positive flux"]


def test_hyperleda_units_from_the_config_and_bad_d25_as_reasons(tmp_path):
    (tmp_path / "l.csv").write_text("name,ra_deg,dec_deg,logd\nA,150.0,2.0,1.0\nB,150.1,2.0,inf\nC,150.2,2.0,9\n")
    leda = read_hyperleda(tmp_path / "l.csv", {"objname": "name", "al2000": "ra_deg", "de2000": "dec_deg", "logd25": "logd"},
                          {"al2000": "deg"})
    assert leda["leda_ra"].tolist() == pytest.approx([150.0, 150.1, 150.2])
    assert leda["d25_problem"].tolist() == ["", "HyperLeda logd25 = inf is not finite",
                                            "HyperLeda logd25 = 9 is outside [-1, 4]"]


def test_read_table_keeps_text_exact(tmp_path):
    (tmp_path / "x.csv").write_text('a,b\n"0012",x y\n')
    raw = read_table(tmp_path / "x.csv")
    assert raw.strings("a").tolist() == ["0012"] and raw.strings("b").tolist() == ["x y"]


_UJY_PER_NMGY = 3.631                   # 1 nanomaggy = 3.631 uJy (AB zero point 3631 Jy)


@pytest.mark.parametrize("unit, per_nmgy", [("uJy", _UJY_PER_NMGY), ("nJy", _UJY_PER_NMGY * 1e3),
                                            ("mJy", _UJY_PER_NMGY * 1e-3), ("Jy", _UJY_PER_NMGY * 1e-6),
                                            ("erg / (s cm2 Hz)", _UJY_PER_NMGY * 1e-29)])
def test_flux_units_the_file_gives_are_converted_to_nanomaggies(tmp_path, unit, per_nmgy):
    nmgy = np.array([100.0, 40.0])
    flux = nmgy * per_nmgy                                   # the same fluxes in the file's unit
    Table({"objid": IDS[:2], "flux_g": Column(flux, unit=unit),
           "flux_ivar_g": 1.0 / (0.01 * flux) ** 2}).write(tmp_path / "f.ecsv")    # ivar: no unit, the flux's
    phot = read_photometry(tmp_path / "f.ecsv", {"kind": "fluxes", "bands": "g", "extinction_corrected": True})
    assert phot["mag_g"].to_numpy() == pytest.approx(22.5 - 2.5 * np.log10(nmgy))
    assert phot["mag_err_g"].to_numpy() == pytest.approx(2.5 / np.log(10) * 0.01)
    assert (phot["phot_problem"] == "").all()


def test_an_inverse_variance_with_its_own_unit_is_converted_consistently(tmp_path):
    nmgy = np.array([100.0, 40.0])
    flux_ujy = nmgy * _UJY_PER_NMGY
    ivar_per_njy2 = 1.0 / (0.01 * flux_ujy * 1e3) ** 2        # 1 % errors, in nJy^-2
    Table({"objid": IDS[:2], "flux_g": Column(flux_ujy, unit="uJy"),
           "flux_ivar_g": Column(ivar_per_njy2, unit="1 / nJy2")}).write(tmp_path / "f.fits")
    phot = read_photometry(tmp_path / "f.fits", {"kind": "fluxes", "bands": "g", "extinction_corrected": True,
                                                 "flux_unit": "maggies"})    # the file's units win
    assert phot["mag_g"].to_numpy() == pytest.approx(22.5 - 2.5 * np.log10(nmgy))
    assert phot["mag_err_g"].to_numpy() == pytest.approx(2.5 / np.log(10) * 0.01)


@pytest.mark.parametrize("column, unit", [("flux_g", "mag"), ("flux_g", "deg"), ("flux_g", "garbage"),
                                          ("flux_ivar_g", "uJy"), ("flux_ivar_g", "deg")])
def test_a_flux_unit_that_is_not_a_flux_density_is_an_error_naming_file_column_and_unit(tmp_path, column, unit):
    columns = {"objid": IDS[:2], "flux_g": Column([10.0, 20.0], unit="uJy"), "flux_ivar_g": [1.0, 1.0]}
    columns[column] = Column([10.0, 20.0] if column == "flux_g" else [1.0, 1.0], unit=unit)
    Table(columns).write(tmp_path / "f.ecsv")
    with pytest.raises(InputError, match=rf"f.ecsv: column '{column}' has unit '{unit}', which is not .*accepted: "
                                         r".*nanomaggies, maggies"):
        read_photometry(tmp_path / "f.ecsv", {"kind": "fluxes", "bands": "g", "extinction_corrected": True})


def _empty_star_table(names):
    return Table({name: np.array([], dtype=float) for name in names})


@pytest.mark.parametrize("fmt, content, column_map", [
    ("text", "RA,DEC,PSFMAG_G\n", None),                                   # upper-case names
    ("text", "RAJ2000,DEJ2000,gmag\n", {"ra": "RAJ2000", "dec": "DEJ2000", "psfMag_g": "gmag"}),
    ("text", '"ra","dec","psfMag_g"\n', None),                             # quoted CSV header
    ("text", "# no stars\nra dec psfMag_g\n", None),                       # whitespace-separated
    ("text", "ra|dec|psfMag_g|\n", None),                                  # '|'-separated
    ("text", "   ra |  dec | psfMag_g |\n-----+-----+----------+\n", None),
    ("fits", ["RA", "DEC", "PSFMAG_G"], None),
    ("votable", ["ra", "dec", "psfMag_g"], None),
    ("ecsv", ["RAJ2000", "DEJ2000", "gmag"], {"ra": "RAJ2000", "dec": "DEJ2000", "psfMag_g": "gmag"}),
])
def test_a_star_catalogue_without_rows_is_an_empty_list_in_every_format(tmp_path, fmt, content, column_map):
    path = tmp_path / "stars.dat"
    if fmt == "text":
        path.write_text(content)
    else:
        _empty_star_table(content).write(path, format={"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv"}[fmt])
    stars = read_stars(path, column_map)
    assert stars.empty and list(stars.columns) == ["ra", "dec", "psfMag_g"]


@pytest.mark.parametrize("fmt, content, missing", [
    ("text", "ra,dec\n", "psfMag_g"),
    ("text", "RAJ2000,DEJ2000,gmag\n", "ra, dec, psfMag_g"),                  # not mapped
    ("fits", ["ra", "psfMag_g"], "dec"),
    ("ecsv", ["ra", "dec"], "psfMag_g"),
])
def test_an_empty_star_catalogue_without_the_columns_is_an_error_naming_them(tmp_path, fmt, content, missing):
    path = tmp_path / "stars.dat"
    if fmt == "text":
        path.write_text(content)
    else:
        _empty_star_table(content).write(path, format={"fits": "fits", "ecsv": "ascii.ecsv"}[fmt])
    with pytest.raises(InputError, match=rf"stars.dat: missing column\(s\) {missing}; map your names with "
                                         r"inputs.stars.columns"):
        read_stars(path)


@pytest.mark.parametrize("fmt", ["fits", "votable", "ecsv"])
def test_other_catalogues_with_no_rows_stay_errors(tmp_path, fmt):
    path = tmp_path / "gswlc.dat"
    Table({c: np.array([], dtype=float) for c in COLUMNS}).write(
        path, format={"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv"}[fmt])
    with pytest.raises(InputError, match="gswlc.dat: a table with no rows"):
        read_gswlc(path)
    (tmp_path / "phot.csv").write_text("objid,flux_g,flux_ivar_g\n")
    with pytest.raises(InputError, match="phot.csv: a header but no data rows"):
        read_photometry(tmp_path / "phot.csv", {"kind": "fluxes", "bands": "g", "extinction_corrected": True})


def test_an_ecsv_file_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    table = Table({"ra": [1.0, 2.0], "dec": [0.0, 1.0], "psfMag_g": [18.0, 19.0]})
    table.write(tmp_path / "stars.ecsv")
    (tmp_path / "bom.ecsv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "stars.ecsv").read_bytes())
    pd.testing.assert_frame_equal(read_stars(tmp_path / "bom.ecsv"), read_stars(tmp_path / "stars.ecsv"))


def test_positions_in_another_angle_unit_are_converted_to_degrees(tmp_path):
    from astropy import units as u

    stars = Table({"ra": np.radians([10.0, 20.0]), "dec": np.radians([1.0, -2.0]), "psfMag_g": [18.0, 19.0]})
    stars["ra"].unit = stars["dec"].unit = u.rad
    stars.write(tmp_path / "stars.fits")
    out = read_stars(tmp_path / "stars.fits")
    assert out["ra"].tolist() == pytest.approx([10.0, 20.0]) and out["dec"].tolist() == pytest.approx([1.0, -2.0])
    df = _gswlc_frame()
    table = Table.from_pandas(df)
    table["ra"] = np.asarray(table["ra"]) / 15.0
    table["ra"].unit = "h"
    table.write(tmp_path / "gswlc.fits")
    assert read_gswlc(tmp_path / "gswlc.fits")["ra"].tolist() == pytest.approx(df["ra"].tolist())
    stars["ra"].unit = u.kpc
    stars.write(tmp_path / "bad.fits")
    with pytest.raises(InputError, match=r"bad.fits, column 'ra': unit 'kpc' is not an angle"):
        read_stars(tmp_path / "bad.fits")


def test_an_unsigned_id_beyond_64_bits_is_an_error_not_a_wrapped_number(tmp_path):
    table = Table.from_pandas(_gswlc_frame())
    table["objid"] = np.array([2**63 + 1, 5, 6], dtype=np.uint64)
    table.write(tmp_path / "gswlc.fits")
    with pytest.raises(InputError, match=r"row 1, column 'objid': id 9223372036854775809 does not fit in 64 bits"):
        read_gswlc(tmp_path / "gswlc.fits")


def test_a_flux_measured_at_too_low_a_signal_to_noise_is_a_reason_like_its_magnitude(tmp_path):
    """A magnitude error above 5 (RANGES["mag_err"]) rejects the galaxy whether the table gives
    magnitudes or fluxes: 10 nanomaggies with an inverse variance of 1e-6 is S/N 0.01, 108.6 mag."""
    pd.DataFrame({"objid": IDS[:2], "flux_g": [10.0, 10.0], "flux_ivar_g": [1.0, 1e-6]}).to_csv(tmp_path / "f.csv",
                                                                                                 index=False)
    phot = read_photometry(tmp_path / "f.csv", {"kind": "fluxes", "bands": "g", "extinction_corrected": True})
    assert phot["phot_problem"].iloc[0] == ""
    assert phot["phot_problem"].iloc[1].startswith("the magnitude error of flux_g and flux_ivar_g = 108.574 is outside [0, 5]")


@pytest.mark.parametrize("delimiter", [" ", ","])
@pytest.mark.parametrize("column, bad, kind", [("z", "abc", "float64"), ("objid", "3.5", "int64")])
def test_text_in_a_numeric_ecsv_column_is_an_error_naming_its_line(tmp_path, delimiter, column, bad, kind):
    table = Table({"objid": IDS, "z": [0.05, 0.06, 0.07], "name": ["a b", "c", "d"]})
    table.write(tmp_path / "good.ecsv", delimiter=delimiter)
    lines = (tmp_path / "good.ecsv").read_text().splitlines()
    last = len(lines)                                    # the third row, on the file's last line
    fields = next(__import__("csv").reader([lines[-1]], delimiter=delimiter))
    fields[0 if column == "objid" else 1] = bad
    lines[-1] = delimiter.join(fields)
    (tmp_path / "bad.ecsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"bad.ecsv: line {last}, column '{column}': '{bad}' does not fit "
                                         rf"the column's datatype {kind}"):
        read_table(tmp_path / "bad.ecsv")


LOG_LG = np.array([10.2, 9.8, 10.9])


@pytest.mark.parametrize("unit, values, err_unit, errors", [
    (None, LOG_LG, None, [0.03] * 3),
    ("dex", LOG_LG, "dex", [0.03] * 3),
    ("dex(solLum)", LOG_LG, "dex", [0.03] * 3),
    ("log(Lsun)", LOG_LG, "mag", [0.075] * 3),                      # an error in mag is 2.5 x the dex
    ("solLum", 10.0**LOG_LG, None, 10.0**LOG_LG * 0.03 * np.log(10)),  # linear, the error in the same unit
    ("1e10 Lsun", 10.0**(LOG_LG - 10), "1e10 Lsun", 10.0**(LOG_LG - 10) * 0.03 * np.log(10)),
])
def test_a_users_luminosity_column_is_read_in_its_unit(tmp_path, unit, values, err_unit, errors):
    Table({"objid": IDS, "mag_g": Column([15.0] * 3), "mag_err_g": [0.01] * 3, "extinction_g": [0.1] * 3,
           "logLg": Column(values, unit=unit), "logLg_err": Column(errors, unit=err_unit)}).write(tmp_path / "p.ecsv")
    assert (read_table(tmp_path / "p.ecsv").unit("logLg") is None) == (unit is None)   # the file kept its unit
    settings = {"bands": "g", "columns": {"modelMag_g": "mag_g", "modelMagErr_g": "mag_err_g"}}
    phot = read_photometry(tmp_path / "p.ecsv", settings, lum_g_column="logLg")
    assert phot["logLg"].to_numpy() == pytest.approx(LOG_LG)
    assert phot["logLg_err"].to_numpy() == pytest.approx(0.03)


@pytest.mark.parametrize("unit, err_unit, message", [
    ("erg / s", None, r"column 'logLg': unit 'erg / s' is neither a log10 of L / L_sun"),
    ("mag", None, r"column 'logLg': unit 'mag' is neither"),
    ("dex", "erg / s", r"column 'logLg_err': unit 'erg / s' is not an error of a luminosity"),
])
def test_a_luminosity_in_a_unit_without_the_bands_solar_value_is_an_error(tmp_path, unit, err_unit, message):
    Table({"objid": IDS, "modelMag_g": [15.0] * 3, "modelMagErr_g": [0.01] * 3, "extinction_g": [0.1] * 3,
           "logLg": Column(LOG_LG, unit=unit), "logLg_err": Column([0.03] * 3, unit=err_unit)}).write(tmp_path / "p.ecsv")
    with pytest.raises(InputError, match=rf"p.ecsv, {message}"):
        read_photometry(tmp_path / "p.ecsv", {"bands": "g"}, lum_g_column="logLg")


def test_a_comment_preamble_of_any_length_is_skipped_before_the_format_is_decided(tmp_path):
    """The format comes from the first line that is not a comment, however many precede it (the
    first 4 KB once decided it: a long column description made a CSV 'only comments')."""
    preamble = "".join(f"# column {i}: a description of what the column holds, with its unit\n" for i in range(120))
    path = tmp_path / "stars.csv"
    path.write_text(preamble + "ra,dec,psfMag_g\n10.0,2.0,18.0\n10.1,2.0,19.0\n")
    assert len(preamble) > 8000
    assert detect_format(path) == "csv"
    assert read_stars(path)["psfMag_g"].tolist() == [18.0, 19.0]


def test_a_header_written_as_a_comment_names_the_columns_over_the_release_order(tmp_path):
    """astropy's commented_header and TOPCAT's ascii write '# name name ...' above the data; the
    GSWLC reader once took such a file for the release and read its columns by position (z from
    whatever column stood in z's place)."""
    df = _gswlc_frame()
    df["av"] = 0.7
    order = list(COLUMNS)
    iz, iav = order.index("z"), order.index("av")
    order[iz], order[iav] = "av", "z"
    lines = ["# " + " ".join(c.upper() for c in order)]
    lines += [" ".join(str(int(v)) if c in ("objid",) else repr(float(v)) for c, v in zip(order, row))
              for row in df[order].itertuples(index=False)]
    path = tmp_path / "gswlc.txt"
    path.write_text("\n".join(lines) + "\n")
    out = read_gswlc(path)
    assert out["z"].tolist() == pytest.approx([0.05] * 3)
    assert out["av"].tolist() == pytest.approx([0.7] * 3)
    assert out["objid"].tolist() == IDS.tolist()


@pytest.mark.parametrize("column_map, message", [
    ({"redshift": "z"}, r"inputs.gswlc.columns.redshift: not a name this catalogue's reader uses"),
    ({"glxid": "GLXID_2"}, r"inputs.gswlc.columns.glxid: maps to 'GLXID_2', which .* does not have"),
    ({"z": "logmstar"}, r"inputs.gswlc.columns: .*(z and logmstar|logmstar and z) both map to .*'logmstar'"),
])
def test_a_column_map_entry_that_would_be_ignored_or_shared_is_an_error_naming_its_key(tmp_path, column_map, message):
    """A misspelt name, an optional column mapped to one the file lacks, or two of our names on one
    of the file's columns: each once went unnoticed (the file's own z used, or z read twice)."""
    df = _gswlc_frame()
    df.to_csv(tmp_path / "gswlc.csv", index=False)
    if "logmstar" in column_map.values():
        column_map = {**column_map, "logmstar": "logmstar"}
    with pytest.raises(InputError, match=message):
        read_gswlc(tmp_path / "gswlc.csv", column_map)


def test_photometry_maps_may_name_other_bands_but_not_share_a_column(tmp_path):
    """The map of a photometry table may name bands that are not read (one map for several runs);
    two bands on one column (g - i = 0 for every galaxy) is an error naming both."""
    Table({"objid": IDS, "fg": [10.0, 20.0, 30.0], "ig": [1.0, 1.0, 1.0], "fi": [20.0, 40.0, 60.0],
           "ii": [1.0, 1.0, 1.0]}).write(tmp_path / "p.fits")
    settings = {"kind": "fluxes", "bands": "gi", "extinction_corrected": True}
    good = {"flux_g": "fg", "flux_ivar_g": "ig", "flux_i": "fi", "flux_ivar_i": "ii", "flux_u": "fu"}
    out = read_photometry(tmp_path / "p.fits", {**settings, "columns": good})
    assert (out["mag_g"] - out["mag_i"]).tolist() == pytest.approx([2.5 * np.log10(2.0)] * 3)
    with pytest.raises(InputError, match="flux_g and flux_i both map to .*'fg'"):
        read_photometry(tmp_path / "p.fits", {**settings, "columns": {**good, "flux_i": "fg"}})
    with pytest.raises(InputError, match="inputs.photometry.columns.flux_ivar_x: not a name"):
        read_photometry(tmp_path / "p.fits", {**settings, "columns": {**good, "flux_ivar_x": "ii"}})


@pytest.mark.parametrize("fmt", ["fits", "ascii.ecsv"])
def test_a_table_with_a_skycoord_column_reads_its_plain_columns(tmp_path, fmt):
    """A QTable written with a SkyCoord column: its plain columns as the file stores them
    (coord.ra, coord.dec), which a column map can name (before: a traceback)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import QTable

    table = QTable({"coord": SkyCoord([10.0, 20.0] * u.deg, [1.0, 2.0] * u.deg), "psfMag_g": [17.0, 18.0]})
    path = tmp_path / f"stars.{fmt.split('.')[-1]}"
    table.write(path, format=fmt)
    out = read_stars(path, {"ra": "coord.ra", "dec": "coord.dec"})
    assert out["ra"].tolist() == pytest.approx([10.0, 20.0]) and out["dec"].tolist() == pytest.approx([1.0, 2.0])


def test_a_magnitude_column_with_a_flux_unit_is_an_error(tmp_path):
    Table({"objid": IDS, "modelMag_g": Column([12.0, 30.0, 20.0], unit="uJy"),
           "modelMagErr_g": [0.05, 0.05, 0.05]}).write(tmp_path / "p.fits")
    with pytest.raises(InputError, match="column 'modelMag_g' has unit 'uJy', not a magnitude"):
        read_photometry(tmp_path / "p.fits", {"bands": "g", "extinction_corrected": True})
    Table({"objid": IDS, "modelMag_g": Column([12.0, 30.0, 20.0], unit="mag"),
           "modelMagErr_g": Column([0.05, 0.05, 0.05], unit="mag")}).write(tmp_path / "m.fits")
    assert read_photometry(tmp_path / "m.fits", {"bands": "g", "extinction_corrected": True})["mag_g"].tolist() == [
        12.0, 30.0, 20.0]


def test_padding_rows_with_id_zero_repeat_in_a_photometry_table(tmp_path):
    """Cross-matched tables pad unmatched rows with id 0 (as GSWLC's reader allows): they match no
    galaxy and are no duplicate; a real id twice still is."""
    pd.DataFrame({"objid": [IDS[0], 0, 0], "modelMag_g": [17.0, 99.0, 99.0], "modelMagErr_g": [0.02] * 3}).to_csv(
        tmp_path / "p.csv", index=False)
    assert read_photometry(tmp_path / "p.csv", {"bands": "g", "extinction_corrected": True})["objid"].tolist() == [
        IDS[0], 0, 0]
    pd.DataFrame({"objid": [IDS[0], IDS[0]], "modelMag_g": [17.0, 18.0], "modelMagErr_g": [0.02] * 2}).to_csv(
        tmp_path / "d.csv", index=False)
    with pytest.raises(InputError, match="line 3, column 'objid': duplicate id"):
        read_photometry(tmp_path / "d.csv", {"bands": "g", "extinction_corrected": True})


def test_tab_separated_blank_fields_astropy_blanks_and_ipac_tables(tmp_path):
    """Three exports of the same HyperLeda rows with one logd25 missing: tab-separated with an
    empty field, astropy's whitespace 'basic' writer (a masked value as ""), and an IPAC table
    (null); each gives that galaxy the reason, the others their D25."""
    (tmp_path / "leda.tsv").write_text("objname\tal2000\tde2000\tlogd25\nPGC1\t10.0\t2.0\t0.65\nPGC2\t10.1\t2.1\t\n")
    table = Table({"objname": ["PGC1", "PGC2"], "al2000": [10.0, 10.1], "de2000": [2.0, 2.1],
                   "logd25": np.ma.masked_array([0.65, 0.0], mask=[False, True])})
    table.write(tmp_path / "leda.txt", format="ascii.basic")
    table.write(tmp_path / "leda.tbl", format="ascii.ipac")
    assert '""' in (tmp_path / "leda.txt").read_text() and "null" in (tmp_path / "leda.tbl").read_text()
    for name, fmt in (("leda.tsv", "tab"), ("leda.txt", "whitespace"), ("leda.tbl", "ipac")):
        assert read_table(tmp_path / name).format == fmt
        out = read_hyperleda(tmp_path / name)
        assert out["d25_arcmin"].iloc[0] == pytest.approx(0.1 * 10**0.65), name
        assert out["d25_problem"].tolist() == ["", "HyperLeda lists no logd25"], name


def test_pipe_tables_with_a_leading_bar_and_tab_aligned_text_are_not_mistaken_for_other_formats(tmp_path):
    """'| a | b |' lines (psql, Markdown) are '|' text, not IPAC (whose second line names types);
    whitespace text aligned with two tabs everywhere is whitespace text, not tab-separated with
    empty columns; a '# a b c' line names the columns of data whose first row has text in it."""
    (tmp_path / "leda.txt").write_text("| objname | al2000 | de2000 | logd25 |\n| PGC1 | 10.0 | 2.0 | 0.65 |\n")
    assert read_table(tmp_path / "leda.txt").format == "pipe"
    assert read_hyperleda(tmp_path / "leda.txt")["leda_name"].tolist() == ["PGC1"]
    (tmp_path / "stars.txt").write_text("ra\t\tdec\t\tpsfMag_g\n10.0\t\t2.0\t\t18.0\n")
    assert read_stars(tmp_path / "stars.txt")["psfMag_g"].tolist() == [18.0]
    Table({"pgc": [1], "objname": ["NGC0001"], "al2000": [0.1], "de2000": [10.0], "logd25": [1.2]}).write(
        tmp_path / "commented.txt", format="ascii.commented_header")
    assert read_hyperleda(tmp_path / "commented.txt")["leda_name"].tolist() == ["NGC0001"]


@pytest.mark.parametrize("unit", ["mag", "ABmag", "mag(AB)", "AB mag", "mag AB", "mag_AB", "magAB", "AB", "mags"])
def test_magnitude_units_as_surveys_spell_them_are_magnitudes(tmp_path, unit):
    Table({"objid": IDS, "modelMag_g": Column([17.0, 18.0, 19.0], unit=unit, dtype=float),
           "modelMagErr_g": [0.05] * 3}).write(tmp_path / "p.ecsv", format="ascii.ecsv")
    assert read_photometry(tmp_path / "p.ecsv", {"bands": "g", "extinction_corrected": True})["mag_g"].tolist() == [
        17.0, 18.0, 19.0]
