"""agent-gym: Gymnasium text environments for long-horizon LLM agents.

Importing the package registers the environment ids with Gymnasium::

    import gymnasium as gym
    import agent_gym  # noqa: F401

    env = gym.make("ALFWorld-Text-v0")

Environment modules are imported lazily by ``gym.make``, so importing
``agent_gym`` stays cheap and optional dependencies are only needed for the
environments you use.
"""

from __future__ import annotations

from agent_gym.core import COMMON_INFO_KEYS, FreeText, StepResult, TextEnv, text_env
from agent_gym.errors import (
    AgentGymError,
    BackendUnavailableError,
    DataNotFoundError,
    GameLoadError,
    InvalidTaskError,
    MissingDependencyError,
)
from agent_gym.registration import ENV_IDS, register_all

__version__ = "0.1.0"

register_all()

__all__ = [
    "COMMON_INFO_KEYS",
    "ENV_IDS",
    "AgentGymError",
    "BackendUnavailableError",
    "DataNotFoundError",
    "FreeText",
    "GameLoadError",
    "InvalidTaskError",
    "MissingDependencyError",
    "StepResult",
    "TextEnv",
    "text_env",
]
