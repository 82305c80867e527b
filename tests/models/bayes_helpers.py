"""Helpers shared by the model tests (a uniquely named module, importable from tests/models)."""

import numpy as np

from mgar_bayes.models import SamplerConfig

# quick settings: the whole default run of tests/models must stay well under 3 minutes
FAST = SamplerConfig(backend="pymc", draws=200, tune=200, chains=2, cores=1, target_accept=0.9, log_likelihood=True)


def zscores(table, truth) -> np.ndarray:
    """(posterior mean - truth) / posterior sd per bin."""
    return ((table["gradient"] - truth.gradient[: len(table)]) / table["gradient_err"]).to_numpy()
