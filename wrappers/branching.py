"""Snapshot and restore through a whole wrapper chain.

Environments expose ``env.unwrapped.snapshot()`` / ``restore(state)``. Wrappers
that keep their own per-episode state (like :class:`wrappers.HistoryWrapper`)
define ``snapshot``/``restore`` too and include the inner state. These two
functions find the outermost layer that can snapshot, and after a restore they
also resync Gymnasium's ``TimeLimit`` step counter, so branching works the same
on ``gym.make(id)`` and ``gym.make(id, max_episode_steps=N)``. ``restore``
returns ``(observation, info)`` as ``reset`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeGuard

import gymnasium as gym


class Branchable(Protocol):
    """A layer (env or wrapper) that can snapshot and restore its state."""

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> tuple[Any, dict[str, Any]]: ...


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


# Gymnasium's ``TimeLimit`` keeps its limit and its step counter in private fields
# (``_max_episode_steps``, ``_elapsed_steps``) and has no public name for either; these
# two helpers are the one place that touches them, through ``get/set_wrapper_attr``.
def time_limit(env: gym.Env) -> int | None:
    """The ``max_episode_steps`` of the ``TimeLimit`` in ``env``'s chain (``None`` without one).

    ``env.spec.max_episode_steps`` says the same for an env made with ``gym.make``;
    this also reads a ``TimeLimit`` applied by hand to an env without a spec.
    """
    if not env.has_wrapper_attr("_max_episode_steps"):
        return None
    return int(env.get_wrapper_attr("_max_episode_steps"))


def _sync_time_limit(env: gym.Env, elapsed_steps: int) -> None:
    """Set the ``TimeLimit`` counter to ``elapsed_steps`` (after a restore; no-op without a ``TimeLimit``)."""
    env.set_wrapper_attr("_elapsed_steps", elapsed_steps, force=False)


def snapshot(env: gym.Env) -> Any:
    """Opaque state of ``env`` and of every stateful wrapper around it."""
    return _first_branchable(env).snapshot()


def restore(env: gym.Env, state: Any) -> tuple[Any, dict[str, Any]]:
    """Return ``env`` (and its stateful wrappers) to ``state``; returns ``(observation, info)`` of that state."""
    obs, info = _first_branchable(env).restore(state)
    if env.has_wrapper_attr("elapsed_steps"):  # agent-gym envs count their steps (TextEnv.elapsed_steps)
        _sync_time_limit(env, int(env.get_wrapper_attr("elapsed_steps")))
    return obs, info
