"""The toy env of the tests: the diagnostic corridor env (:mod:`agent_gym.diagnostic.corridor`), re-exported.

Tests register it under their own ids with :func:`register_toy` (``entry_point="tests.toy_env:CorridorEnv"``).
"""

import gymnasium as gym

from agent_gym.diagnostic.corridor import CorridorEnv
from agent_gym.registration import register_text_env


def register_toy(env_id: str, max_episode_steps: int = 12) -> None:
    """Register the corridor under ``env_id`` as agent-gym's own ids are (once; one step-limit authority)."""
    if env_id not in gym.registry:
        register_text_env(env_id, "tests.toy_env:CorridorEnv", max_episode_steps)


__all__ = ["CorridorEnv", "register_toy"]
