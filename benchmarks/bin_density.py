"""Cost of one bin's log-density and gradient as the per-bin NUTS sampler evaluates it (reported, never asserted).

Usage::

    .venv/bin/python benchmarks/bin_density.py                       # C25-size thin-disk bin
    .venv/bin/python benchmarks/bin_density.py --reference e0e4b29   # beside the route of that revision

The density of :func:`mgar_bayes.models._binwise.bin_log_density` (the PyMC
model of one bin through ``get_jaxified_graph``, the truncated-normal node's
fused JAX kernel) for the bin of a C25-size simulated thin disk with the most
stars, value and gradient in the sampler's coordinates, evaluated ``--evals``
times inside one compiled loop, so that no Python dispatch is timed; for each
R_g treatment of the shipped specs (``marginal``: gaussian, ``c25``: a
latent R_g per star, ``c25_integrated``). With ``--reference REV`` the same is
timed for ``mgar_bayes/models/_binwise.py`` of git revision ``REV`` (loaded
beside the current package; before the density was derived from the PyMC
model it was written by hand in JAX), interleaved with the current route, with
the largest difference of the two densities' differences between points and
of their gradients (the two may differ by a constant). Each is timed five
times; the best is printed. On a shared machine compare the ratio, not the
times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import numpy as np  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import (  # noqa: E402
    BinGradientModel,
    _binwise,  # noqa: E402
    load_model_spec,
    simulate_population,
)
from mgar_bayes.models._math import jax_ops  # noqa: E402
from mgar_bayes.models.gradient import prefit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def reference_module(rev: str):
    """``_binwise.py`` of git revision ``rev`` as a module of the current package (its relative imports resolve here)."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:mgar_bayes/models/_binwise.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    name = "mgar_bayes.models._binwise_reference"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "mgar_bayes.models"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:_binwise.py", "exec"), mod.__dict__)
    return mod


def one_bin(spec_name: str):
    """Blocks and data of the largest bin of a C25-size thin disk (benchmarks/c25_size.py's catalogue)."""
    bins = AgeBins.from_config()
    stars, _ = simulate_population(
        bins,
        n_per_bin=2130,
        rg_range=(4.0, 16.0),
        gradient_at_ref=-0.06,
        slope=0.004,
        population="thin",
        seed=21,
    )
    m = BinGradientModel(load_model_spec(spec_name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = m._prepare(stars, bins, population="thin")
    used, local = m._used_bins(data)
    blocks = _binwise.bin_blocks(data, m.priors, local, prefit(data, m.priors.r_ref), used)
    d = _binwise._device_arrays(blocks)
    k = int(np.argmax([blocks.groups[n]["mask"].sum(axis=1) for n in blocks.groups][0]))
    dk = {
        key: ({a: b[k] for a, b in v.items()} if isinstance(v, dict) else v[k])
        for key, v in d.items()
    }
    return m.priors, blocks, dk, int(sum(blocks.groups[n]["mask"][k].sum() for n in blocks.groups))


def timed(fn, params, dk, evals: int, repeats: int = 5) -> float:
    import jax
    import jax.numpy as jnp

    vg = jax.value_and_grad(fn)

    @jax.jit
    def loop(p, dk):
        def body(i, acc):
            q = jax.tree_util.tree_map(lambda x: x + 1e-9 * i, p)
            v, g = vg(q, dk)
            return acc + v + jax.tree_util.tree_reduce(lambda a, b: a + jnp.sum(b), g, 0.0)

        return jax.lax.fori_loop(0, evals, body, 0.0)

    loop(params, dk).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        loop(params, dk).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best / evals


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--evals", type=int, default=500, help="evaluations per timing")
    p.add_argument("--reference", help="git revision whose per-bin density is timed beside")
    p.add_argument("--specs", default="marginal,c25,c25_integrated")
    a = p.parse_args(argv)
    jax_ops()
    import jax

    ref = reference_module(a.reference) if a.reference else None
    print(f"one bin's log-density + gradient, us per evaluation ({a.evals} per timing, best of 5)")
    print(
        f"{'spec':16s} {'stars':>6s} {'derived':>9s}"
        + (f" {'ref':>9s} {'ratio':>6s} {'max|dlogp|':>11s} {'max|dgrad|':>11s}" if ref else "")
    )
    rng = np.random.default_rng(1)
    for name in a.specs.split(","):
        priors, blocks, dk, n = one_bin(name)
        _binwise.bin_density(blocks, priors)

        def params(blocks=blocks):
            out = {"theta": rng.normal(0.0, 0.5, 3)}
            for g in blocks.latent:
                out[f"z_{g}"] = rng.normal(0.0, 1.0, blocks.groups[g]["star"].shape[1])
            return out

        p0, p1 = params(), params()

        def new(q, dk, blocks=blocks, priors=priors):
            return _binwise.bin_log_density(q, dk, blocks, priors)

        line = f"{name:16s} {n:6d}"
        if ref is None:
            line += f" {1e6 * timed(new, p0, dk, a.evals):9.1f}"
        else:
            ref_blocks = ref.bin_blocks.__globals__["BinBlocks"](
                groups=blocks.groups,
                loc=blocks.loc,
                latent=blocks.latent,
                treatment=blocks.treatment,
            )

            def old(q, dk, blocks=ref_blocks, priors=priors):
                return ref.bin_log_density(q, dk, blocks, priors)

            t_new, t_old = [], []
            for _ in range(2):  # interleaved, so that load on a shared machine hits both
                t_new.append(timed(new, p0, dk, a.evals))
                t_old.append(timed(old, p0, dk, a.evals))
            t_new, t_old = min(t_new), min(t_old)
            dn = float(new(p1, dk) - new(p0, dk))
            do = float(old(p1, dk) - old(p0, dk))
            gn, go = jax.grad(new)(p0, dk), jax.grad(old)(p0, dk)
            dg = max(float(np.max(np.abs(np.asarray(gn[k]) - np.asarray(go[k])))) for k in gn)
            line += f" {1e6 * t_new:9.1f} {1e6 * t_old:9.1f} {t_new / t_old:6.2f} {abs(dn - do):11.2e} {dg:11.2e}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
