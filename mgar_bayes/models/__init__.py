"""Bayesian models of the metallicity gradient-age relation (MGAR).

Builders (all share :class:`~mgar_bayes.models.base.ModelBuilder`: ``fit``,
``save``/``load``, ``diagnostics``, frozen configs, ``pm.Data`` + named dims):

- :class:`BinGradientModel`: C25 Appendix A, per age bin (``models/c25.toml``;
  fast variant with R_g integrated out: ``models/marginal.toml``);
- :class:`HierarchicalMGARModel`: all bins jointly around a line in age, age
  errors as a mixture over bins (``models/hierarchical.toml``);
- :class:`SmoothMGARModel`: the hierarchical model with the gradient a smooth
  function of age over fine bins, a line plus a Gaussian process
  (``models/smooth.toml``); :func:`compare_loo` compares it with the line;
- :class:`MGARTrendModel`: the line through per-bin gradients (C25 Fig. 3).

:func:`~mgar_bayes.models.runner.run_fit` runs them for ``mgar fit``;
:func:`compare_with_ols`, :func:`prior_sensitivity` and :func:`compare_loo` (PSIS-LOO,
``az.compare``) compare fits;
:func:`stack_populations` joins the fits of the thin and thick disks into one
InferenceData with a ``population`` dim.
"""

from .base import (
    DroppedStarsWarning,
    ModelBuilder,
    ModelInputError,
    NotConvergedWarning,
    StarData,
    builder_class,
    diagnostics_table,
    prepare_stars,
    register_builder,
)
from .compare import (  # noqa: E402
    compare_loo,
    compare_with_ols,
    power_scaling_sensitivity,
    prior_sensitivity,
)
from .config import (
    DataConfig,
    ModelSpec,
    Prior,
    PriorConfig,
    ReportConfig,
    SamplerConfig,
    SpecLayoutWarning,
    StructureConfig,
    available_specs,
    load_model_spec,
    spec_from_dict,
)
from .gradient import TABLE_COLUMNS, BinGradientModel, HierarchicalMGARModel, line_band
from .populations import stack_populations
from .simulate import SimTruth, TwoDiskTruth, simulate_population, simulate_two_disks
from .smooth import SmoothMGARModel  # noqa: E402
from .trend import MGARTrendModel
from .twodisk import TwoDiskModel  # noqa: E402

__all__ = [
    "BinGradientModel",
    "HierarchicalMGARModel",
    "MGARTrendModel",
    "TwoDiskModel",
    "SmoothMGARModel",
    "ModelBuilder",
    "ModelSpec",
    "Prior",
    "PriorConfig",
    "StructureConfig",
    "DataConfig",
    "ReportConfig",
    "SpecLayoutWarning",
    "SamplerConfig",
    "StarData",
    "ModelInputError",
    "DroppedStarsWarning",
    "NotConvergedWarning",
    "TABLE_COLUMNS",
    "available_specs",
    "load_model_spec",
    "spec_from_dict",
    "prepare_stars",
    "diagnostics_table",
    "line_band",
    "simulate_population",
    "simulate_two_disks",
    "SimTruth",
    "TwoDiskTruth",
    "builder_for",
    "builder_class",
    "register_builder",
    "compare_with_ols",
    "compare_loo",
    "prior_sensitivity",
    "power_scaling_sensitivity",
    "stack_populations",
]


def builder_for(spec: ModelSpec | str) -> ModelBuilder:
    """A builder instance for a spec (or a spec name / TOML path), from the one builder registry."""
    if isinstance(spec, str):
        spec = load_model_spec(spec)
    return builder_class(spec.builder)(spec)
