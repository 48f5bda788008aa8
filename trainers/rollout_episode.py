"""The live episode: one env (a :class:`wrappers.HistoryWrapper` chain) plus the conversation its policy sees.

:class:`LiveEpisode` can :meth:`~LiveEpisode.snapshot` and
:meth:`~LiveEpisode.restore` mid-episode (through the whole wrapper chain);
:class:`EpisodeState` is such a snapshot.

How a step works: the policy's raw output (``Thought: ...\\nAction: ...``) is the
assistant message; :func:`wrappers.prompting.parse_action` extracts the action
and the env is stepped with it. **Unparseable output does not step the env**:
the step is recorded with ``action=None``, ``action_valid=False``, reward 0,
and the next observation shown to the policy is the parser's error message
(:func:`wrappers.prompting.invalid_output_observation`). It still counts toward
the step limit, so a policy that never produces an action is truncated.
Context hashes are those of :class:`wrappers.HistoryWrapper` (the env-level
history), so an unparseable attempt and the retry that follows share their
context hashes. Re-exported by :mod:`trainers.rollout`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from trainers.policies.base import Conversation, Generation
from trainers.rollout_envs import step_limit
from trainers.rollout_records import EpisodeRecord, StepRecord
from wrappers import prompting
from wrappers.branching import restore as restore_chain
from wrappers.branching import snapshot as snapshot_chain
from wrappers.prompting import PromptConfig


@dataclass(frozen=True)
class EpisodeState:
    """A mid-episode state of a :class:`LiveEpisode` (valid only for that same instance)."""

    owner: int
    env_state: Any
    observations: tuple[str, ...]
    steps: tuple[StepRecord, ...]
    info: Mapping[str, Any]
    done: bool
    terminated: bool
    truncated: bool
    header: Mapping[str, Any]


class LiveEpisode:
    """One environment plus the conversation its policy sees.

    Args:
        env: an env made with ``gym.make`` and wrapped in :class:`wrappers.HistoryWrapper`
            (see :func:`make_env`); its ``env.spec.id`` selects the prompt and the action parser.
        prompt: prompt rendering options (history window, one-shot example).

    The episode ends after :attr:`max_steps` agent steps (unparseable outputs count):
    the env's own step limit (:func:`step_limit`), so the config's
    ``gym.make(id, max_episode_steps=N)`` is the one authority.
    """

    def __init__(self, env: gym.Env, prompt: PromptConfig | None = None):
        if prompt is not None and not isinstance(prompt, PromptConfig):
            raise TypeError(
                f"LiveEpisode(env, prompt) takes a PromptConfig, got {type(prompt).__name__} "
                "(the env id is read from env.spec.id; do not pass it)"
            )
        if not env.has_wrapper_attr("current_context_hashes"):
            raise TypeError(
                "LiveEpisode needs an env wrapped in wrappers.HistoryWrapper (use trainers.rollout.make_env)"
            )
        if env.spec is None:
            raise ValueError(
                f"{type(env.unwrapped).__name__} was not made with gym.make, so env.spec.id (which selects "
                "the prompt) is unknown; make it with trainers.rollout.make_env(env_id)"
            )
        self.env = env
        self.env_id: str = env.spec.id
        self.prompt = prompt or PromptConfig()
        self.max_steps = step_limit(env)  # read-only copy of the env's limit, for the unparseable outputs
        self.observations: list[str] = []  # shown to the policy (incl. parse-error messages)
        self.steps: list[StepRecord] = []
        self.info: dict[str, Any] = {}
        self.done = True
        self.terminated = False
        self.truncated = False
        self.header: dict[str, Any] = {}

    # -- lifecycle
    def reset(
        self,
        task_id: str | int,
        *,
        seed: int | None = None,
        group_id: str | None = None,
        rollout_index: int = 0,
        episode_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Start ``task_id``; returns ``(observation, info)`` as ``env.reset`` does (``info`` is a copy)."""
        obs, info = self.env.reset(seed=seed, options={"task_id": task_id})
        tid = info.get("task_id") or str(task_id)
        self.observations = [obs]
        self.steps = []
        self.info = dict(info)
        self.done = self.terminated = self.truncated = False
        gid = group_id or f"{tid}@{seed}"
        self.header = {
            "episode_id": episode_id or f"{gid}/r{rollout_index}",
            "task_id": tid,
            "task_type": info.get("task_type", ""),
            "group_id": gid,
            "rollout_index": rollout_index,
            "seed": seed,
        }
        return obs, dict(info)

    @property
    def observation(self) -> str:
        return self.observations[-1] if self.observations else ""

    def messages(self) -> Conversation:
        """The prompt for the next step (same renderer as :func:`step_messages`)."""
        return prompting.render_messages(
            self.env_id, self.observations, [s.raw_output for s in self.steps], self.prompt
        )

    def apply(self, generation: Generation | str, *, forced: bool = False) -> StepRecord:
        """Parse one policy output, step the env with it (if parseable), record the step."""
        if self.done:
            raise RuntimeError("the episode is over; reset() or restore() it first")
        gen = (
            generation if isinstance(generation, Generation) else Generation(text=generation, finish_reason="scripted")
        )
        parsed = prompting.parse_action(self.env_id, gen.text)
        hashes = list(self.info.get("context_hashes") or self.env.get_wrapper_attr("current_context_hashes")())
        step = StepRecord(
            index=len(self.steps),
            observation=self.observation,
            context_hashes=hashes,
            raw_output=gen.text,
            action=parsed.action,
            action_valid=False,
            parse_error=parsed.error,
            token_ids=gen.token_ids,
            logprobs=gen.logprobs,
            expert_action=self.info.get("expert_action"),
            forced=forced,
        )
        if parsed.action is None:
            next_obs = prompting.invalid_output_observation(self.env_id, parsed)
        else:
            next_obs, reward, terminated, truncated, info = self.env.step(parsed.action)
            step.reward = float(reward)
            step.terminated, step.truncated = bool(terminated), bool(truncated)
            step.action_valid = bool(info.get("action_valid", True))
            self.info = dict(info)
        self.steps.append(step)
        self.observations.append(next_obs)
        if not step.terminated and len(self.steps) >= self.max_steps:
            step.truncated = True
        self.terminated, self.truncated = step.terminated, step.truncated
        self.done = self.terminated or self.truncated
        return step

    # -- branching
    def snapshot(self) -> EpisodeState:
        """The current state (env, wrappers, conversation); restore with :meth:`restore`."""
        return EpisodeState(
            owner=id(self),
            env_state=snapshot_chain(self.env),
            observations=tuple(self.observations),
            steps=tuple(copy.copy(s) for s in self.steps),
            info=copy.deepcopy(self.info),
            done=self.done,
            terminated=self.terminated,
            truncated=self.truncated,
            header=dict(self.header),
        )

    def restore(self, state: EpisodeState) -> tuple[str, dict[str, Any]]:
        """Return to a :meth:`snapshot` of this same instance; returns ``(observation, info)`` as :meth:`reset` does.

        The observation is the one the policy sees next (a parse-error message after an
        unparseable output); ``info`` is a copy of the env's latest info (context hashes included).
        """
        if not isinstance(state, EpisodeState) or state.owner != id(self):
            raise ValueError("restore() takes an EpisodeState made by this same LiveEpisode")
        restore_chain(self.env, state.env_state)
        self.observations = list(state.observations)
        self.steps = [copy.copy(s) for s in state.steps]
        self.info = copy.deepcopy(dict(state.info))
        self.done, self.terminated, self.truncated = state.done, state.terminated, state.truncated
        self.header = dict(state.header)
        return self.observation, copy.deepcopy(self.info)

    def record(self, policy: str = "", branch_from: int = 0, meta: Mapping[str, Any] | None = None) -> EpisodeRecord:
        """The episode so far as an :class:`EpisodeRecord`."""
        last = self.steps[-1] if self.steps else None
        return EpisodeRecord(
            **self.header,
            env_id=self.env_id,
            steps=[copy.copy(s) for s in self.steps],
            final_observation=self.observation,
            success=bool(self.info.get("success", False)) if last is not None else False,
            reward=float(sum(s.reward for s in self.steps)),
            final_reward=float(last.reward) if last is not None else 0.0,
            terminated=self.terminated,
            truncated=self.truncated,
            policy=policy,
            prompt=self.prompt.to_dict(),
            branch_from=branch_from,
            meta=dict(meta or {}),
        )

    def close(self) -> None:
        self.env.close()


__all__ = ["EpisodeState", "LiveEpisode"]
