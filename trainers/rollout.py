"""The one rollout loop: many environments against one policy, batched generation.

Three entry points, one engine underneath:

* :func:`run_episodes` plays a task list from ``reset`` (``group_size`` rollouts
  per task sharing the task and the reset seed: the groups of GRPO/GiGPO/HGPO),
  with JSONL output, a progress bar and resume.
* :class:`LiveEpisode` is one env (a :class:`wrappers.HistoryWrapper` chain) plus
  the conversation the policy sees; it can :meth:`~LiveEpisode.snapshot` and
  :meth:`~LiveEpisode.restore` mid-episode (through the whole wrapper chain).
* :func:`continue_from` plays many :class:`Branch` es (a live episode, a state of
  it, optional forced outputs, a step budget) with batched generation across
  envs: HPL's step-level and group-level exploration and its Monte-Carlo
  completions.

How a step works: the policy's raw output (``Thought: ...\\nAction: ...``) is the
assistant message; :func:`wrappers.prompting.parse_action` extracts the action
and the env is stepped with it. **Unparseable output does not step the env**:
the step is recorded with ``action=None``, ``action_valid=False``, reward 0,
and the next observation shown to the policy is the parser's error message
(:func:`wrappers.prompting.invalid_output_observation`). It still counts toward
the step limit, so a policy that never produces an action is truncated.
Context hashes are those of :class:`wrappers.HistoryWrapper` (the env-level
history), so an unparseable attempt and the retry that follows share their
context hashes.

Conversations for training come from the same renderer as the prompts:
:func:`step_messages` (what the policy saw at step ``t``) and
:func:`episode_conversation` (the whole episode as one multi-turn chat).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import gymnasium as gym

from agent_gym.core import text_env
from agent_gym.errors import AgentGymError, BackendUnavailableError, MissingDependencyError
from agent_gym.fileio import atomic_write_jsonl
from trainers.policies.base import Conversation, Generation, GenerationParams, Policy
from trainers.policies.simple import ScriptedPolicy
from wrappers import prompting
from wrappers.branching import restore as restore_chain
from wrappers.branching import snapshot as snapshot_chain
from wrappers.history import HistoryWrapper
from wrappers.prompting import PromptConfig

# ---------------------------------------------------------------------------- records


@dataclass
class StepRecord:
    """One agent step.

    Attributes:
        index: step number in the episode (0-based).
        observation: the observation the policy acted on (the last user message, untruncated).
        context_hashes: ``K + 1`` context hashes of that state (``HistoryWrapper``).
        raw_output: the policy's text, exactly as generated (the assistant message).
        action: the parsed action sent to the env, ``None`` when unparseable.
        action_valid: parsed *and* accepted by the env (``info["action_valid"]``).
        parse_error: why the output could not be parsed (``None`` when it could).
        reward, terminated, truncated: the env's result (0/False/... when not stepped).
        token_ids, logprobs: generated tokens and their log-probs (when recorded).
        expert_action: ``info["expert_action"]`` at this state (envs made with ``expert=True``).
        forced: the output was given (e.g. an expert continuation), not sampled.
    """

    index: int
    observation: str
    context_hashes: list[str]
    raw_output: str
    action: str | None
    action_valid: bool
    parse_error: str | None = None
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    expert_action: str | None = None
    forced: bool = False

    @property
    def parsed(self) -> bool:
        return self.action is not None


@dataclass
class EpisodeRecord:
    """One trajectory, as written to JSONL (one JSON object per line).

    Attributes:
        episode_id: unique key in a JSONL file (resume skips ids already present).
        env_id, task_id, task_type: what was played.
        group_id: episodes with the same group id share task and reset seed.
        rollout_index: index inside the group (``0 .. G-1``).
        seed: the reset seed.
        steps: the agent steps.
        final_observation: the observation after the last step.
        success: the env's ``info["success"]`` after the last step.
        reward: the sum of step rewards (the episode return).
        final_reward: the last step's reward (WebShop's score, ALFWorld's/SQL's 0/1).
        terminated, truncated: how the episode ended (both False: stopped by a step budget of a branch).
        policy: the policy's backend name.
        prompt: the :class:`PromptConfig` used (as a dict), so trainers re-render the same prompts.
        branch_from: number of leading steps copied from the branch's state (0 for fresh episodes).
        meta: free-form extras (branch labels, timings, ...).
        end_state: in-memory only (never written): :class:`EpisodeState` at the end,
            kept when :func:`continue_from` is called with ``keep_end_state=True``.
    """

    episode_id: str
    env_id: str
    task_id: str
    task_type: str
    group_id: str
    rollout_index: int = 0
    seed: int | None = None
    steps: list[StepRecord] = field(default_factory=list)
    final_observation: str = ""
    success: bool = False
    reward: float = 0.0
    final_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    policy: str = ""
    prompt: dict[str, Any] = field(default_factory=dict)
    branch_from: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    end_state: Any = field(default=None, repr=False, compare=False)

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def invalid_actions(self) -> int:
        """Steps whose output was unparseable or whose action the env rejected."""
        return sum(not s.action_valid for s in self.steps)

    @property
    def observations(self) -> list[str]:
        """Observations shown to the policy, plus the final one (``num_steps + 1`` entries)."""
        return [s.observation for s in self.steps] + [self.final_observation]

    @property
    def raw_outputs(self) -> list[str]:
        return [s.raw_output for s in self.steps]

    def prompt_config(self) -> PromptConfig:
        return PromptConfig.from_dict(self.prompt)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("end_state", None)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeRecord:
        known = {f.name for f in fields(cls)} - {"end_state"}
        step_keys = {f.name for f in fields(StepRecord)}
        d = {k: v for k, v in d.items() if k in known}
        d["steps"] = [StepRecord(**{k: v for k, v in s.items() if k in step_keys}) for s in d.get("steps", [])]
        return cls(**d)


def step_messages(record: EpisodeRecord, t: int, config: PromptConfig | None = None) -> Conversation:
    """The prompt the policy saw before step ``t`` (system, history window, current observation)."""
    cfg = config or record.prompt_config()
    obs = [s.observation for s in record.steps[: t + 1]]
    if t == len(record.steps):
        obs.append(record.final_observation)
    return prompting.render_messages(record.env_id, obs, record.raw_outputs[:t], cfg)


def episode_conversation(record: EpisodeRecord, config: PromptConfig | None = None) -> Conversation:
    """The whole episode as one chat ending with the last assistant message.

    Uses the record's prompt config with ``history_window=None`` unless ``config``
    is given; every assistant message is a raw output (the trainable tokens).
    """
    cfg = config or record.prompt_config().replace(history_window=None)
    obs = [s.observation for s in record.steps]
    msgs = prompting.render_messages(record.env_id, obs, record.raw_outputs[:-1] if record.steps else [], cfg)
    if record.steps:
        msgs.append({"role": "assistant", "content": record.steps[-1].raw_output})
    return msgs


# ---------------------------------------------------------------------------- JSONL I/O


def read_records(path: str | os.PathLike) -> list[EpisodeRecord]:
    """Records of a JSONL file; a truncated last line (a killed run) is ignored."""
    path = Path(path)
    if not path.exists():
        return []
    records: list[EpisodeRecord] = []
    with path.open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(EpisodeRecord.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            if i >= len(lines) - 2:  # last (possibly partial) line of an interrupted write
                break
            raise ValueError(f"{path}: line {i + 1} is not an episode record: {exc}") from exc
    return records


def write_records(path: str | os.PathLike, records: Iterable[EpisodeRecord]) -> None:
    """Write records to ``path`` atomically (temp file + ``os.replace``)."""
    atomic_write_jsonl(path, (r.to_dict() for r in records), ensure_ascii=False)


class RecordWriter:
    """Appends records to a JSONL file, one flushed line per episode.

    On open, an existing file is rewritten atomically without a possibly
    truncated last line, so a killed run resumes cleanly.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.existing = read_records(self.path)
        write_records(self.path, self.existing)
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: EpisodeRecord) -> None:
        self._f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------- live episodes


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
        env: an env wrapped in :class:`HistoryWrapper` (see :func:`make_env`).
        env_id: the Gymnasium id (selects the prompt and the action parser).
        prompt: prompt rendering options (history window, one-shot example).

    The episode ends after :attr:`max_steps` agent steps (unparseable outputs count):
    the env's own step limit (:func:`step_limit`), so the config's
    ``gym.make(id, max_episode_steps=N)`` is the one authority.
    """

    def __init__(self, env: gym.Env, env_id: str, prompt: PromptConfig | None = None):
        if not any(isinstance(layer, HistoryWrapper) for layer in _layers(env)):
            raise TypeError(
                "LiveEpisode needs an env wrapped in wrappers.HistoryWrapper (use trainers.rollout.make_env)"
            )
        self.env = env
        self.env_id = env_id
        self.prompt = prompt or PromptConfig()
        self.max_steps = step_limit(env)  # read-only copy of the env's limit, for the unparseable outputs
        self._history: HistoryWrapper = next(layer for layer in _layers(env) if isinstance(layer, HistoryWrapper))
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
    ) -> str:
        """Start ``task_id``; returns the first observation."""
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
        return obs

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
        hashes = list(self.info.get("context_hashes") or self._history.current_context_hashes())
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

    def restore(self, state: EpisodeState) -> str:
        """Return to a :meth:`snapshot` of this same instance; returns the current observation."""
        if not isinstance(state, EpisodeState) or state.owner != id(self):
            raise ValueError("restore() takes an EpisodeState made by this same LiveEpisode")
        restore_chain(self.env, state.env_state)
        self.observations = list(state.observations)
        self.steps = [copy.copy(s) for s in state.steps]
        self.info = copy.deepcopy(dict(state.info))
        self.done, self.terminated, self.truncated = state.done, state.terminated, state.truncated
        self.header = dict(state.header)
        return self.observation

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


def _add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    """Add one run's counters into ``total`` (the ``stats`` argument of the rollout functions)."""
    for name, value in more.items():
        total[name] = total.get(name, 0) + value


