"""The rollout loop's environments: :func:`make_env` and the step limit.

:func:`make_env` is ``HistoryWrapper(gym.make(env_id, **env_kwargs))`` with a
one-line error for an unknown id or argument. The step limit has one authority,
the env's own (its ``TimeLimit``, from ``gym.make(id, max_episode_steps=N)``):
:func:`with_step_limit` puts a requested ``max_steps`` into the ``gym.make``
arguments, :func:`step_limit` reads the limit in force and
:func:`check_step_limit` refuses an env whose limit differs from a request.
Re-exported by :mod:`trainers.rollout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from wrappers.branching import time_limit
from wrappers.history import HistoryWrapper


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None, history_k: int = 4) -> HistoryWrapper:
    """``HistoryWrapper(gym.make(env_id, **env_kwargs), max_k=history_k)``."""
    import agent_gym  # noqa: F401  (registers the ids)

    if env_id not in gym.registry:
        known = ", ".join(sorted(k for k in gym.registry if "-v" in k and ("AgentGym" in k or k in agent_gym.ENV_IDS)))
        raise agent_gym.InvalidTaskError(f"unknown env id {env_id!r}; known agent-gym ids: {known}")
    kwargs = dict(env_kwargs or {})
    try:
        env = gym.make(env_id, **kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ValueError(f"{env_id} does not accept {_unknown_env_kwargs(env_id, kwargs)}") from exc
    return HistoryWrapper(env, max_k=history_k)


def with_step_limit(env_kwargs: Mapping[str, Any] | None, max_steps: int | None) -> dict[str, Any]:
    """``env_kwargs`` with ``max_episode_steps=max_steps`` for ``gym.make`` (``ValueError`` if they disagree)."""
    kwargs = dict(env_kwargs or {})
    if max_steps is None:
        return kwargs
    if kwargs.get("max_episode_steps") not in (None, max_steps):
        raise ValueError(
            f"max_steps={max_steps} disagrees with env_kwargs max_episode_steps="
            f"{kwargs['max_episode_steps']}; set one of them"
        )
    kwargs["max_episode_steps"] = int(max_steps)
    return kwargs


def _unknown_env_kwargs(env_id: str, kwargs: Mapping[str, Any]) -> str:
    """``"bogus=...; it takes: a, b, c"`` for an error message about ``gym.make(env_id, **kwargs)``."""
    import inspect

    from gymnasium.envs.registration import load_env_creator

    entry = gym.registry[env_id].entry_point
    try:
        creator = load_env_creator(entry) if isinstance(entry, str) else entry
        params = inspect.signature(creator).parameters  # type: ignore[arg-type]  # None: TypeError, caught
    except (TypeError, ValueError, ImportError, AttributeError):  # pragma: no cover - unusual entry points
        return "these arguments"
    accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n != "self"]
    unknown = sorted(set(kwargs) - set(accepted) - {"max_episode_steps", "disable_env_checker"})
    return f"{', '.join(unknown) or 'an argument'} (it takes: {', '.join(accepted)})"


def step_limit(env: gym.Env) -> int:
    """The step limit in force for ``env``: its ``TimeLimit`` wrapper's, else the env's own.

    Raises ``ValueError`` for an env without any limit (an episode could run forever).
    """
    limit = time_limit(env)
    if limit is not None:
        return limit
    own = getattr(env.unwrapped, "max_episode_steps", None)
    if not own:
        raise ValueError(
            f"{type(env.unwrapped).__name__} has no step limit; make it with "
            "gym.make(id, max_episode_steps=N) (trainers.rollout.make_env does)"
        )
    return int(own)


def check_step_limit(env: gym.Env, max_steps: int | None) -> None:
    """Raise ``ValueError`` when a requested ``max_steps`` differs from ``env``'s limit (never silently capped)."""
    if max_steps is not None and max_steps != step_limit(env):
        raise ValueError(
            f"max_steps={max_steps} but the env's step limit is {step_limit(env)}; the limit comes "
            f"from the env: make it with gym.make(id, max_episode_steps={max_steps})"
        )


__all__ = ["check_step_limit", "make_env", "step_limit", "with_step_limit"]
