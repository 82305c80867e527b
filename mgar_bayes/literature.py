"""Published MGAR numbers to compare with: the headline values in the text of V21 and C25.

Only what the two papers state in words is held here; points read off their figures,
and other studies' tables, belong in package data with their own citations. Nothing
here is a result of this package.

* V21: Vickers, J. J., Shen, J., & Li, Z.-Y. 2021, ApJ, 922, 189,
  doi:10.3847/1538-4357/ac27a9 (LAMOST DR5; ODR fits against R_g).
* C25: Chen, A., Shen, J., Wang, C., & Huang, Y. 2025, "Revisiting the Radial
  Metallicity Gradient-Age Relation in the Milky Way's Thin and Thick Disks"
  (LAMOST DR8; weighted OLS fits against R_g).

:data:`HEADLINES` maps ``source -> population -> quantity -> value``; gradients are
d[Fe/H]/dR_g [dex/kpc], rates [dex/kpc/Gyr], ages [Gyr]. :func:`v21_trend` turns
V21's numbers into a line for :func:`mgar_bayes.plots.plot_mgar` (``lines=``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CITATIONS", "HEADLINES", "V21_TREND_LABEL", "v21_trend"]

#: Full reference of each source key.
CITATIONS: dict[str, str] = {
    "V21": "Vickers, Shen & Li 2021, ApJ, 922, 189 (doi:10.3847/1538-4357/ac27a9)",
    "C25": "Chen, Shen, Wang & Huang 2025 (LAMOST DR8 thin/thick-disk MGAR)",
}

#: Headline numbers from the papers' text: ``HEADLINES[source][population][quantity]``.
HEADLINES: dict[str, dict[str, dict[str, float]]] = {
    "V21": {
        "thin": {
            # Sect. 3.1, 2nd paragraph, and Sect. 5, 2nd bullet: "a metallicity gradient of
            # -0.075 dex kpc^-1 for the youngest stars, and this gradient gradually grows
            # shallower with age at a rate of 0.003 dex kpc^-1 Gyr^-1".
            "youngest_gradient": -0.075,
            "rate": 0.003,
            # Sect. 3.1, 1st paragraph: "binned in 1.25 Gyr age bins from 1 to 12.25 Gyr".
            "age_lo": 1.0,
            "age_hi": 12.25,
            "bin_width": 1.25,
        },
        "thick": {
            # Sect. 3.2, 1st sentence, and Sect. 5, 3rd bullet: "positive metallicity
            # gradients near 0.02 dex kpc^-1 for all ages".
            "mean_gradient": 0.02,
            "age_lo": 1.0,
            "age_hi": 12.25,
        },
    },
    "C25": {
        "thin": {
            # Sect. 3.1, 1st paragraph: "The gradient of the youngest stars reaches
            # -0.07 dex kpc^-1"; Fig. 3 caption and Sect. 5, 2nd paragraph: "flattening
            # rate is ~0.0016 dex kpc^-1 Gyr^-1".
            "youngest_gradient": -0.07,
            "rate": 0.0016,
            "age_lo": 1.0,
            "age_hi": 12.25,
        },
        "thick": {
            # Abstract and Sect. 3.2, 1st sentence: "a mean value of ~0.013 dex kpc^-1";
            # Sect. 3.2: "a peak of ~0.019 dex kpc^-1 at ~5.4 Gyr", and "~0.02 dex kpc^-1"
            # once the thick-disk stars at R_g > 10 kpc are removed.
            "mean_gradient": 0.013,
            "peak_gradient": 0.019,
            "peak_age": 5.4,
            "mean_gradient_rg_le_10": 0.02,
            "age_lo": 1.0,
            "age_hi": 12.25,
        },
    },
}

#: Legend label of the line drawn from V21's text (not their fitted points).
V21_TREND_LABEL = "V21 trend (from their text)"


def v21_trend(
    population: str = "thin",
    ages: np.ndarray | None = None,
    *,
    age_range: tuple[float, float] | None = None,
    n: int = 50,
) -> pd.DataFrame:
    """V21's MGAR as a line, rebuilt from the numbers in their text.

    Thin disk: ``gradient = -0.075 + 0.003 (age - t0)`` [dex/kpc], anchored at
    ``t0 = 1.625`` Gyr, the centre of V21's youngest bin (1-2.25 Gyr), since V21 quote
    -0.075 dex/kpc "for the youngest stars". Thick disk: the constant +0.02 dex/kpc
    they quote for all ages.

    Parameters
    ----------
    population : {"thin", "thick"}
        Disk whose line to return.
    ages : array_like, optional
        Ages [Gyr] to evaluate the line at. Default: ``n`` ages over ``age_range``.
    age_range : (float, float), optional
        Age span [Gyr] of the default grid; default V21's binned range, 1-12.25 Gyr.
    n : int
        Number of ages in the default grid.

    Returns
    -------
    pandas.DataFrame
        Columns ``age`` [Gyr], ``gradient`` [dex/kpc], and ``population``,
        ``source`` (``"V21"``) and ``label`` (:data:`V21_TREND_LABEL`), so that the
        frame (or several concatenated) can be passed to
        :func:`mgar_bayes.plots.plot_mgar` as ``lines``.

    Raises
    ------
    ValueError
        If ``population`` is not "thin" or "thick".
    """
    if population not in ("thin", "thick"):
        raise ValueError(f"V21 quote a trend for 'thin' and 'thick' only, not {population!r}")
    h = HEADLINES["V21"][population]
    if ages is None:
        lo, hi = age_range if age_range is not None else (h["age_lo"], h["age_hi"])
        ages = np.linspace(float(lo), float(hi), int(n))
    ages = np.asarray(ages, dtype=float)
    if population == "thin":
        t0 = h["age_lo"] + 0.5 * h["bin_width"]
        grad = h["youngest_gradient"] + h["rate"] * (ages - t0)
    else:
        grad = np.full_like(ages, h["mean_gradient"])
    return pd.DataFrame({
        "age": ages, "gradient": grad, "population": population, "source": "V21",
        "label": V21_TREND_LABEL,
    })