def step_limit(env: gym.Env) -> int:
    """The step limit in force for ``env``: its ``TimeLimit`` wrapper's, else the env's own.

    Raises ``ValueError`` for an env without any limit (an episode could run forever).
    """
    for layer in _layers(env):
        if isinstance(layer, gym.wrappers.TimeLimit):
            limit = layer.spec.max_episode_steps if layer.spec is not None else None
            if limit is None:
                limit = layer._max_episode_steps
            return int(limit)
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


def _layers(env: gym.Env) -> Iterator[gym.Env]:
    while True:
        yield env
        if not isinstance(env, gym.Wrapper):
            return
        env = env.env


# ---------------------------------------------------------------------------- the engine


@dataclass
class Branch:
    """A job for :func:`continue_from`: continue ``episode`` from ``state``.

    Attributes:
        episode: the live episode (env instance) to play in; branches of the same
            episode run one after another, branches of different episodes in parallel.
        state: where to start (``None``: the episode's current state, unchanged).
        forced_outputs: raw outputs applied first, without calling the policy
            (e.g. the expert's group, or a prefix to replay).
        max_steps: agent steps to play after the forced outputs (``None``: to the end).
        meta: copied into the resulting record's ``meta``.
    """

    episode: LiveEpisode
    state: EpisodeState | None = None
    forced_outputs: Sequence[str] = ()
    max_steps: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Job:
    start: Callable[[LiveEpisode], None]
    forced: list[str]
    budget: int | None
    finish: Callable[[LiveEpisode, _Job], None]
    branch_from: int = 0
    #: outputs generated by an interrupted run, applied again as generated (not forced) before the policy plays
    replay: list[tuple[Generation, bool]] = field(default_factory=list)
    #: copied into the record's ``meta`` (``generated_tokens``, ``reused_outputs``, ``ended_by``, ...)
    meta: dict[str, Any] = field(default_factory=dict)
    #: set when the env raised one of the recorded error types; the episode is finished as failed
    error: str | None = None
    memo: dict[str, Generation] = field(default_factory=dict)
    unparseable_run: int = 0


