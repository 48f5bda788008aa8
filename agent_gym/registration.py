"""Gymnasium ids of the agent-gym environments.

Entry points are strings, so an environment's module (and its optional
dependencies) is imported only when that environment is made.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

#: id -> entry point
ENV_IDS: dict[str, str] = {
    "ALFWorld-Text-v0": "agent_gym.alfworld.env:ALFWorldTextEnv",
    "InterCodeSQL-v0": "agent_gym.sql.env:InterCodeSQLEnv",
    "WebShop-Text-v0": "agent_gym.webshop.env_text:WebShopTextEnv",
    "WebShop-Browser-v0": "agent_gym.webshop.env_browser:WebShopBrowserEnv",
    # diagnostic: a tiny engine-free env for testing trainers, not a benchmark
    "Corridor-Text-v0": "agent_gym.diagnostic.corridor:CorridorEnv",
}

#: id -> default step limit (the benchmarks' standard settings; the corridor's own default).
#: The one place that holds them: ``gym.make``'s ``TimeLimit`` and a directly constructed
#: env (``max_episode_steps="default"``) both read it.
DEFAULT_STEP_LIMITS: dict[str, int] = {
    "ALFWorld-Text-v0": 30,
    "InterCodeSQL-v0": 10,
    "WebShop-Text-v0": 10,
    "WebShop-Browser-v0": 10,
    "Corridor-Text-v0": 12,
}


def default_step_limit(env: str | type) -> int:
    """The default step limit of a registered id, or of a registered env class (or a subclass of one)."""
    if isinstance(env, str):
        if env not in DEFAULT_STEP_LIMITS:
            raise ValueError(f"{env!r} is not an agent-gym env id; known: {', '.join(DEFAULT_STEP_LIMITS)}")
        return DEFAULT_STEP_LIMITS[env]
    for cls in env.__mro__:
        for env_id, entry_point in ENV_IDS.items():
            if entry_point == f"{cls.__module__}:{cls.__qualname__}":
                return DEFAULT_STEP_LIMITS[env_id]
    raise ValueError(f"{env.__name__} has no registered default step limit; pass max_episode_steps=N (or None)")


def register_all() -> None:
    """Register every id once (safe to call repeatedly).

    Through ``gym.make`` the step limit has one authority, Gymnasium's ``TimeLimit``
    with the benchmark's default (``gym.make(id, max_episode_steps=N)`` overrides it).
    The env is made with no limit of its own, and :class:`agent_gym.core.StepLimitSync`
    (applied on top of the ``TimeLimit``) hands it that same limit, so the env truncates
    at the same step and refuses a step after truncation exactly as a directly
    constructed env does. :func:`wrappers.restore` keeps ``TimeLimit``'s counter in
    sync after a restore. Constructing an env class directly uses
    :data:`DEFAULT_STEP_LIMITS` (or its ``max_episode_steps`` argument).

    Gymnasium's passive env checker is off: the envs are checked by
    ``gymnasium.utils.env_checker.check_env`` in the tests, and the passive
    checker of Gymnasium 1.4 breaks every later ``step`` when the first
    ``reset`` raises (e.g. on an unknown task id).
    """
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            register_text_env(env_id, entry_point, DEFAULT_STEP_LIMITS[env_id])


def register_text_env(env_id: str, entry_point: str, max_episode_steps: int) -> None:
    """Register a :class:`agent_gym.core.TextEnv` the way agent-gym's own ids are (see :func:`register_all`).

    ``gym.make(env_id, max_episode_steps=N)`` then plays exactly N steps, whatever the env
    class's own default: the ``TimeLimit`` is the one authority and the env gets its value.
    A plain ``gym.register`` would leave the env its own default too, capping a larger N.
    """
    gym.register(
        id=env_id,
        entry_point=entry_point,
        max_episode_steps=int(max_episode_steps),
        kwargs={"max_episode_steps": None},
        additional_wrappers=(WrapperSpec("StepLimitSync", "agent_gym.core:StepLimitSync", {}),),
        disable_env_checker=True,
    )
