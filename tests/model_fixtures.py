"""Session fixture with the tiny test model (import it in conftest or in a test module).

    from tests.model_fixtures import tiny_model_dir  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 model folder built once per test session (about 1 s after imports)."""
    pytest.importorskip("transformers", reason="the tiny model needs transformers (pip install 'agent-gym[train]')")
    from trainers.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")
