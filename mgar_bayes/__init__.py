"""mgar_bayes: the metallicity gradient-age relation (MGAR) of the Milky Way disks.

Pipeline stages, one module each: :mod:`~mgar_bayes.io` (catalogues in),
:mod:`~mgar_bayes.mock` (simulated Milky Way with known truth),
:mod:`~mgar_bayes.frames` (Galactocentric coordinates), :mod:`~mgar_bayes.orbits`
(R_g, Z_max, Monte-Carlo errors), :mod:`~mgar_bayes.cuts` (quality cuts),
:mod:`~mgar_bayes.selection` (thin/thick disks), :mod:`~mgar_bayes.binning`
(mono-age bins), :mod:`~mgar_bayes.ols` (weighted OLS and ODR per bin, MGAR trend),
:mod:`~mgar_bayes.pipeline` (all of it in one call) and :mod:`~mgar_bayes.reports`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mgar_bayes")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
