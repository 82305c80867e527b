"""Fits of several disk populations as one InferenceData with a ``population`` dim.

Each fit covers one population (``mgar fit`` writes one file per population)
and carries its name as a scalar ``population`` coordinate on every group.
:func:`stack_populations` joins fits of one model for plots and tables across
the disks: per-bin and per-line quantities gain a ``population`` dim, per-star
ones are joined along ``star``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["stack_populations", "STAR_POPULATION"]

#: Coordinate along ``star`` naming each star's population in a stacked InferenceData.
STAR_POPULATION = "star_population"


def _idata(fit: Any) -> az.InferenceData:
    idata = getattr(fit, "idata", fit)
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"expected an InferenceData or a fitted model builder, got {type(fit).__name__}")
    return idata


def _population(idata: az.InferenceData, key: str | None) -> str:
    coord = idata.posterior.coords.get("population")
    name = str(coord.item()) if coord is not None and coord.ndim == 0 else None
    if name is None:
        if key is None:
            raise ValueError("a fit has no 'population' coordinate: pass the fits as a mapping {population: fit}")
        return key
    if key is not None and key != name:
        raise ValueError(f"fit given as {key!r} is of population {name!r}")
    return name


def _common_attrs(attrs: list[dict]) -> dict:
    """The attributes every one of ``attrs`` has with the same value."""
    return {k: v for k, v in attrs[0].items() if all(a.get(k) == v for a in attrs[1:])}


def _stack_group(dss: list[xr.Dataset], pops: list[str]) -> xr.Dataset:
    dss = [ds.drop_vars("population", errors="ignore") for ds in dss]
    star_vars = [v for v in dss[0].data_vars if "star" in dss[0][v].dims]
    other = [v for v in dss[0].data_vars if v not in star_vars]
    parts = []
    if other:
        idx = xr.DataArray(pops, dims="population", name="population")
        parts.append(xr.concat([ds[other] for ds in dss], dim=idx, join="outer"))
    if star_vars:
        per_star = [
            ds[star_vars].assign_coords({STAR_POPULATION: ("star", np.full(ds.sizes["star"], pop))})
            for ds, pop in zip(dss, pops, strict=True)
        ]
        parts.append(xr.concat(per_star, dim="star", join="outer"))
    # ArviZ's layout: chain and draw first
    out = xr.merge(parts, join="outer", combine_attrs="drop").transpose("chain", "draw", ..., missing_dims="ignore")
    out.attrs = _common_attrs([ds.attrs for ds in dss])
    return out


def stack_populations(fits: Mapping[str, Any] | Iterable[Any]) -> az.InferenceData:
    """Join per-population fits of one model into one InferenceData.

    Parameters
    ----------
    fits : mapping of str to fit, or iterable of fits
        Each fit an ``InferenceData`` (as ``fit()`` returns it or
        ``posterior_<population>_<model>.nc`` holds it) or a fitted builder.
        Without a mapping, each fit's ``population`` coordinate names it.

    Returns
    -------
    arviz.InferenceData
        Every group the fits share. Variables without a ``star`` dim (the
        posterior of each bin and line, sample stats, per-bin data) get a
        ``population`` dim after ``chain, draw``, aligned on their other coordinates: NaN
        where a population has no such bin. Variables with a ``star`` dim
        (log-likelihood, observed [Fe/H], per-star data) are joined along
        ``star``, whose coordinate :data:`STAR_POPULATION` names each
        star's population. ``attrs``: those equal in every fit, plus
        ``populations`` (JSON list).

    Raises
    ------
    ValueError
        No fits, two fits of one population, fits of different models, or a
        fit whose population is unknown.
    """
    items = list(fits.items()) if isinstance(fits, Mapping) else [(None, f) for f in fits]
    if not items:
        raise ValueError("no fits to stack")
    idatas = [_idata(f) for _, f in items]
    pops = [_population(idata, key) for (key, _), idata in zip(items, idatas, strict=True)]
    if len(set(pops)) != len(pops):
        raise ValueError(f"each population may be given once, got {pops}")
    models = {idata.attrs.get("model_name", idata.attrs.get("model")) for idata in idatas}
    if len(models) > 1:
        raise ValueError(f"fits of different models cannot be stacked: {sorted(map(str, models))}")
    groups = [g for g in idatas[0].groups() if all(g in idata.groups() for idata in idatas)]
    out = az.InferenceData(**{g: _stack_group([getattr(i, g) for i in idatas], pops) for g in groups})
    out.attrs.update(_common_attrs([i.attrs for i in idatas]) | {"populations": json.dumps(pops)})
    return out
