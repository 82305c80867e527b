"""Shared fixtures: a small seeded simulated catalogue and its pipeline run."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from mgar_bayes.config import OrbitConfig, PipelineConfig
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.pipeline import run_pipeline

SMALL_MOCK = MockConfig(n_stars=60_000, seed=7)


@pytest.fixture(scope="session")
def small_mock():
    """60,000 simulated stars with known truth (seeded)."""
    return generate_mock(SMALL_MOCK)


@pytest.fixture(scope="session")
def small_run(small_mock):
    """The full pipeline on the small mock, with 50 Monte-Carlo realisations."""
    cfg = PipelineConfig(orbits=OrbitConfig(n_mc=50, seed=3))
    return run_pipeline(small_mock.stars, cfg)
