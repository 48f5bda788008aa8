"""Shared test fixtures: paths to ../shared/data and thread settings."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AGENT_GYM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the test with a clear reason when absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real benchmark data not found at {path} (set AGENT_GYM_SHARED_DATA)")
    return path


def require_installed(*modules: str, hint: str) -> None:
    """Skip the test when one of ``modules`` is not installed at all; import them otherwise.

    Unlike ``pytest.importorskip``, an installed module whose import fails (a broken
    install, a missing dependency of it) fails the test instead of skipping it.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed ({hint})")
    for module in modules:
        importlib.import_module(module)


@pytest.fixture(scope="session")
def alfworld_data_root() -> Path:
    """Root folder holding json_2.1.1/valid_seen (the official ALFWorld games)."""
    return shared_data("alfworld", "json_2.1.1", "valid_seen").parents[1]


@pytest.fixture(scope="session")
def intercode_data_dir() -> Path:
    return shared_data("intercode")


@pytest.fixture(scope="session")
def webshop_data_dir() -> Path:
    return shared_data("webshop")


from tests.model_fixtures import smollm2_dir, tiny_model_dir  # noqa: E402,F401  (session-scoped models)
