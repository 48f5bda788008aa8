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


def expert_replays_after_restore(env: Any, obs: str, info: dict[str, Any]) -> list[tuple[str, float]]:
    """Snapshot, play the expert to the end, restore, play it again: asserts both runs are equal; returns the run.

    ``obs`` and ``info`` are the env's current observation and info (what the restore must give back).
    """
    from wrappers import restore, snapshot

    state = snapshot(env)
    first = follow_expert(env, info)
    restored_obs, restored_info = restore(env, state)
    assert restored_obs == obs and restored_info == info
    second = follow_expert(env, restored_info)
    assert second == first
    return first
