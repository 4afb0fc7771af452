"""Catalogue readers: published layouts in, clear messages naming file, line and column out."""

import gzip

import numpy as np
import pandas as pd
import pytest

from mlpipe import gz2
from mlpipe.io.gswlc import COLUMNS, read_gswlc
from mlpipe.io.gz2_catalog import read_gz2
from mlpipe.io.hyperleda import read_hyperleda, write_hyperleda, write_hyperleda_text
from mlpipe.io.photometry import read_photometry
from mlpipe.io.validation import InputError


def _gswlc_line(objid=1237645000000000001, ra=150.0, dec=2.0, z=0.05, chi2=1.0, logm=10.5, err=0.1):
    values = [objid, 2411500000000000000, 300, 51700, 10, ra, dec, z, chi2, logm, err, 0.1, 0.1,
              1.0, 0.1, 0.5, 0.1, 0.3, 0.1, 0, 1, -99, 5, 0.2, 0, 1]
    assert len(values) == len(COLUMNS)
    return " ".join(str(v) for v in values)


def test_gswlc_text_roundtrip_and_missing_values(tmp_path):
    path = tmp_path / "GSWLC-X2.dat"
    path.write_text(_gswlc_line() + "\n" + _gswlc_line(objid=2, z=-99) + "\n")
    df = read_gswlc(path)
    assert list(df["objid"]) == [1237645000000000001, 2]
    assert df["objid"].dtype == np.int64  # 19-digit ids survive exactly
    assert np.isnan(df.loc[1, "z"]) and np.isnan(df.loc[0, "logsfraw"])


@pytest.mark.parametrize("bad_line, message", [
    (_gswlc_line() + " 7", "line 2: expected 26 whitespace-separated fields, found 27"),
    (_gswlc_line().replace(" 0.05 ", " abc ", 1), "line 2, column 'z': not a number"),
    (_gswlc_line(objid=1237645000000000001, ra=150.1), "line 2, column 'objid': duplicate"),
    (_gswlc_line(objid=5, dec=95.0), "line 2, column 'dec'"),
])
def test_gswlc_malformed_rows_name_line_and_column(tmp_path, bad_line, message):
    path = tmp_path / "GSWLC-X2.dat"
    path.write_text(_gswlc_line() + "\n" + bad_line + "\n")
    with pytest.raises(InputError, match=message) as err:
        read_gswlc(path)
    assert "GSWLC-X2.dat" in str(err.value)


def test_hyperleda_units_and_errors(tmp_path):
    path = tmp_path / "leda.csv"
    path.write_text("pgc,objname,al2000,de2000,logd25\n1,PGC1,10.0,5.0,1.0\n2,PGC2,12.0,-5.0,\n")
    df = read_hyperleda(path)
    assert df.loc[0, "leda_ra"] == pytest.approx(150.0)  # hours -> degrees
    assert df.loc[0, "d25_arcmin"] == pytest.approx(1.0)  # 10^1 x 0.1 arcmin
    assert np.isnan(df.loc[1, "d25_arcmin"])
    path.write_text("objname,al2000,de2000,logd25\nPGC1,10.0,5.0,x\n")
    with pytest.raises(InputError, match="line 2, column 'logd25'"):
        read_hyperleda(path)
    path.write_text("objname,al2000,de2000\nPGC1,10.0,5.0\n")
    with pytest.raises(InputError, match="missing column.*logd25"):
        read_hyperleda(path)


def test_hyperleda_text_form_matches_csv(tmp_path):
    leda = pd.DataFrame({"pgc": [1, 2, 3], "leda_name": ["PGC000001", "NGC4321", "PGC000003"],
                         "leda_ra": [150.0, 185.7287, 10.0], "leda_dec": [5.0, 15.8223, -3.0],
                         "logd25": [1.0, 1.87, np.nan]})
    write_hyperleda(leda, tmp_path / "leda.csv")
    write_hyperleda_text(leda, tmp_path / "leda.txt")
    text = (tmp_path / "leda.txt").read_text()
    assert "|" in text and "," not in text
    from_csv, from_text = read_hyperleda(tmp_path / "leda.csv"), read_hyperleda(tmp_path / "leda.txt")
    pd.testing.assert_frame_equal(from_csv, from_text)
    assert from_text.loc[1, "leda_ra"] == pytest.approx(185.7287)
    assert np.isnan(from_text.loc[2, "d25_arcmin"])  # a blank field is missing, not an error


@pytest.mark.parametrize("row, message", [
    ("      2| PGC2 | 12.0 | -5.0 |", r"line 4: expected 5 '\|'-separated fields, found 4"),
    ("      2| PGC2 | 12.0 | -5.0 | abc |", r"line 4, column 'logd25': not a number: 'abc'"),
    ("      2| PGC2 | 25.0 | -5.0 | 1.0 |", r"line 4, column 'al2000': 25.0 is outside \[0, 24\]"),
    ("      2| PGC2 | 12.0 | 95.0 | 1.0 |", r"line 4, column 'de2000': 95.0 is outside \[-90, 90\]"),
    ("      2| PGC1 | 12.0 | -5.0 | 1.0 |", r"line 4, column 'objname': duplicate id PGC1"),
])
def test_hyperleda_text_form_errors_name_line_and_column(tmp_path, row, message):
    path = tmp_path / "leda.txt"
    path.write_text("# query\npgc| objname | al2000 | de2000 | logd25 |\n"
                    "      1| PGC1 | 10.0 | 5.0 | 1.0 |\n" + row + "\n")
    with pytest.raises(InputError, match=message) as err:
        read_hyperleda(path)
    assert "leda.txt" in str(err.value)


