"""Test helper: play an env's expert (``info["expert_action"]``) to the end of the episode."""

from __future__ import annotations

from typing import Any


def follow_expert(env: Any, info: dict[str, Any]) -> list[tuple[str, float]]:
    """Step with ``info["expert_action"]`` until terminated or truncated; ``(observation, reward)`` per step."""
    steps = []
    while True:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        steps.append((obs, reward))
        if terminated or truncated:
            return steps
