"""Snapshot and restore through a whole wrapper chain.

Environments expose ``env.unwrapped.snapshot()`` / ``restore(state)``. Wrappers
that keep their own per-episode state (like :class:`wrappers.HistoryWrapper`)
define ``snapshot``/``restore`` too and include the inner state. These two
functions find the outermost layer that can snapshot, and after a restore they
also resync Gymnasium's ``TimeLimit`` step counter, so branching works the same
on ``gym.make(id)`` and ``gym.make(id, max_episode_steps=N)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeGuard

import gymnasium as gym


class Branchable(Protocol):
    """A layer (env or wrapper) that can snapshot and restore its state."""

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> Any: ...


def _can_branch(layer: gym.Env) -> TypeGuard[Branchable]:
    return "snapshot" in dir(type(layer)) and "restore" in dir(type(layer))


def layers(env: gym.Env) -> Iterator[gym.Env]:
    """``env`` and every layer under it, outermost first (the last one is the unwrapped env)."""
    while True:
        yield env
        if not isinstance(env, gym.Wrapper):
            return
        env = env.env


def _first_branchable(env: gym.Env) -> Branchable:
    for layer in layers(env):
        if _can_branch(layer):
            return layer
    raise TypeError(f"no layer of {env} supports snapshot()/restore()")


def snapshot(env: gym.Env) -> Any:
    """Opaque state of ``env`` and of every stateful wrapper around it."""
    return _first_branchable(env).snapshot()


def restore(env: gym.Env, state: Any) -> Any:
    """Return ``env`` (and its stateful wrappers) to ``state``; returns the layer's restore result."""
    result = _first_branchable(env).restore(state)
    elapsed = getattr(env.unwrapped, "elapsed_steps", None)
    if elapsed is not None:
        for layer in layers(env):
            if isinstance(layer, gym.wrappers.TimeLimit):
                layer._elapsed_steps = elapsed
    return result
