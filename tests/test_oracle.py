"""The mock's morphology carries the paper's share of M/L beyond colour: the catalogue-level
oracle (true morphology, no images) on a catalogue-only draw, and the mechanisms behind it."""

import copy

import numpy as np
import pytest

from mlpipe import physics
from mlpipe.evaluate.oracle import (
    MIN_GALAXIES,
    observed_sample,
    oracle_from_config,
    oracle_table,
)
from mlpipe.evaluate.report import oracle_section
from mlpipe.mock.population import colour_of, combine, draw_population


@pytest.fixture(scope="module")
def truth(default_config):
    cfg = copy.deepcopy(default_config["mock"])
    cfg["n_galaxies"] = 20000          # the default run's population: ~1,000 galaxies pass D25 > 0.4'
    return draw_population(cfg, physics.cosmology(70.0, 0.3))


def test_true_morphology_beats_colour_as_in_the_paper(truth, default_config):
    table = oracle_from_config(truth, default_config["mock"], default_config["catalog"], seed=3,
                               n_resamples=2000).set_index("with")
    assert table["n_galaxies"].iloc[0] > 900    # ~800 training galaxies per fold
    colour = table.loc["colour_morph"]          # paper: 1.26 -> 1.12, an 11 % gain
    assert colour["without"] == "colour" and 0.06 < 1 - colour["ratio"] < 0.18
    assert colour["difference_ci_high"] < 0 and colour["p_sign_flip"] < 0.001
    luminosity = table.loc["luminosity_morph"]  # paper: 4.52 -> 2.29, a factor 0.51
    assert 0.38 < luminosity["ratio"] < 0.62
    powerlaw = table.loc["colour"]              # the g-i power law stays realistic: paper 1.90
    assert powerlaw["without"] == "gi_powerlaw" and 1.6 < powerlaw["l1_without"] < 2.3
    text = "\n".join(oracle_section(table.reset_index()))
    assert f"colour + true morphology vs colour (z, L_g, g-i): L1 {colour['l1_with']:.2f} vs" in text


def test_too_small_a_mock_has_no_oracle_and_the_report_says_so(truth):
    sample = observed_sample(truth, d25_min_arcmin=0.4, log_ml_error_range_dex=(0.04, 0.12),
                             relative_error_floor=0.05, seed=3).head(MIN_GALAXIES - 1)
    table = oracle_table(sample, seed=3, n_resamples=100)
    assert len(table) == 0 and "with" in table.columns
    assert "Too few galaxies" in "\n".join(oracle_section(table))


def test_without_the_mechanisms_morphology_adds_little(truth, default_config):
    """The gain comes from the configured physics: with one population per galaxy type, no burst
    colour excess and dust that reddens alike at every inclination, true morphology adds little."""
    cfg = copy.deepcopy(default_config["mock"])
    cfg["n_galaxies"] = 20000
    cfg["mass_to_light"]["bulge_log"] = cfg["mass_to_light"]["disk_log"]
    cfg["bursts"]["colour_excess_mag"] = 0.0
    cfg["bursts"]["log_ml"] = cfg["mass_to_light"]["irregular_log"]
    cfg["dust"]["inclined_reddening_per_mag"] = 0.4 / cfg["mass_to_light"]["colour_slope"]
    plain = draw_population(cfg, physics.cosmology(70.0, 0.3))
    sample = observed_sample(plain, d25_min_arcmin=0.4, log_ml_error_range_dex=(0.04, 0.12),
                             relative_error_floor=0.05, seed=3)
    colour = oracle_table(sample, seed=3, n_resamples=500).set_index("with").loc["colour_morph"]
    assert colour["ratio"] > 0.97   # less than 3 % gain


def test_composite_populations_lie_above_the_colour_relation(default_config):
    ml = default_config["mock"]["mass_to_light"]
    old, young = np.full(3, 0.55), np.full(3, -0.2)
    f = np.array([0.0, 0.5, 1.0])
    log_ml, colour = combine(f, old, colour_of(old, ml), young, colour_of(young, ml))
    above = log_ml - (ml["colour_zero_point"] + ml["colour_slope"] * colour)
    assert above[0] == pytest.approx(0, abs=1e-12) and above[2] == pytest.approx(0, abs=1e-12)
    # by hand: M/L = (10^0.55 + 10^-0.2) / 2; g-i from the mean of 10^(0.4 (g-i))
    x = 0.5 * (10 ** (0.4 * colour_of(0.55, ml)) + 10 ** (0.4 * colour_of(-0.2, ml)))
    expected = np.log10(0.5 * (10**0.55 + 10**-0.2)) - (ml["colour_zero_point"] + ml["colour_slope"] * 2.5 * np.log10(x))
    assert above[1] == pytest.approx(expected) and 0.05 < above[1] < 0.2
