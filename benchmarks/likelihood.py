"""Cost of the per-bin [Fe/H] likelihood and its gradient, ns per star on one core (reported, never asserted).

Usage::

    .venv/bin/python benchmarks/likelihood.py               # 2,336 stars, as a C25-size thin-disk bin
    .venv/bin/python benchmarks/likelihood.py --n 5000

The sampler's log-density of one bin of the ``marginal`` model (C25's 1/P
inflation, R_g convolved as a Gaussian), value and gradient with respect to
(nabla, b, log sigma), evaluated 2,000 times inside one compiled loop so that
no Python dispatch is timed. Three ways to write the same function:

- ``formula``: the PyTensor/JAX formula of ``_math.truncnorm_logpdf_var``
  (two ``erfc``, two ``log``) differentiated by JAX;
- ``kernel``: the JAX kernel with one ``log`` per star and analytic derivatives,
  summed with ``where``;
- ``kernel_sum``: the summed kernel (logs of eight-star products), what the
  per-bin sampler runs.

Each is timed five times; the best is printed with the largest relative
difference of value and gradient from ``formula``.
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import numpy as np  # noqa: E402

from mgar_bayes.models import _math  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2336, help="stars in the bin")
    p.add_argument("--evals", type=int, default=2000, help="evaluations per timing")
    a = p.parse_args(argv)

    ops = _math.jax_ops()
    import jax
    import jax.numpy as jnp

    plain = SimpleNamespace(**{k: v for k, v in vars(ops).items() if not k.startswith("truncnorm")})
    rng = np.random.default_rng(0)
    n = a.n
    rg = rng.uniform(4.0, 16.0, n)
    p_own = rng.uniform(0.3, 1.0, n)
    d = {
        "feh": np.clip(-0.06 * (rg - 8.27) + 0.1 * rng.normal(size=n), -0.99, 0.49),
        "x": rg - 8.27,
        "rg_err2": np.full(n, 0.3**2),
        "ip2": p_own**-2,
        "e2_ip2": (0.05 / p_own) ** 2,
        "mask": np.arange(n) < n - 17,  # a few padded slots, as in the sampler
    }

    def moments(theta, d):
        g, b, s = theta[0], theta[1], jnp.exp(theta[2])
        return b + g * d["x"], s * s * d["ip2"] + d["e2_ip2"] + g * g * d["rg_err2"]

    def per_star(xp):
        def f(theta, d):
            mu, var = moments(theta, d)
            return jnp.where(d["mask"], _math.truncnorm_logpdf_var(d["feh"], mu, var, -1.0, 0.5, xp), 0.0).sum()

        return f

    def summed(theta, d):
        mu, var = moments(theta, d)
        return _math.truncnorm_logpdf_var_sum(d["feh"], mu, var, -1.0, 0.5, d["mask"], ops)

    variants = {"formula": per_star(plain), "kernel": per_star(ops), "kernel_sum": summed}
    theta0 = jnp.array([-0.06, 0.0, np.log(0.1)])
    ref = None
    print(f"{n} stars, value and gradient, {a.evals} evaluations per timing, best of 5")
    for name, f in variants.items():
        vg = jax.value_and_grad(f)

        @jax.jit
        def loop(theta, d, vg=vg):
            def body(i, c):
                v, g = vg(c[0] + 1e-9 * c[1], d)  # depends on the last gradient: nothing is hoisted
                return c[0], g, c[2] + v

            return jax.lax.fori_loop(0, a.evals, body, (theta, jnp.zeros(3), 0.0))

        jax.block_until_ready(loop(theta0, d))
        best = np.inf
        for _ in range(5):
            t = time.perf_counter()
            jax.block_until_ready(loop(theta0, d))
            best = min(best, time.perf_counter() - t)
        v, g = jax.jit(vg)(theta0, d)
        out = np.concatenate([[float(v)], np.asarray(g)])
        ref = out if ref is None else ref
        diff = np.max(np.abs(out - ref) / np.maximum(np.abs(ref), 1e-300))
        print(f"{name:11s} {best / a.evals / n * 1e9:6.1f} ns per star   max relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
