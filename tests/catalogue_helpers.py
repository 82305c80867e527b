"""A small valid canonical star table for tests of readers and validation."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_catalogue(
    n: int = 20, seed: int = 1, *, id_start: int = 1000, index_start: int = 0, survey_extras: bool = True
) -> pd.DataFrame:
    """Random but valid heliocentric catalogue (units as in :mod:`mgar_bayes.schema`).

    ``survey_extras`` adds an ``evol_stage`` column and an unmapped ``extra`` column.
    """
    rng = np.random.default_rng(seed)
    cols = {
        "source_id": np.arange(id_start, id_start + n, dtype=np.int64),
        "ra": rng.uniform(0, 360, n),
        "dec": rng.uniform(-30, 80, n),
        "distance": rng.uniform(0.5, 5, n),
        "distance_err": rng.uniform(0.01, 0.3, n),
        "pmra": rng.normal(0, 5, n),
        "pmra_err": rng.uniform(0.01, 0.1, n),
        "pmdec": rng.normal(0, 5, n),
        "pmdec_err": rng.uniform(0.01, 0.1, n),
        "rv": rng.normal(0, 40, n),
        "rv_err": rng.uniform(1, 5, n),
        "feh": rng.normal(-0.2, 0.3, n),
        "feh_err": rng.uniform(0.02, 0.1, n),
        "afe": rng.normal(0.1, 0.08, n),
        "afe_err": rng.uniform(0.01, 0.05, n),
        "age": rng.uniform(1, 12, n),
        "age_err": rng.uniform(0.1, 2, n),
        "mass": rng.uniform(0.8, 2, n),
        "snr": rng.uniform(20, 200, n),
        "flag_feh": np.zeros(n, dtype=np.int64),
        "flag_afe": np.zeros(n, dtype=np.int64),
    }
    if survey_extras:
        cols["evol_stage"] = np.where(rng.random(n) < 0.5, "RGB", "RC")
        cols["extra"] = rng.normal(size=n)
    return pd.DataFrame(cols, index=pd.RangeIndex(index_start, index_start + n))
