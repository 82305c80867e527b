"""The MGAR line through per-bin gradients (C25 Fig. 3 / A1).

gradient_k ~ N(a + s (t_k - age_ref), sqrt(eps^2 + err_k^2)), with the
spec's ``trend_intercept``, ``trend_slope`` and ``trend_scatter`` priors on a, s
and eps (C25 Fig. A1 caption: N(0, 2), N(0, 2), HalfCauchy(5)), t_k the bin centre
[Gyr] and err_k the bin's own gradient uncertainty. s is the flattening rate
[dex/kpc/Gyr].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from ._math import Standardize
from .base import ModelBuilder, ModelInputError, hash_arrays, register_builder
from .config import ModelSpec, prior_variable
from .gradient import _line_prefit, _summary_stats, line_band

__all__ = ["MGARTrendModel", "TrendData"]


@dataclass(frozen=True)
class TrendData:
    """Per-bin gradients: age centre [Gyr], gradient and its error [dex/kpc], labels."""

    age: np.ndarray
    gradient: np.ndarray
    gradient_err: np.ndarray
    labels: np.ndarray
    population: str = ""


@register_builder("trend")
class MGARTrendModel(ModelBuilder):
    """Bayesian straight line through the per-bin gradients of one population.

    ``fit(table)`` takes a DataFrame with columns ``age_center``, ``gradient``,
    ``gradient_err`` (e.g. :meth:`BinGradientModel.gradient_table` or the OLS
    table of one population and method).
    """

    model_type: ClassVar[str] = "trend"
    default_spec: ClassVar[ModelSpec] = ModelSpec(name="trend", builder="trend")
    var_summary: ClassVar[tuple[str, ...]] = ("trend_intercept", "trend_slope", "trend_scatter")

    def _prepare(self, table: pd.DataFrame, *, population: str | None = None) -> TrendData:
        """Inputs of :meth:`fit`: the per-bin table (see the class docstring)."""
        if not isinstance(table, pd.DataFrame):
            raise ModelInputError(f"trend: expected a DataFrame, got {type(table).__name__}")
        missing = [c for c in ("age_center", "gradient", "gradient_err") if c not in table.columns]
        if missing:
            raise ModelInputError(f"trend: missing column(s) {missing}; present {list(table.columns)}")
        if population is not None and "population" in table.columns:
            table = table[table["population"] == population]
        arr = {c: table[c].to_numpy(dtype=float) for c in ("age_center", "gradient", "gradient_err")}
        ok = np.isfinite(arr["age_center"]) & np.isfinite(arr["gradient"]) & (arr["gradient_err"] > 0)
        if ok.sum() < 2:
            raise ModelInputError(f"trend: need >= 2 bins with finite gradient and error > 0, got {int(ok.sum())}")
        if "age_lo" in table.columns and "age_hi" in table.columns:
            labels = [f"{a:g}-{b:g}" for a, b in zip(table["age_lo"], table["age_hi"], strict=True)]
        else:
            labels = [f"{a:g}" for a in arr["age_center"]]
        return TrendData(
            age=arr["age_center"][ok],
            gradient=arr["gradient"][ok],
            gradient_err=arr["gradient_err"][ok],
            labels=np.asarray(labels)[ok],
            population=population or "",
        )

    def _build(self, data: TrendData) -> pm.Model:
        pr = self.priors
        a0, a_se, s0, s_se, eps0 = _line_prefit(data.age, data.gradient, data.gradient_err, pr.age_ref)
        with pm.Model(coords={"age_bin": data.labels}) as model:
            age = pm.Data("age_center", data.age, dims="age_bin")
            err = pm.Data("gradient_err", data.gradient_err, dims="age_bin")
            a = prior_variable(pr.trend_intercept, "trend_intercept", transform=Standardize(a0, a_se))
            s = prior_variable(pr.trend_slope, "trend_slope", transform=Standardize(s0, s_se))
            eps = prior_variable(
                pr.trend_scatter, "trend_scatter", transform=Standardize(np.log(max(eps0, 1e-3)), 1.0)
            )
            pm.Normal(
                "gradient",
                a + s * (age - pr.age_ref),
                pm.math.sqrt(eps**2 + err**2),
                observed=data.gradient,
                dims="age_bin",
            )
        return model

    @classmethod
    def _data_from_idata(cls, idata: az.InferenceData) -> TrendData:
        cd = idata.constant_data
        return TrendData(
            age=cd["age_center"].values,
            gradient=idata.observed_data["gradient"].values,
            gradient_err=cd["gradient_err"].values,
            labels=np.asarray(cd["age_bin"].values).astype(str),
            population=str(idata.attrs.get("population", "")),
        )

    def _data_hash(self, data: TrendData) -> str:
        return hash_arrays(
            {"age": data.age, "gradient": data.gradient, "err": data.gradient_err, "population": data.population}
        )

    def _extra_attrs(self, data: TrendData) -> dict[str, Any]:
        return {"population": data.population, "age_ref": float(self.priors.age_ref)}

    def flattening_rate(self) -> dict[str, float]:
        """Posterior of the slope s [dex/kpc/Gyr]: mean, sd, HDI (``report.hdi_prob``)."""
        return _summary_stats(self._require_idata().posterior["trend_slope"].values, self.report.hdi_prob)

    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Posterior mean and HDI of the line on ``ages`` [Gyr] (default: 50 ages over the data)."""
        if ages is None:
            ages = np.linspace(self.data.age.min() - 0.6, self.data.age.max() + 0.6, 50)
        return line_band(self._require_idata(), ages, age_ref=self.structure.age_ref, hdi_prob=self.report.hdi_prob)
