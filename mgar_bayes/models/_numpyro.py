"""NUTS from numpyro on a PyMC model's JAX log-density, with little fixed cost.

PyMC's own route (``pm.sample(nuts_sampler="numpyro")``) evaluates the
log-density op by op, uncompiled, to check its jittered starting points and
compiles each post-processing step separately; for the models here that fixed
cost (10-70 s) was larger than the sampling itself. This module does the same
steps with PyMC's public JAX tools (``get_jaxified_logp``,
``get_jaxified_graph``) and numpyro's ``MCMC``: one compiled check of the
starting points, one vectorised pass for the constrained draws and the
pointwise log-likelihood, and the same ``InferenceData`` layout as PyMC's
(groups, coords, dims, sample-stat names).

:class:`FitProgress` is what every sampler route shows the user while a fit
runs (on stderr, nothing at all when disabled).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_constants, find_observations
from pymc.util import get_default_varnames

from ._math import standardized_start

__all__ = ["FitProgress", "prepare_jax", "sample_numpyro", "model_idata"]

log = logging.getLogger(__name__)

#: numpyro extra field -> PyMC sample-stat name
_STATS = {
    "diverging": "diverging",
    "num_steps": "n_steps",
    "accept_prob": "acceptance_rate",
    "adapt_state.step_size": "step_size",
    "energy": "energy",
    "potential_energy": "lp",
}


class FitProgress:
    """What one fit shows while it runs: timed steps and progress bars on stderr.

    Every line starts with ``label`` (model and population, e.g.
    ``"marginal thin"``), so that the lines of a run over several populations
    and models tell which fit they belong to. Disabled, it writes nothing.

    Parameters
    ----------
    label : str
        Model and population of the fit.
    enabled : bool
        Show anything at all.

    Examples
    --------
    >>> report = FitProgress("marginal thin", enabled=False)
    >>> with report.step("compiling the sampler"):
    ...     pass
    >>> bar = report.bar(1500, "warm-up")
    >>> bar.update(1500); bar.close()
    """

    def __init__(self, label: str, enabled: bool):
        self.label = label.strip() or "fit"
        self.enabled = bool(enabled)

    def note(self, message: str) -> None:
        """One line, e.g. what is about to be sampled."""
        if self.enabled:
            print(f"{self.label}: {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Announce ``what`` on entry and its duration on exit ("what ... done in 3.1 s")."""
        if not self.enabled:
            yield
            return
        print(f"{self.label}: {what} ...", end="", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            yield
        except BaseException:
            print(" failed", file=sys.stderr, flush=True)
            raise
        print(f" done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    def bar(self, total: int, phase: str):
        """A tqdm bar over ``total`` iterations (elapsed time, rate, time left); a silent one when disabled.

        Change the phase shown with :meth:`describe`.
        """
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            desc=self.describe(phase),
            unit="it",
            file=sys.stderr,
            disable=not self.enabled,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def describe(self, phase: str) -> str:
        """A bar's description for ``phase`` ("marginal thin: sampling")."""
        return f"{self.label}: {phase}"


def prepare_jax(chains: int) -> str:
    """Import JAX in double precision with one host device per chain when possible.

    Returns ``"parallel"`` when every chain gets its own device, else
    ``"sequential"``.
    """
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={chains}".strip()
    try:
        import jax
        import numpyro  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "sampler.backend = 'numpyro' needs jax and numpyro: pip install numpyro jax"
        ) from exc
    jax.config.update("jax_enable_x64", True)
    return "parallel" if jax.local_device_count() >= chains else "sequential"


def _initial_points(model: pm.Model, potential, chains: int, seed: int, tries: int = 20) -> list[np.ndarray]:
    """Pre-fit start plus uniform(-0.5, 0.5) jitter in the sampler's coordinates, one per chain.

    Jitter that lands where the log-density is not finite is redrawn; after
    ``tries`` failures the chain starts at the un-jittered point.
    """
    import jax

    names = [v.name for v in model.value_vars]
    start = standardized_start(model)
    base = [np.asarray(start[name], dtype=float) for name in names]
    check = jax.jit(potential)
    if not np.isfinite(float(check(base))):
        raise pm.exceptions.SamplingError("the model's log-density is not finite at its initial point")
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(chains):
        for _ in range(tries):
            trial = [b + rng.uniform(-0.5, 0.5, size=b.shape) for b in base]
            if np.isfinite(float(check(trial))):
                break
        else:
            trial = base
        points.append(trial)
    return [np.stack([p[i] for p in points]) for i in range(len(names))]


def sample_numpyro(
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    max_tree_depth: int = 10,
    seed: int,
    progress: bool = False,
    log_likelihood: bool = True,
    label: str = "",
    potential=None,
    pointwise: dict | None = None,
    dense_mass: bool = False,
) -> az.InferenceData:
    """Sample ``model`` with numpyro's NUTS (mass matrix adapted in warm-up).

    Parameters
    ----------
    model : pymc.Model
    draws, tune, chains : int
        Draws and warm-up steps per chain, number of chains.
    target_accept : float
        NUTS target acceptance probability.
    max_tree_depth : int
        Most trajectory doublings per draw.
    seed : int
        Seed of the jitter and of the sampler.
    progress : bool
        Show the compilation of the log-density, numpyro's own warm-up and
        sampling bars (one per chain, with the time left; numpyro compiles
        the sampler under them) and the post-processing on stderr; nothing
        when False.
    log_likelihood : bool
        Add the pointwise log-likelihood of every observed variable.
    label : str
        Model and population, the start of every progress line.
    potential : callable, optional
        -log p as a JAX function of the list of the model's value variables
        (default: PyMC's ``get_jaxified_logp`` of the model); given, it must
        equal the model's own (the builders' tests check it).
    pointwise : dict, optional
        Observed variable name -> JAX function of the value variables giving
        its per-observation log-likelihood (default: from the model's
        graph); evaluated draw by draw, so memory stays that of one draw.
    dense_mass : bool
        Adapt a dense mass matrix (for models with few, correlated
        parameters) instead of a diagonal one.

    Returns
    -------
    arviz.InferenceData
        ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``
        and (optionally) ``log_likelihood``, as ``pm.sample`` returns them.
    """
    report = FitProgress(label, progress)
    method = prepare_jax(chains)
    import jax
    from numpyro.infer import MCMC, NUTS
    from pymc.sampling.jax import get_jaxified_graph, get_jaxified_logp

    report.note(
        f"{chains} chains ({'in parallel' if method == 'parallel' else 'one after another'}), "
        f"{tune} warm-up + {draws} draws each (NUTS, numpyro)"
    )
    # PyMC's naming: negative_logp=False gives the potential energy, -log p (as PyMC's own numpyro route uses it)
    t0 = time.perf_counter()
    with report.step("compiling the log-density"):
        if potential is None:
            potential = get_jaxified_logp(model, negative_logp=False)
        init = _initial_points(model, potential, chains, seed)
    t1 = time.perf_counter()
    mcmc = MCMC(
        NUTS(
            potential_fn=potential,
            target_accept_prob=target_accept,
            max_tree_depth=max_tree_depth,
            dense_mass=dense_mass,
        ),
        num_warmup=tune,
        num_samples=draws,
        num_chains=chains,
        chain_method=method,
        progress_bar=progress,
    )
    key = jax.random.PRNGKey(seed)
    if chains == 1:
        init = [i[0] for i in init]
    else:
        key = jax.random.split(key, chains)
    mcmc.run(key, init_params=init, extra_fields=tuple(_STATS))
    raw = mcmc.get_samples(group_by_chain=True)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    jax.block_until_ready(raw)
    t2 = time.perf_counter()
    report.note(f"sampled in {t2 - t1:.1f} s (compilation included)")

    def over_draws(fn):
        return jax.jit(jax.vmap(jax.vmap(fn)))

    with report.step("constrained draws" + (" and log-likelihood" if log_likelihood else "")):
        out_vars = get_default_varnames(model.unobserved_value_vars, include_transformed=False)
        constrained = over_draws(get_jaxified_graph(inputs=model.value_vars, outputs=out_vars))
        posterior = {v.name: np.asarray(r) for v, r in zip(out_vars, constrained(*raw), strict=True)}
        groups: dict[str, Any] = {}
        if log_likelihood and pointwise is not None:
            groups["log_likelihood"] = {
                name: np.asarray(jax.jit(jax.vmap(lambda x, f=fn: jax.lax.map(f, x)))(raw))
                for name, fn in pointwise.items()
            }
        elif log_likelihood and model.observed_RVs:
            pointwise = get_jaxified_graph(
                inputs=model.value_vars, outputs=model.logp(model.observed_RVs, sum=False)
            )
            groups["log_likelihood"] = {
                v.name: np.asarray(r)
                for v, r in zip(model.observed_RVs, over_draws(pointwise)(*raw), strict=True)
            }
    stats = {_STATS[k]: np.asarray(v) for k, v in extra.items()}
    stats["lp"] = -stats["lp"]
    stats["tree_depth"] = np.log2(stats["n_steps"] + 1.0).round().astype(int)
    attrs = {"inference_library": "numpyro", "tuning_steps": int(tune), "sampling_time": t2 - t1}
    log.info(
        "numpyro: set-up %.1f s, warm-up + sampling %.1f s (mean %.1f leapfrog steps), post-processing %.1f s",
        t1 - t0,
        t2 - t1,
        float(stats["n_steps"].mean()),
        time.perf_counter() - t2,
    )
    return model_idata(model, posterior, stats, attrs, **groups)


def model_idata(model: pm.Model, posterior: dict, stats: dict, attrs: dict, dims: dict | None = None, **groups):
    """InferenceData in ``pm.sample``'s layout: the model's coords, dims, observed and constant data.

    ``dims`` adds dims of variables the model does not know (e.g. per-bin sample stats).
    """
    coords, model_dims = coords_and_dims_for_inferencedata(model)
    return az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        observed_data=find_observations(model),
        constant_data=find_constants(model),
        coords=coords,
        dims={**model_dims, **(dims or {})},
        attrs=attrs,
        **groups,
    )
