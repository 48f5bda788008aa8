"""Gymnasium ids of the agent-gym environments.

Entry points are strings, so an environment's module (and its optional
dependencies) is imported only when that environment is made.
"""

from __future__ import annotations

import gymnasium as gym

#: id -> entry point
ENV_IDS: dict[str, str] = {
    "ALFWorld-Text-v0": "agent_gym.alfworld.env:ALFWorldTextEnv",
    "InterCodeSQL-v0": "agent_gym.sql.env:InterCodeSQLEnv",
    "WebShop-Text-v0": "agent_gym.webshop.env_text:WebShopTextEnv",
    "WebShop-Browser-v0": "agent_gym.webshop.env_browser:WebShopBrowserEnv",
    # diagnostic: a tiny engine-free env for testing trainers, not a benchmark
    "Corridor-Text-v0": "agent_gym.diagnostic.corridor:CorridorEnv",
}

#: id -> default step limit (the benchmarks' standard settings; the corridor's own default)
DEFAULT_STEP_LIMITS: dict[str, int] = {
    "ALFWorld-Text-v0": 30,
    "InterCodeSQL-v0": 10,
    "WebShop-Text-v0": 10,
    "WebShop-Browser-v0": 10,
    "Corridor-Text-v0": 12,
}


def register_all() -> None:
    """Register every id once (safe to call repeatedly).

    Through ``gym.make`` the step limit is Gymnasium's ``TimeLimit`` with the
    benchmark's default (``gym.make(id, max_episode_steps=N)`` overrides it), and
    the env's own limit is switched off so the two never disagree.
    :func:`wrappers.restore` keeps ``TimeLimit``'s counter in sync after a restore.
    Constructing an env class directly uses the env's own limit instead.

    Gymnasium's passive env checker is off: the envs are checked by
    ``gymnasium.utils.env_checker.check_env`` in the tests, and the passive
    checker of Gymnasium 1.4 breaks every later ``step`` when the first
    ``reset`` raises (e.g. on an unknown task id).
    """
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=DEFAULT_STEP_LIMITS[env_id],
                kwargs={"max_episode_steps": None},
                disable_env_checker=True,
            )
