"""Shared pytest configuration for the sipsans test suite.

The shared test corpus (RFC 4475 and RFC 5118 torture messages, packet captures) lives outside
the repository, in ``shared/corpus`` beside the repository folder; CI lays out a fresh clone the
same way. ``SIPSANS_CORPUS`` overrides the location.

Tests that need the corpus take the ``corpus_dir`` fixture. When the corpus is missing they
are skipped with a reason on a developer machine, and fail under ``CI=true``, so that CI can
never go green by silently testing nothing. Parametrised tests, which must list files at
collection time, use :func:`corpus_files`, which follows the same rule.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: The repository root (the folder holding pyproject.toml).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Where the shared corpus is expected: ``../shared/corpus`` relative to the repository root.
CORPUS = Path(os.environ.get("SIPSANS_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))

#: True when running under CI (``CI=true``): missing prerequisites fail instead of skipping.
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing_corpus_reason(path: Path) -> str:
    return (
        f"shared corpus not found at {path} (expected ../shared/corpus beside the repository,"
        " or set SIPSANS_CORPUS)"
    )


def require_corpus(subdir: str = "") -> Path:
    """Return ``CORPUS / subdir``; skip (locally) or fail (under CI=true) when it is missing.

    Call it from inside a test or fixture.
    """
    path = CORPUS / subdir if subdir else CORPUS
    if not path.is_dir():
        reason = _missing_corpus_reason(path)
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def corpus_files(subdir: str, pattern: str = "*") -> list[Path]:
    """List ``CORPUS/subdir/pattern`` at collection time, for ``pytest.mark.parametrize``.

    When the folder is missing this returns no files locally (pytest then reports the test as
    skipped for an empty parameter set); under CI=true it raises, which turns into a collection
    error, so a CI run without its corpus fails instead of passing vacuously.
    """
    path = CORPUS / subdir
    if not path.is_dir():
        if IN_CI:
            raise FileNotFoundError(_missing_corpus_reason(path))
        return []
    return sorted(p for p in path.glob(pattern) if p.is_file())


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus folder (``../shared/corpus``); see :func:`require_corpus`."""
    return require_corpus()


# Hypothesis: no per-example deadline (a 2-core CI machine running other work gives noisy
# timings, and we never assert on speed in tests). Under CI the run is derandomised, so a
# failure reproduces from the same commit, and the example database is not written.
settings.register_profile("sipsans-dev", deadline=None)
settings.register_profile(
    "sipsans-ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("SIPSANS_HYPOTHESIS_PROFILE", "sipsans-ci" if IN_CI else "sipsans-dev")
)