#: errors that stop a run even when env errors are recorded per episode (the next episode would fail the same way)
FATAL_ERRORS: tuple[type[BaseException], ...] = (BackendUnavailableError, MissingDependencyError)


def prompt_key(messages: Conversation) -> str:
    """A digest of a whole prompt (every message, roles included): equal keys mean identical prompts."""
    import hashlib

    return hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode("utf-8")).hexdigest()


def _drive(
    slots: Sequence[LiveEpisode],
    queues: Sequence[list[_Job]],
    policy: Policy,
    params: GenerationParams,
    env_id: str,
    *,
    reuse_repeats: bool = False,
    max_unparseable: int | None = None,
    record_errors: tuple[type[BaseException], ...] = (),
    on_step: Callable[[LiveEpisode, _Job, Generation, bool], None] | None = None,
    on_round: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Run per-slot job queues; one batched ``policy.act`` per round over the slots that need a generation.

    ``reuse_repeats`` (greedy decoding, model policies only): a prompt that already
    occurred in the same episode gets the output it got then, without calling the
    policy (exact for a deterministic greedy backend). ``max_unparseable``: end an
    episode (truncated) after that many consecutive unparseable outputs.
    ``record_errors``: exceptions of these types raised by the env (reset or step)
    finish the episode with ``job.error`` set instead of propagating.
    """
    queues = [list(q) for q in queues]
    current: list[_Job | None] = [None] * len(slots)
    played = [0] * len(slots)
    stats = {"llm_calls": 0, "generated_tokens": 0, "env_steps": 0, "rounds": 0}
    call = 0
    memo_on = reuse_repeats and params.greedy and not isinstance(policy, ScriptedPolicy)

    def count(i: int, job: _Job, gen: Generation, step: StepRecord, reused: bool, log: bool = True) -> None:
        job.meta["generated_tokens"] = job.meta.get("generated_tokens", 0) + (0 if reused else gen.num_tokens)
        if reused:
            job.meta["reused_outputs"] = job.meta.get("reused_outputs", 0) + 1
        job.unparseable_run = job.unparseable_run + 1 if step.action is None else 0
        ep = slots[i]
        if max_unparseable and job.unparseable_run >= max_unparseable and not ep.done:
            step.truncated = True
            ep.truncated = ep.done = True
            job.meta["ended_by"] = "max_unparseable"
        if log and on_step is not None:
            on_step(ep, job, gen, reused)

    def fail(i: int, job: _Job, exc: BaseException) -> None:
        job.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        job.finish(slots[i], job)

    def next_job(i: int) -> None:
        while queues[i]:
            job = queues[i].pop(0)
            ep = slots[i]
            try:
                job.start(ep)
                job.branch_from = len(ep.steps)
                for text in job.forced:
                    if ep.done:
                        break
                    ep.apply(text, forced=True)
                    stats["env_steps"] += 1
                for gen, reused in job.replay:  # an interrupted run's outputs: same env, same steps
                    if ep.done:
                        break
                    if memo_on:
                        job.memo.setdefault(prompt_key(ep.messages()), gen)
                    step = ep.apply(copy.copy(gen))
                    stats["env_steps"] += 1
                    count(i, job, gen, step, reused, log=False)
            except record_errors as exc:
                if isinstance(exc, FATAL_ERRORS):
                    raise
                fail(i, job, exc)
                continue
            played[i] = 0
            if ep.done or job.budget == 0:
                job.finish(ep, job)
                continue
            current[i] = job
            return
        current[i] = None

    def advance(i: int, gen: Generation, reused: bool) -> None:
        """Apply one output to slot ``i``; finish its job and start the next one when it ends."""
        job = current[i]
        assert job is not None
        try:
            step = slots[i].apply(copy.copy(gen) if reused else gen)
        except record_errors as exc:
            if isinstance(exc, FATAL_ERRORS):
                raise
            fail(i, job, exc)
            next_job(i)
            return
        stats["env_steps"] += 1
        played[i] += 1
        count(i, job, gen, step, reused)
        if slots[i].done or (job.budget is not None and played[i] >= job.budget):
            job.finish(slots[i], job)
            next_job(i)

    for i in range(len(slots)):
        next_job(i)
    while any(j is not None for j in current):
        busy: list[int] = []
        prompts: list[Conversation] = []
        keys: list[str] = []
        for i in range(len(slots)):
            while current[i] is not None:
                msgs = slots[i].messages()
                key = prompt_key(msgs) if memo_on else ""
                hit = current[i].memo.get(key) if memo_on else None  # type: ignore[union-attr]
                if hit is None:
                    busy.append(i)
                    prompts.append(msgs)
                    keys.append(key)
                    break
                advance(i, hit, True)
        if not busy:
            break
        seed = None if params.seed is None else params.seed + call
        call += 1
        gens = policy.act(prompts, [slots[i].info for i in busy], params.with_(n=1, seed=seed), env_id=env_id)
        if len(gens) != len(busy):
            raise RuntimeError(f"{type(policy).__name__}.act returned {len(gens)} generations for {len(busy)} prompts")
        stats["llm_calls"] += 0 if isinstance(policy, ScriptedPolicy) else len(busy)
        stats["rounds"] += 1
        for i, key, gen in zip(busy, keys, gens):
            stats["generated_tokens"] += gen.num_tokens
            job = current[i]
            assert job is not None
            if memo_on:
                job.memo[key] = gen
            advance(i, gen, False)
        if on_round is not None:
            on_round()
    return stats


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ep", disable=not enabled, dynamic_ncols=True)


class StepLog:
    """The outputs of episodes in flight, one JSON line per step (``<records>.inflight``).

    A killed run loses at most the steps of its last round: on resume,
    :func:`run_episodes` replays the logged outputs of unfinished episodes (same
    reset seed, same actions, so the same states) and carries on from there.
    """

    def __init__(self, path: str | os.PathLike, keep: Callable[[str], bool]):
        self.path = Path(path)
        #: episode id -> [(generation, reused), ...] in step order
        self.outputs: dict[str, list[tuple[Generation, bool]]] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        d = json.loads(line)
                    except json.JSONDecodeError:
                        break  # the cut last line of a killed run
                    eid = d.get("episode_id")
                    if not isinstance(eid, str) or not keep(eid):
                        continue
                    outs = self.outputs.setdefault(eid, [])
                    if d.get("index") == len(outs):
                        gen = Generation(
                            text=d["text"],
                            token_ids=d.get("token_ids"),
                            logprobs=d.get("logprobs"),
                            finish_reason=d.get("finish_reason", "stop"),
                            prompt_tokens=d.get("prompt_tokens", 0),
                            completion_tokens=d.get("completion_tokens"),
                        )
                        outs.append((gen, bool(d.get("reused"))))
        atomic_write_jsonl(
            self.path, (self._line(e, k, g, r) for e, outs in self.outputs.items() for k, (g, r) in enumerate(outs))
        )
        self._f = self.path.open("a", encoding="utf-8")
        self._dirty = False

    @staticmethod
    def _line(eid: str, index: int, gen: Generation, reused: bool) -> dict[str, Any]:
        return {
            "episode_id": eid,
            "index": index,
            "text": gen.text,
            "token_ids": gen.token_ids,
            "logprobs": gen.logprobs,
            "finish_reason": gen.finish_reason,
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "reused": reused,
        }

    def add(self, eid: str, index: int, gen: Generation, reused: bool) -> None:
        self._f.write(json.dumps(self._line(eid, index, gen, reused), ensure_ascii=False) + "\n")
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._dirty = False

    def close(self, finished: bool) -> None:
        """Flush and close; a finished run removes the file."""
        self.flush()
        self._f.close()
        if finished:
            self.path.unlink(missing_ok=True)


def run_episodes(
    policy: Policy,
    env_id: str,
    tasks: Sequence[str | int] | None = None,
    *,
    group_size: int = 1,
    env_kwargs: Mapping[str, Any] | None = None,
    num_envs: int = 8,
    params: GenerationParams | None = None,
    prompt: PromptConfig | None = None,
    history_k: int | None = None,
    seed: int | None = 0,
    max_steps: int | None = None,
    out_path: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    envs: Sequence[gym.Env] | None = None,
    stats: dict[str, int] | None = None,
    reuse_greedy_repeats: bool = False,
    max_unparseable: int | None = None,
    record_errors: bool = False,
) -> list[EpisodeRecord]:
    """Play ``group_size`` episodes of each task with batched generation.

    Args:
        policy: any :class:`Policy`.
        env_id: a registered id (``import agent_gym`` registers the benchmarks).
        tasks: task ids or indices (``None``: every task of the split). A task
            listed twice gets two groups.
        group_size: G rollouts per task; they share the task and the reset
            ``seed`` and have the same ``group_id``.
        env_kwargs: passed to ``gym.make`` (``data_dir``, ``split``, ``expert``, ...).
        num_envs: env instances played in parallel (one batched generation per round).
        params: sampling parameters; ``params.seed`` (if set) is offset per round.
        prompt: prompt options; ``history_window`` defaults to ``history_k``.
        history_k: context-hash levels K of the :class:`HistoryWrapper` (default:
            the prompt's history window, or 4).
        seed: reset seed shared by a group (``None``: unseeded).
        max_steps: agent steps per episode: made here with ``gym.make(env_id, max_episode_steps=max_steps)``
            (``None``: the registered default or ``env_kwargs["max_episode_steps"]``); given
            ``envs`` must have this limit (``ValueError`` otherwise).
        out_path: JSONL file; records are appended as episodes finish, and the
            outputs of episodes in flight go to ``<out_path>.inflight`` after every
            round (see :class:`StepLog`), so a killed run loses at most one round.
        resume: skip episodes whose ``episode_id`` is already in ``out_path`` and
            replay the logged steps of unfinished ones.
        progress: show a tqdm bar (episodes, with the steps played in its postfix).
        envs: reuse already made envs (each wrapped in ``HistoryWrapper``) instead
            of making ``num_envs`` new ones; they are not closed.
        stats: if given, updated with counters ``llm_calls`` (prompts sent to a
            model; 0 for oracle/random), ``generated_tokens``, ``env_steps``
            (applied outputs, forced ones included) and ``rounds`` (batched policy calls)
            of this call only (the records' ``meta`` hold per-episode totals).
        reuse_greedy_repeats: under greedy decoding, a prompt that already occurred
            in the same episode gets the output it got then without generating
            (a deterministic greedy model would produce it again); the record's
            ``meta["reused_outputs"]`` counts such steps.
        max_unparseable: end an episode (truncated, ``meta["ended_by"] =
            "max_unparseable"``) after this many consecutive unparseable outputs (``None``: off).
        record_errors: an :class:`~agent_gym.errors.AgentGymError` raised by the
            env on reset or step (a bad game file, ...) finishes that episode as
            failed with ``meta["error"]`` instead of stopping the run (server and
            missing-dependency errors still stop it).

    Returns:
        The records in task order (group members consecutive), including the
        ones loaded from ``out_path`` on resume. Each record's ``meta`` has
        ``generated_tokens`` (this episode's, across resumed attempts).
    """
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 (or None for the env's limit), got {max_steps}")
    if max_unparseable is not None and max_unparseable < 1:
        raise ValueError(f"max_unparseable must be >= 1 (or None: off), got {max_unparseable}")
    params = params or GenerationParams()
    prompt = prompt or PromptConfig()
    k = history_k if history_k is not None else (prompt.history_window if prompt.history_window is not None else 4)
    own_envs = envs is None
    env_kwargs = with_step_limit(env_kwargs, max_steps)
    if envs is None:
        first = make_env(env_id, env_kwargs, k)
        env_list: list[gym.Env] = [first]
    else:
        env_list = list(envs)
        if not env_list:
            raise ValueError("envs must not be empty")
    try:
        task_ids = (
            list(text_env(env_list[0]).task_ids)
            if tasks is None
            else [text_env(env_list[0]).resolve_task_id(t) for t in tasks]
        )
        specs = []
        seen: dict[str, int] = {}
        for tid in task_ids:
            n = seen.get(tid, 0)
            seen[tid] = n + 1
            gid = f"{tid}@{seed}" + (f"#{n}" if n else "")
            for r in range(group_size):
                specs.append((tid, gid, r, f"{gid}/r{r}"))
        done: dict[str, EpisodeRecord] = {}
        writer = None
        log: StepLog | None = None
        if out_path is not None:
            inflight = Path(str(out_path) + ".inflight")
            if not resume:
                Path(out_path).unlink(missing_ok=True)
                inflight.unlink(missing_ok=True)
            writer = RecordWriter(out_path)
            done = {r.episode_id: r for r in writer.existing}
            wanted = {s[3] for s in specs} - set(done)
            log = StepLog(inflight, keep=lambda eid: eid in wanted)
        todo = [s for s in specs if s[3] not in done]
        n_slots = min(num_envs, len(todo)) if own_envs else len(env_list)
        if own_envs:
            while len(env_list) < n_slots:
                env_list.append(make_env(env_id, env_kwargs, k))
        for e in env_list:
            check_step_limit(e, max_steps)
        slots = [LiveEpisode(e, env_id, prompt) for e in env_list[: max(n_slots, 1)]]
        results: dict[str, EpisodeRecord] = dict(done)
        bar = _progress(len(specs), f"{env_id} {policy.name}", progress)
        bar.update(len(specs) - len(todo))
        counts = {"success": sum(r.success for r in done.values()), "steps": sum(r.num_steps for r in done.values())}
        busy_steps: dict[int, int] = {}

        def show() -> None:
            steps = counts["steps"] + sum(busy_steps.values())
            bar.set_postfix(steps=steps, success=f"{counts['success'] / max(len(results), 1):.2f}", refresh=False)
            bar.refresh()

        def job_for(spec: tuple[str, str, int, str]) -> _Job:
            tid, gid, r, eid = spec

            def start(ep: LiveEpisode) -> None:
                ep.header = {}
                ep.reset(tid, seed=seed, group_id=gid, rollout_index=r, episode_id=eid)

            def finish(ep: LiveEpisode, job: _Job) -> None:
                meta = dict(job.meta)
                meta.setdefault("generated_tokens", 0)
                if job.error is not None:
                    meta["error"] = job.error
                if ep.header.get("episode_id") == eid:
                    rec = ep.record(policy.name, meta=meta)
                else:  # reset failed: nothing was played
                    rec = EpisodeRecord(
                        eid, env_id, tid, "", gid, r, seed, policy=policy.name, prompt=prompt.to_dict(), meta=meta
                    )
                if job.error is not None:
                    rec.success, rec.terminated, rec.truncated = False, False, True
                results[eid] = rec
                if writer is not None:
                    writer.write(rec)
                busy_steps.pop(id(ep), None)
                counts["success"] += rec.success
                counts["steps"] += rec.num_steps
                bar.update(1)
                show()

            replay = log.outputs.get(eid, []) if log is not None else []
            return _Job(start, [], None, finish, replay=list(replay))

        def on_step(ep: LiveEpisode, job: _Job, gen: Generation, reused: bool) -> None:
            busy_steps[id(ep)] = len(ep.steps)
            if log is not None:
                log.add(ep.header["episode_id"], len(ep.steps) - 1, gen, reused)

        def on_round() -> None:
            if log is not None:
                log.flush()
            show()

        queues: list[list[_Job]] = [[] for _ in slots]
        for i, spec in enumerate(todo):
            queues[i % len(slots)].append(job_for(spec))
        finished = False
        try:
            run_stats = _drive(
                slots,
                queues,
                policy,
                params,
                env_id,
                reuse_repeats=reuse_greedy_repeats,
                max_unparseable=max_unparseable,
                record_errors=(AgentGymError,) if record_errors else (),
                on_step=on_step,
                on_round=on_round,
            )
            finished = True
        finally:
            bar.close()
            if writer is not None:
                writer.close()
            if log is not None:
                log.close(finished)
        if stats is not None:
            _add_counts(stats, run_stats)
        return [results[s[3]] for s in specs]
    finally:
        if own_envs:
            for e in env_list:
                e.close()


def continue_from(
    branches: Sequence[Branch],
    policy: Policy,
    params: GenerationParams | None = None,
    *,
    keep_end_state: bool = False,
    progress: bool = False,
    stats: dict[str, int] | None = None,
) -> list[EpisodeRecord]:
    """Play each :class:`Branch` and return one record per branch (same order).

    Each record holds the whole episode: the ``branch_from`` steps that were
    already in the branch's state, then the forced outputs and the policy's
    steps. Branches on different :class:`LiveEpisode` s are generated in one
    batch per round; branches sharing an episode run in sequence (a snapshot
    is only valid in its own env instance). With ``keep_end_state=True`` each
    record's ``end_state`` holds the :class:`EpisodeState` where it stopped
    (e.g. to start Monte-Carlo completions after a sampled action group).
    ``stats`` (if given) is updated as in :func:`run_episodes`.
    """
    params = params or GenerationParams()
    if not branches:
        return []
    env_ids = {b.episode.env_id for b in branches}
    if len(env_ids) != 1:
        raise ValueError(f"all branches must play the same env id, got {sorted(env_ids)}")
    order: dict[int, int] = {}
    slots: list[LiveEpisode] = []
    queues: list[list[_Job]] = []
    results: list[EpisodeRecord | None] = [None] * len(branches)
    bar = _progress(len(branches), f"branches {policy.name}", progress)

    for idx, br in enumerate(branches):
        key = id(br.episode)
        if key not in order:
            order[key] = len(slots)
            slots.append(br.episode)
            queues.append([])

        def start(ep: LiveEpisode, br: Branch = br) -> None:
            if br.state is not None:
                ep.restore(br.state)
            elif ep.done and not ep.steps and not ep.observations:
                raise RuntimeError("branch on an episode that was never reset; reset() it or pass a state")

        def finish(ep: LiveEpisode, job: _Job, idx: int = idx, br: Branch = br) -> None:
            rec = ep.record(policy.name, branch_from=job.branch_from, meta=br.meta)
            if keep_end_state:
                rec.end_state = ep.snapshot()
            results[idx] = rec
            bar.update(1)

        queues[order[key]].append(_Job(start, list(br.forced_outputs), br.max_steps, finish))
    try:
        run_stats = _drive(slots, queues, policy, params, next(iter(env_ids)))
    finally:
        bar.close()
    if stats is not None:
        _add_counts(stats, run_stats)
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:  # never hand back fewer records than branches: they would no longer line up
        raise RuntimeError(
            f"{len(missing)} of {len(branches)} branches ended without a record "
            f"(branch indices {missing[:10]}); this is a bug in the rollout driver"
        )
    return [r for r in results if r is not None]


def _oracle_record(env_id: str, env_kwargs: Mapping[str, Any], task: str | int) -> EpisodeRecord:
    from trainers.policies.simple import OraclePolicy

    kwargs = dict(env_kwargs)
    kwargs["expert"] = True
    return run_episodes(
        OraclePolicy(env_id),
        env_id,
        [task],
        env_kwargs=kwargs,
        num_envs=1,
        progress=False,
        prompt=PromptConfig(history_window=None),
    )[0]


def _example_text(env_id: str, rec: EpisodeRecord, max_chars: int) -> str:
    """The oracle's trajectory as a one-shot example, its thoughts replaced by :func:`wrappers.prompting.reasoned_thought`."""
    actions = [s.action or "" for s in rec.steps]
    outputs = [
        prompting.format_response(env_id, a, prompting.reasoned_thought(env_id, rec.observations, actions, t))
        for t, a in enumerate(actions)
    ]
    return prompting.format_example(env_id, rec.observations, outputs, max_chars=max_chars)


def expert_example(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, task: str | int = 0, max_chars: int = 4000
) -> str:
    """A one-shot example text (for ``PromptConfig.one_shot``) from the oracle playing ``task``.

    The env is made with ``expert=True``; the thoughts explain each action
    (:func:`wrappers.prompting.reasoned_thought`). Raises ``ValueError`` when the
    oracle fails the task. :func:`one_shot_example` picks a task that is not evaluated.
    """
    rec = _oracle_record(env_id, dict(env_kwargs or {}), task)
    if not rec.success:
        raise ValueError(f"the oracle did not solve {rec.task_id!r}; pick another task for the one-shot example")
    return _example_text(env_id, rec, max_chars)


def one_shot_example(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    task: str | int | None = None,
    exclude: Sequence[str] = (),
    max_chars: int = 4000,
) -> tuple[str, dict[str, Any]]:
    """A one-shot example that is never one of the evaluated tasks; returns ``(text, source)``.

    ``env_kwargs`` are the evaluated env's (with its ``split``/``data_dir``).
    The example comes from ``split`` when given, else from the ``train`` split
    when the env has one there, else from the evaluated split itself; from the
    evaluated split; tasks in ``exclude`` (the evaluated ids) are refused in any split.
    ``task`` picks the task (default: the first one the oracle solves).
    ``source`` is ``{"split": ..., "task_id": ..., "same_split": bool}`` for the report.
    """
    from agent_gym.errors import AgentGymError

    base = dict(env_kwargs or {})
    eval_split = base.get("split")
    candidates: list[str | None] = [split] if split is not None else ["train", None]
    errors: list[str] = []
    excluded = set(exclude)
    for cand in candidates:
        kwargs = dict(base)
        if cand is not None:
            kwargs["split"] = cand
        try:
            probe = make_env(env_id, kwargs, 0)
            try:
                ids = list(text_env(probe).task_ids)
                chosen = text_env(probe).resolve_task_id(task) if task is not None else None
            finally:
                probe.close()
        except (AgentGymError, ValueError) as exc:
            if split is not None or cand is None:
                raise
            errors.append(f"{cand}: {str(exc).splitlines()[0]}")
            continue
        same = cand is None or cand == eval_split
        # evaluated ids are refused in any split: an env that ignores ``split`` gives the same tasks
        if chosen is not None:
            if chosen in excluded:
                raise ValueError(
                    f"one-shot task {chosen!r} is one of the evaluated tasks; pick another one or another split"
                )
            order = [chosen]
        else:
            order = [t for t in ids if t not in excluded][:5]
            if not order:
                raise ValueError(
                    "every task of the split is evaluated, so none is left for the one-shot example; "
                    "pass --one-shot-split with another split"
                )
        for tid in order:
            rec = _oracle_record(env_id, kwargs, tid)
            if rec.success:
                source = {"split": kwargs.get("split") or "default", "task_id": rec.task_id, "same_split": same}
                return _example_text(env_id, rec, max_chars), source
        if chosen is not None:
            raise ValueError(f"the oracle did not solve {chosen!r}; pick another task for the one-shot example")
        errors.append(f"{cand}: the oracle solved none of {order}")
    raise ValueError("no one-shot example found (" + "; ".join(errors) + ")")


__all__ = [
    "Branch",
    "EpisodeRecord",
    "EpisodeState",
    "LiveEpisode",
    "RecordWriter",
    "StepRecord",
    "continue_from",
    "episode_conversation",
    "expert_example",
    "make_env",
    "one_shot_example",
    "prompt_key",
    "read_records",
    "run_episodes",
    "step_limit",
    "check_step_limit",
    "with_step_limit",
    "step_messages",
    "write_records",
]
