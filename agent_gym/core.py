"""The common API every agent-gym environment follows.

Every environment is a :class:`TextEnv`: text observations, free-text actions,
the Gymnasium 5-tuple ``step``, ``reset(seed=, options={"task_id": ...})`` and a
fixed set of ``info`` keys that trainers rely on (see :data:`COMMON_INFO_KEYS`).
Subclasses implement a handful of ``_``-prefixed hooks; the base class owns the
step counter, truncation, task selection and the info contract so that all
benchmarks behave the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agent_gym.errors import InvalidTaskError
from agent_gym.registration import default_step_limit
from agent_gym.spaces import FreeText

#: Keys present in ``info`` after every ``reset`` and ``step`` of every env.
COMMON_INFO_KEYS = ("task_id", "task_type", "available_actions", "action_valid", "success")


@dataclass(frozen=True)
class StepResult:
    """What a subclass's ``_step`` returns; the base class adds the common keys."""

    observation: str
    reward: float
    terminated: bool
    action_valid: bool
    success: bool
    info: dict[str, Any] | None = None


class TextEnv(gym.Env[str, str]):
    """Base class of all agent-gym environments.

    Subclasses implement:

    * ``task_ids`` (property): the sorted list of task ids of the loaded split.
    * ``_load_task(task_id) -> tuple[str, dict]``: start the task, return the
      first observation and extra info.
    * ``_step(action) -> StepResult``.
    * ``_available_actions() -> list[str]`` and ``_task_type() -> str``.
    * ``_expert_action() -> str`` (only needed when made with ``expert=True``).
    * ``_snapshot() -> Any`` / ``_restore(state)`` for branching.
    * ``_close()`` for resources.

    The step limit: constructed directly, the env truncates after
    ``max_episode_steps`` steps (``"default"``: the id's entry in
    :data:`agent_gym.registration.DEFAULT_STEP_LIMITS`; ``None``: no limit). Made with
    ``gym.make``, Gymnasium's ``TimeLimit`` holds the limit (the default or
    ``gym.make(id, max_episode_steps=N)``) and :class:`StepLimitSync` gives the env
    the same one. Reaching the limit sets ``truncated=True``; success or failure
    sets ``terminated=True``; a step after either raises until ``reset``.
    """

    #: ``render_fps``: how fast a viewer replays the ``ansi`` frames (the envs do not run in real time).
    metadata = {"render_modes": ["ansi"], "render_fps": 2}

    def __init__(
        self,
        *,
        max_episode_steps: int | None | str = "default",
        expert: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = FreeText()
        self.action_space = FreeText()
        if not isinstance(expert, (bool, np.bool_)):
            raise TypeError(f"expert must be True or False, got {expert!r}")
        self.expert = bool(expert)
        self._max_steps_arg = max_episode_steps
        _ = self.max_episode_steps  # validate now, not at the first step
        self.elapsed_steps = 0
        self.current_task_id: str | None = None
        self._last_obs = ""
        self._done = False
        self._last_success = False
        self._last_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ contract
    @property
    def task_ids(self) -> Sequence[str]:
        """Sorted ids of all tasks this env can play."""
        raise NotImplementedError

    def _load_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _step(self, action: str) -> StepResult:
        raise NotImplementedError

    def _available_actions(self) -> list[str]:
        return []

    def _task_type(self) -> str:
        return ""

    def _expert_action(self) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} has no expert")

    def task_type_of(self, task_id: str) -> str:
        """The task type of a task id without playing it (``""`` when the env cannot tell; used to stratify)."""
        return ""

    def _snapshot(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not support snapshot()")

    def _restore(self, state: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support restore()")

    def _close(self) -> None:
        pass

    # ------------------------------------------------------------------ helpers
    @property
    def max_episode_steps(self) -> int | None:
        """The env's own step limit (``None`` when a ``TimeLimit`` wrapper owns it)."""
        if self._max_steps_arg == "default":
            return default_step_limit(type(self))
        if self._max_steps_arg is None:
            return None
        if isinstance(self._max_steps_arg, bool) or not isinstance(self._max_steps_arg, (int, np.integer)):
            raise ValueError(f"max_episode_steps must be a positive int or None, got {self._max_steps_arg!r}")
        return int(self._max_steps_arg)

    def resolve_task_id(self, task_id: Any) -> str:
        """Map an int index (into the sorted split) or a string id to a task id."""
        ids = self.task_ids
        if isinstance(task_id, (int, np.integer)) and not isinstance(task_id, bool):
            if not -len(ids) <= int(task_id) < len(ids):
                raise InvalidTaskError(f"task index {int(task_id)} out of range: this split has {len(ids)} tasks")
            return ids[int(task_id)]
        if isinstance(task_id, str):
            if task_id in self._task_index:
                return task_id
            raise InvalidTaskError(
                f"unknown task id {task_id!r}; use one of env.unwrapped.task_ids ({len(ids)} tasks) or an integer index"
            )
        raise InvalidTaskError(f"task_id must be an int index or a str id, got {type(task_id).__name__}")

    @property
    def _task_index(self) -> dict[str, int]:
        cache = self.__dict__.get("_task_index_cache")
        if cache is None or cache[0] is not self.task_ids:
            cache = (self.task_ids, {t: i for i, t in enumerate(self.task_ids)})
            self.__dict__["_task_index_cache"] = cache
        return cache[1]

    def _info(self, action_valid: bool, success: bool, extra: dict[str, Any] | None) -> dict[str, Any]:
        info: dict[str, Any] = {
            "task_id": self.current_task_id,
            "task_type": self._task_type(),
            "available_actions": [] if self._done else list(self._available_actions()),
            "action_valid": bool(action_valid),
            "success": bool(success),
            "elapsed_steps": self.elapsed_steps,
        }
        if extra:
            info.update(extra)
        if self.expert:
            info["expert_action"] = None if self._done else self._expert_action()
        return info

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start a task: ``options["task_id"]`` (str id or int index) or one drawn from ``np_random``."""
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            n = len(self.task_ids)
            if n == 0:
                raise InvalidTaskError(f"{type(self).__name__} has no tasks to play")
            task_id = int(self.np_random.integers(n))
        self.current_task_id = self.resolve_task_id(task_id)
        self.elapsed_steps = 0
        self._done = False
        self._last_success = False
        obs, extra = self._load_task(self.current_task_id)
        self._last_obs = obs
        self._last_info = self._info(True, False, extra)  # snapshot() keeps it, restore() hands it back
        return obs, self._last_info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Apply one text action; returns ``(obs, reward, terminated, truncated, info)``."""
        if self.current_task_id is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over (terminated or truncated); call reset() before stepping again")
        if not isinstance(action, str):
            raise TypeError(f"actions are strings, got {type(action).__name__}")
        result = self._step(action)
        self.elapsed_steps += 1
        terminated = bool(result.terminated)
        limit = self.max_episode_steps
        truncated = (not terminated) and limit is not None and self.elapsed_steps >= limit
        self._done = terminated or truncated
        self._last_success = bool(result.success)
        self._last_obs = result.observation
        info = self._last_info = self._info(result.action_valid, result.success, result.info)
        return result.observation, float(result.reward), terminated, truncated, info

    def render(self) -> str | None:
        """``ansi`` mode returns the current observation."""
        if self.render_mode == "ansi":
            return self._last_obs
        return None

    def close(self) -> None:
        self._close()
        super().close()

    # ------------------------------------------------------------------ branching
    def snapshot(self) -> Any:
        """An opaque state of this env instance; :meth:`restore` returns to it exactly.

        A snapshot is only valid inside the instance that made it.
        """
        if self.current_task_id is None:
            raise RuntimeError("call reset() before snapshot()")
        return _Snapshot(
            owner=id(self),
            task_id=self.current_task_id,
            elapsed_steps=self.elapsed_steps,
            done=self._done,
            last_success=self._last_success,
            last_obs=self._last_obs,
            info=copy.deepcopy(self._last_info),
            inner=self._snapshot(),
        )

    def restore(self, state: Any) -> tuple[str, dict[str, Any]]:
        """Return to a :meth:`snapshot`; returns ``(observation, info)`` as ``reset``/``step`` gave them at that point.

        ``info`` is a copy of the info of that state: the common keys
        (:data:`COMMON_INFO_KEYS`, e.g. ``available_actions``), the env's own
        extra keys and ``expert_action`` for envs made with ``expert=True``.
        """
        if not isinstance(state, _Snapshot) or state.owner != id(self):
            raise ValueError("restore() takes a snapshot made by this same env instance")
        if state.task_id != self.current_task_id:
            self.current_task_id = state.task_id
            self._load_task(state.task_id)
        self._restore(state.inner)
        self.elapsed_steps = state.elapsed_steps
        self._done = state.done
        self._last_success = state.last_success
        self._last_obs = state.last_obs
        self._last_info = copy.deepcopy(state.info)
        return state.last_obs, self._last_info

    def current_info(self) -> dict[str, Any]:
        """The common info keys computed afresh for the current state (without the env's extra keys of the last step)."""
        return self._info(True, self._last_success, None)


def text_env(env: gym.Env) -> TextEnv:
    """The agent-gym :class:`TextEnv` under ``env``'s wrappers (``task_ids``, ``resolve_task_id``, ...)."""
    base = env.unwrapped
    if not isinstance(base, TextEnv):
        raise TypeError(f"{type(base).__name__} is not an agent-gym TextEnv (it has no task ids)")
    return base


class StepLimitSync(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Hands the env the step limit of the ``TimeLimit`` below it (``gym.make`` adds this layer).

    The ``TimeLimit`` stays the one authority (registered default or
    ``gym.make(id, max_episode_steps=N)``); the env gets a copy of its value at
    construction, so both truncate at the same step and a step after truncation
    raises through ``gym.make`` as it does on the raw env. Without a ``TimeLimit``
    (``max_episode_steps=-1``) the env has no limit.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not isinstance(base, TextEnv):
            raise TypeError(f"StepLimitSync wraps agent-gym TextEnvs, got {type(base).__name__}")
        limit = env.spec.max_episode_steps if env.spec is not None else None  # TimeLimit's value, if any
        base._max_steps_arg = None if limit is None else int(limit)
        _ = base.max_episode_steps  # validate


@dataclass(frozen=True)
class _Snapshot:
    owner: int
    task_id: str
    elapsed_steps: int
    done: bool
    last_success: bool
    last_obs: str
    info: dict[str, Any]
    inner: Any
