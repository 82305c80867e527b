"""Published MGARs to compare with, as package data with their citations.

Nothing here is a result of this package. Two kinds of numbers are held:

* :data:`HEADLINES`: what V21 and C25 state in their text (youngest gradient,
  flattening rate, thick-disk mean), and :func:`v21_trend`, V21's line rebuilt
  from it.
* Tables (``data/*.csv``, copied unchanged from the files the authors published):
  Anders et al. 2023's per-bin APOGEE DR17 gradients, the present-day MGARs that
  Graf et al. 2024 compiled (Lian+2022, Lian+2023, Willett+2023, the end points of
  V21's line) with the FIRE-2 simulations' MGAR for assumed age errors, and the
  Ratcliffe et al. 2023 birth gradient as digitised by Anders et al. 2023.
  :func:`datasets` lists them; :func:`load` returns one as a tidy table;
  :func:`overlay` turns a list of names into the ``reference``/``lines`` tables
  of :func:`mgar_bayes.plots.plot_mgar`.

Units: gradients d[Fe/H]/dR [dex/kpc], rates [dex/kpc/Gyr], ages and look-back
times [Gyr].

References
----------
* V21: Vickers, J. J., Shen, J., & Li, Z.-Y. 2021, ApJ, 922, 189,
  doi:10.3847/1538-4357/ac27a9 (LAMOST DR5; ODR fits against R_g).
* C25: Chen, A., Shen, J., Wang, C., & Huang, Y. 2025, "Revisiting the Radial
  Metallicity Gradient-Age Relation in the Milky Way's Thin and Thick Disks"
  (LAMOST DR8; weighted OLS fits against R_g).
* Anders, F., Gispert, P., Ratcliffe, B., et al. 2023, A&A, 678, A158,
  doi:10.1051/0004-6361/202346666 (arXiv:2304.08276).
* Ratcliffe, B., Minchev, I., Anders, F., et al. 2023, MNRAS, 525, 2208,
  doi:10.1093/mnras/stad1573.
* Graf, R. L., Wetzel, A., Bailin, J., & Orr, M. E. 2024, arXiv:2410.21377
  (FIRE-2 Milky Way-mass galaxies; the compilation of observed MGARs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "CITATIONS",
    "DATASETS",
    "HEADLINES",
    "V21_TREND_LABEL",
    "Dataset",
    "datasets",
    "load",
    "overlay",
    "v21_trend",
]

#: Full reference of each source key.
CITATIONS: dict[str, str] = {
    "V21": "Vickers, Shen & Li 2021, ApJ, 922, 189 (doi:10.3847/1538-4357/ac27a9)",
    "C25": "Chen, Shen, Wang & Huang 2025 (LAMOST DR8 thin/thick-disk MGAR)",
    "Anders2023": "Anders, Gispert, Ratcliffe et al. 2023, A&A, 678, A158 (doi:10.1051/0004-6361/202346666)",
    "Ratcliffe2023": "Ratcliffe, Minchev, Anders et al. 2023, MNRAS, 525, 2208 (doi:10.1093/mnras/stad1573)",
    "Graf2024": "Graf, Wetzel, Bailin & Orr 2024, arXiv:2410.21377 (FIRE-2 Milky Way-mass galaxies)",
    "Lian2022": "Lian et al. 2022, as compiled by Graf et al. 2024 (arXiv:2410.21377)",
    "Lian2023": "Lian et al. 2023, as compiled by Graf et al. 2024 (arXiv:2410.21377)",
    "Willett2023": "Willett et al. 2023, as compiled by Graf et al. 2024 (arXiv:2410.21377)",
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
    return pd.DataFrame(
        {
            "age": ages,
            "gradient": grad,
            "population": population,
            "source": "V21",
            "label": V21_TREND_LABEL,
        }
    )


# ---------------------------------------------------------------------------------------
# Tables published by the authors
# ---------------------------------------------------------------------------------------

#: Columns of :func:`load`'s tables, in this order.
TABLE_COLUMNS = (
    "dataset", "source", "label", "kind", "sample", "population", "radius", "age_center",
    "age_lo", "age_hi", "gradient", "gradient_err_lo", "gradient_err_hi", "gradient_err",
    "citation",
)  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """One published MGAR (or birth-gradient history) held as package data.

    Attributes
    ----------
    name : str
        Key for :func:`load` and :func:`overlay`.
    kind : {"mgar", "birth_gradient", "simulation_mgar"}
        An observed present-day MGAR, a reconstructed gradient at birth against
        look-back time, or a simulation's present-day MGAR.
    label : str
        Legend label.
    sample : str
        Stars (or simulation) it was measured on; no published MGAR here separates
        the thin and thick disks, so each is drawn on the thin-disk panel.
    radius : str
        Radius the gradient is against: ``"R_g"`` (guiding radius), ``"R"``
        (present Galactocentric radius), ``"R_birth"``, or ``"as published"`` where
        the compilation does not say.
    citation : str
        Key of :data:`CITATIONS`.
    file : str
        File under ``mgar_bayes/literature/data``.
    """

    name: str
    kind: str
    label: str
    sample: str
    radius: str
    citation: str
    file: str


_ANDERS = "APOGEE DR17 red giants, XGBoost ages, 5 < R < 11 kpc, {z}"
_COMPILATION = "mgar_compilation_graf2024.csv"

#: Every dataset :func:`load` knows, by name.
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("anders2023", "mgar", "Anders+2023 (APOGEE DR17, |Z| < 0.3 kpc, all disk stars)",
                _ANDERS.format(z="|Z| < 0.3 kpc"), "R_g", "Anders2023",
                "anders2023_apogee_dr17_gradients_absZ_lt_0.3kpc.csv"),
        Dataset("anders2023_z1", "mgar", "Anders+2023 (APOGEE DR17, |Z| < 1 kpc, all disk stars)",
                _ANDERS.format(z="|Z| < 1 kpc"), "R_g", "Anders2023",
                "anders2023_apogee_dr17_gradients_absZ_lt_1kpc.csv"),
        Dataset("lian2022", "mgar", "Lian+2022 (APOGEE)", "APOGEE", "as published",
                "Lian2022", _COMPILATION),
        Dataset("lian2023", "mgar", "Lian+2023 (APOGEE)", "APOGEE", "as published",
                "Lian2023", _COMPILATION),
        Dataset("willett2023", "mgar", "Willett+2023 (APOGEE-Kepler)", "APOGEE-Kepler",
                "as published", "Willett2023", _COMPILATION),
        Dataset("v21_endpoints", "mgar", "V21 line (end points, Graf+2024)",
                "LAMOST DR5 thin disk", "R_g", "Graf2024", _COMPILATION),
        Dataset("fire2", "simulation_mgar", "FIRE-2 MGAR, {err} age errors (Graf+2024)",
                "11 FIRE-2 Milky Way-mass galaxies (mean)", "R", "Graf2024", _COMPILATION),
        Dataset("ratcliffe2023_birth", "birth_gradient",
                "Ratcliffe+2023 birth gradient (digitised by Anders+2023)",
                "APOGEE DR17 red giants, birth radii from [Fe/H] and age", "R_birth",
                "Ratcliffe2023", "ratcliffe2023_birth_gradient_digitised.csv"),
    )
}  # fmt: skip

# rows of the Graf et al. compilation that each dataset takes, by its "source" column
_COMPILATION_SOURCES = {
    "lian2022": ("Lian+2022",),
    "lian2023": ("Lian+2023",),
    "willett2023": ("Willett+2023",),
    "v21_endpoints": ("Vickers+2021",),
}
#: Assumed fractional age errors of the FIRE-2 MGARs (as labelled), by the compilation's source name.
FIRE2_AGE_ERRORS = {
    "FIRE delta t/t = 0": "no",
    "FIRE delta t/t = 10%": "10%",
    "FIRE delta t/t = 10% (Romeo)": "10% (Romeo)",
    "FIRE delta t/t = 25%": "25%",
}


@cache
def _read(file: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath("data", file).open("rb") as fh:
        return pd.read_csv(fh)


def datasets() -> pd.DataFrame:
    """The published tables held as package data.

    Returns
    -------
    pandas.DataFrame
        One row per dataset: ``name, kind, label, sample, radius, citation`` (the
        full reference) and ``file``.
    """
    rows = [
        {"name": d.name, "kind": d.kind, "label": d.label, "sample": d.sample,
         "radius": d.radius, "citation": CITATIONS[d.citation], "file": d.file}
        for d in DATASETS.values()
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"no published dataset {name!r}; choose from {', '.join(DATASETS)} "
        "(mgar_bayes.literature.datasets() describes them)"
    )


def load(name: str, *, radius: str = "R_g") -> pd.DataFrame:
    """One published MGAR (or birth-gradient history) as a tidy table.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    radius : {"R_g", "R"}
        For Anders et al. 2023 only, who give both: the gradient against the
        guiding radius (default, as this package measures) or against the present
        Galactocentric radius.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`: ``age_center`` [Gyr] (look-back time for a
        birth gradient), ``age_lo``/``age_hi`` [Gyr] where the source binned in age
        (NaN otherwise), ``gradient`` [dex/kpc] with lower/upper errors and their
        mean ``gradient_err`` [dex/kpc] (NaN where none was published), ``source``
        (one per line to draw: the four FIRE-2 age-error cases are four sources),
        and ``population`` ``"thin"`` (the panel it is compared with; ``sample``
        says which stars it holds).

    Raises
    ------
    ValueError
        For an unknown name or radius.
    """
    if name not in DATASETS:
        raise _unknown(name)
    if radius not in ("R_g", "R"):
        raise ValueError(f"radius must be 'R_g' or 'R', got {radius!r}")
    d = DATASETS[name]
    raw = _read(d.file)
    out_radius = d.radius
    if name.startswith("anders2023"):
        col = "grad_Rguide" if radius == "R_g" else "grad_Rgal"
        out_radius = radius
        t = pd.DataFrame({
            "source": name, "label": d.label if radius == "R_g" else d.label.replace(")", ", against R)"),
            "age_center": raw["age_center"], "age_lo": raw["age_lo"], "age_hi": raw["age_hi"],
            "gradient": raw[col], "gradient_err_lo": raw[f"{col}_errlo"],
            "gradient_err_hi": raw[f"{col}_errhi"],
        })  # fmt: skip
    elif name == "ratcliffe2023_birth":
        t = pd.DataFrame({
            "source": name, "label": d.label, "age_center": raw["lookback_time_gyr"],
            "gradient": raw["dfeh_dRbirth_dex_per_kpc"],
        })  # fmt: skip
    else:
        keep = tuple(FIRE2_AGE_ERRORS) if name == "fire2" else _COMPILATION_SOURCES[name]
        sub = raw.loc[raw["source"].isin(keep)]
        # the compilation writes 0 where a point has no published error
        sd = sub["gradient_sd"].astype(float).where(lambda s: s > 0)
        labels = (
            sub["source"].map(lambda s: d.label.format(err=FIRE2_AGE_ERRORS[s]))
            if name == "fire2" else d.label
        )  # fmt: skip
        t = pd.DataFrame({
            "source": sub["source"] if name == "fire2" else name, "label": labels,
            "age_center": sub["age_gyr"].astype(float), "gradient": sub["gradient_dex_per_kpc"].astype(float),
            "gradient_err_lo": sd, "gradient_err_hi": sd,
        })  # fmt: skip
    t = t.reset_index(drop=True)
    for c in ("age_lo", "age_hi", "gradient_err_lo", "gradient_err_hi"):
        if c not in t.columns:
            t[c] = np.nan
    t["gradient_err"] = 0.5 * (t["gradient_err_lo"] + t["gradient_err_hi"])
    t["dataset"], t["kind"], t["sample"] = name, d.kind, d.sample
    t["population"], t["radius"], t["citation"] = "thin", out_radius, CITATIONS[d.citation]
    return t.loc[:, list(TABLE_COLUMNS)]


def overlay(
    names, *, age_range: tuple[float, float] | None = None, radius: str = "R_g"
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Published MGARs as the ``reference`` and ``lines`` tables of :func:`~mgar_bayes.plots.plot_mgar`.

    Binned measurements with errors (Anders+2023, Lian+2022/2023) become points;
    lines and curves without errors (Willett+2023, FIRE-2, a birth gradient, V21)
    become lines. ``"v21"`` is V21's line from their text (:func:`v21_trend`, thin
    and thick disk).

    Parameters
    ----------
    names : iterable of str
        Keys of :data:`DATASETS`, or ``"v21"`` (drawn over V21's 1-12.25 Gyr).
    age_range : (float, float), optional
        Keep only ages [Gyr] inside it (V21's line is drawn over it).
    radius : {"R_g", "R"}
        Passed to :func:`load`.

    Returns
    -------
    reference, lines : pandas.DataFrame or None
        ``None`` where no dataset of that kind was asked for.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    points, lines = [], []
    for name in names:
        if name == "v21":
            # over the ages V21 binned (1-12.25 Gyr) that are also asked for
            lo, hi = HEADLINES["V21"]["thin"]["age_lo"], HEADLINES["V21"]["thin"]["age_hi"]
            if age_range is not None:
                lo, hi = max(lo, age_range[0]), min(hi, age_range[1])
            if hi > lo:
                lines += [
                    v21_trend(p, age_range=(lo, hi)).assign(kind="mgar") for p in ("thin", "thick")
                ]
            continue
        if name not in DATASETS:
            raise _unknown(name)
        t = load(name, radius=radius)
        if age_range is not None:
            t = t.loc[t["age_center"].between(*age_range)]
        if t.empty:
            continue
        if t["gradient_err"].notna().any() and DATASETS[name].kind == "mgar":
            points.append(t)
        else:
            lines.append(t.rename(columns={"age_center": "age"}))
    ref = pd.concat(points, ignore_index=True) if points else None
    lin = pd.concat(lines, ignore_index=True) if lines else None
    return ref, lin