def test_photometry_rejects_duplicate_ids(tmp_path):
    cols = ["objid"] + [f"{k}_{b}" for k in ("modelMag", "modelMagErr", "extinction") for b in "ugriz"]
    rows = [[7] + [17.0] * 15, [7] + [18.0] * 15]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="line 3, column 'objid': duplicate id 7"):
        read_photometry(tmp_path / "p.csv")


def test_gz2_rejects_fraction_outside_unit_interval(tmp_path):
    data = {"dr7objid": [1], "ra": [10.0], "dec": [1.0]}
    data |= {c: [0.5] for c in gz2.catalogue_columns()}
    data[gz2.catalogue_columns()[3]] = [1.7]
    pd.DataFrame(data).to_csv(tmp_path / "g.csv", index=False)
    with pytest.raises(InputError, match="t02_edgeon_a04_yes_weighted_fraction"):
        read_gz2(tmp_path / "g.csv")


def test_real_gz2_table5_converts_to_valid_probabilities(real_dir, tmp_path):
    with gzip.open(real_dir / "gz2" / "table5.csv.gz", "rt") as fh:
        raw = pd.read_csv(fh)
    raw.to_csv(tmp_path / "table5.csv", index=False)
    df = read_gz2(tmp_path / "table5.csv")
    assert len(df) == len(raw) == 19761
    p = df[[c for c in df.columns if c.startswith("gz2_q")]].to_numpy()
    assert np.all(np.isfinite(p)) and p.min() >= 0 and p.max() <= 1 + 1e-9
    for q, sl in zip(gz2.QUESTIONS, gz2.question_slices()):
        total = p[:, sl].sum(1)
        if q.parent is None:
            assert np.allclose(total[total > 0], 1.0)
        else:
            assert np.all(total <= p[:, q.parent] + 1e-9)


def test_real_gswlc_and_hyperleda_files_read(real_dir):
    gswlc = read_gswlc(real_dir / "gswlc" / "nsa_gswlc.virgo.fits")
    assert len(gswlc) == 6044 and (gswlc["objid"] > 0).sum() == 1251  # padding rows are kept: the sample rejects them
    assert gswlc.loc[gswlc["objid"] > 0, "logmstar"].between(6, 13).mean() > 0.9
    leda = read_hyperleda(real_dir / "hyperleda" / "hyperleda-finn-24Feb20.csv")
    assert len(leda) == 9302 and leda["logd25"].notna().sum() == 7652


def test_glxid_keeps_all_19_digits_in_text_and_fits(tmp_path):
    from astropy.table import Table

    path = tmp_path / "GSWLC-X2.dat"
    path.write_text(_gswlc_line().replace(" 2411500000000000000 ", " 2411500000000000037 ") + "\n")
    assert read_gswlc(path)["glxid"].tolist() == [2411500000000000037]
    table = Table.from_pandas(read_gswlc(path).drop(columns="line"))
    table["glxid"] = np.array([2411504015124728585], dtype=np.int64)
    table.write(tmp_path / "g.fits")
    assert read_gswlc(tmp_path / "g.fits")["glxid"].tolist() == [2411504015124728585]


@pytest.mark.parametrize("unit, values", [
    ("arcmin", [1.0, 2.0]),             # a linear diameter
    ("arcsec", [60.0, 120.0]),
    ("dex(arcmin)", [0.0, np.log10(2.0)]),
    ("", [1.0, 1.0 + np.log10(2.0)]),   # no unit: HyperLeda's own log10(D25 / 0.1 arcmin)
])
def test_hyperleda_d25_in_the_unit_the_file_gives(tmp_path, unit, values):
    from astropy import units as u
    from astropy.table import Table

    table = Table({"objname": ["PGC1", "PGC2"], "al2000": [10.0, 11.0], "de2000": [5.0, 6.0], "logd25": values})
    if unit:
        table["logd25"].unit = u.Unit(unit)
    table.write(tmp_path / "leda.ecsv")
    assert read_hyperleda(tmp_path / "leda.ecsv")["d25_arcmin"].tolist() == pytest.approx([1.0, 2.0])


def test_hyperleda_d25_in_a_unit_that_is_no_angle_stops_naming_the_column(tmp_path):
    from astropy.table import Table

    table = Table({"objname": ["PGC1"], "al2000": [10.0], "de2000": [5.0], "D25": [3.0]})
    table["D25"].unit = "kpc"
    table.write(tmp_path / "leda.ecsv")
    with pytest.raises(InputError, match=r"leda.ecsv, column 'D25': unit 'kpc' is neither"):
        read_hyperleda(tmp_path / "leda.ecsv", column_map={"logd25": "D25"})


@pytest.mark.parametrize("unit", ["0.1 arcmin", "kpc"])
def test_hyperleda_d25_in_a_scaled_angle_or_no_angle_is_an_error(tmp_path, unit):
    from astropy.table import Table

    table = Table({"objname": ["PGC1"], "al2000": [10.0], "de2000": [5.0], "logd25": [1.2]})
    table["logd25"].unit = unit
    table.write(tmp_path / "leda.ecsv")
    with pytest.raises(InputError, match=r"column 'logd25': unit '0.1 arcmin' is a scaled angle|unit 'kpc' is neither"):
        read_hyperleda(tmp_path / "leda.ecsv")
