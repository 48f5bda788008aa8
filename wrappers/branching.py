"""Snapshot and restore through a whole wrapper chain.

Environments expose ``env.unwrapped.snapshot()`` / ``restore(state)``. Wrappers
that keep their own per-episode state (like :class:`wrappers.HistoryWrapper`)
define ``snapshot``/``restore`` too and include the inner state. These two
functions call the outermost layer's (found with Gymnasium's ``get_wrapper_attr``), and after a restore they
also resync Gymnasium's ``TimeLimit`` step counter, so branching works the same
on ``gym.make(id)`` and ``gym.make(id, max_episode_steps=N)``. ``restore``
returns ``(observation, info)`` as ``reset`` does.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def _layer_method(env: gym.Env, name: str) -> Any:
    """``name`` of the outermost layer that defines it (the env's own, or a stateful wrapper's that includes it)."""
    if not env.has_wrapper_attr(name):
        raise TypeError(f"no layer of {env} supports snapshot()/restore()")
    return env.get_wrapper_attr(name)


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
    return _layer_method(env, "snapshot")()


def restore(env: gym.Env, state: Any) -> tuple[Any, dict[str, Any]]:
    """Return ``env`` (and its stateful wrappers) to ``state``; returns ``(observation, info)`` of that state."""
    obs, info = _layer_method(env, "restore")(state)
    if env.has_wrapper_attr("elapsed_steps"):  # agent-gym envs count their steps (TextEnv.elapsed_steps)
        _sync_time_limit(env, int(env.get_wrapper_attr("elapsed_steps")))
    return obs, info
