"""Distances, luminosities and surface brightness: the few physical relations every stage shares."""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.cosmology import FlatLambdaCDM
from scipy.special import gamma, gammaincinv

#: Absolute magnitudes of the Sun in the SDSS bands (AB), Willmer 2018, ApJS 236, 47, Table 3.
SUN_ABS_MAG = {"u": 6.39, "g": 5.11, "r": 4.65, "i": 4.53, "z": 4.50}
SUN_ABS_MAG_G = SUN_ABS_MAG["g"]
ARCSEC_PER_RAD = 206264.806
#: SDSS pixel size: the pixel_kpc feature is this at the galaxy's distance.
SDSS_PIXEL_ARCSEC = 0.396
#: AB zero point (3631 Jy) in erg s^-1 cm^-2 Hz^-1, and 10 pc in cm.
AB_ZERO_POINT_CGS = 3.631e-20
TEN_PC_CM = 3.0857e19


def solar_luminosity_nu(sun_abs_mag: float = SUN_ABS_MAG_G) -> float:
    """The Sun's specific luminosity (erg/s/Hz) in a band with the given AB absolute magnitude."""
    return AB_ZERO_POINT_CGS * 10.0 ** (-0.4 * sun_abs_mag) * 4.0 * np.pi * TEN_PC_CM**2


def cosmology(h0: float, om0: float) -> FlatLambdaCDM:
    """The flat LCDM cosmology named in the config."""
    return FlatLambdaCDM(H0=h0, Om0=om0)


def luminosity_distance_cm(z: np.ndarray, cosmo: FlatLambdaCDM) -> np.ndarray:
    """Luminosity distance in cm (for flux x 4 pi D^2)."""
    return cosmo.luminosity_distance(np.asarray(z, dtype=float)).to(u.cm).value


def distance_modulus(z: np.ndarray, cosmo: FlatLambdaCDM) -> np.ndarray:
    return np.asarray(cosmo.distmod(np.asarray(z, dtype=float)).value)


def kpc_per_arcsec(z: np.ndarray, cosmo: FlatLambdaCDM) -> np.ndarray:
    """Proper transverse size of one arcsecond at redshift z, in kpc."""
    return cosmo.kpc_proper_per_arcmin(np.asarray(z, dtype=float)).to(u.kpc / u.arcsec).value


def luminosity_from_mag(mag: np.ndarray, z: np.ndarray, cosmo: FlatLambdaCDM,
                        sun_abs_mag: float = SUN_ABS_MAG_G) -> np.ndarray:
    """Luminosity in solar units from an extinction-corrected apparent magnitude (no K-correction)."""
    absolute = np.asarray(mag, dtype=float) - distance_modulus(z, cosmo)
    return 10.0 ** (-0.4 * (absolute - sun_abs_mag))


def nanomaggies(mag: np.ndarray) -> np.ndarray:
    """SDSS flux unit: 1 nanomaggy is AB magnitude 22.5."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - 22.5))


def sersic_b(n: np.ndarray) -> np.ndarray:
    """b_n such that R_e encloses half the light of a Sersic profile."""
    return gammaincinv(2.0 * np.asarray(n, dtype=float), 0.5)


def sersic_mu_e(total_mag: np.ndarray, re_arcsec: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Surface brightness (mag/arcsec^2) at the effective radius of a circular Sersic profile."""
    b = sersic_b(n)
    norm = 2.0 * np.pi * n * np.exp(b) * gamma(2.0 * n) / b ** (2.0 * n)
    return total_mag + 5.0 * np.log10(re_arcsec) + 2.5 * np.log10(norm)


def sersic_intensity(r_arcsec: np.ndarray, total_mag: np.ndarray, re_arcsec: np.ndarray,
                     n: np.ndarray) -> np.ndarray:
    """Surface brightness in flux units (10^(-0.4 mu)) at radius r; broadcasts."""
    mu_e = sersic_mu_e(total_mag, re_arcsec, n)
    b = sersic_b(n)
    mu = mu_e + 2.5 * b / np.log(10.0) * ((r_arcsec / re_arcsec) ** (1.0 / n) - 1.0)
    return 10.0 ** (-0.4 * mu)
