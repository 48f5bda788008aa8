"""One-shot exploration with pi_ref: trajectory-, step- and group-level preference pairs.

Every expert demonstration is walked once in a live env (from ``reset``, taking a
snapshot before each expert step). All branches then start from those
snapshots with :func:`trainers.rollout.continue_from` (restore, never replay),
with one batched generation per round across the envs of a chunk.

* trajectory level (ETO): pi_ref plays the task from the start; if its outcome
  is lower than the expert's, ``(expert, pi_ref)`` is a pair.
* step level (IPR): from the state before expert step ``t`` pi_ref samples an
  action and completes the episode (its return is the Monte-Carlo return of
  pi_ref's step). The expert's step is worth, as in IPR, the mean outcome of
  ``M`` pi_ref rollouts from the state after the expert's action
  (``step_reward="mc"``, the default), or the expert's realised outcome
  (``step_reward="outcome"``, cheaper: no extra rollouts).
* group level (HPL): each expert group ``G_w`` (steps ``s..e-1``) is matched with
  a group ``G_l`` of the same length sampled by pi_ref from the state before
  step ``s``; ``r(G)`` is the mean outcome of ``M`` pi_ref rollouts from the state
  after the group (the outcome itself when the group ended the episode).

A pair is a JSON-ready dict: ``level, pair_id, task_id, prompt, chosen, rejected,
reward_chosen, reward_rejected`` (+ ``start, length`` for steps/groups).
``prompt`` is the chat up to the branch point (full history), ``chosen`` /
``rejected`` are multi-turn continuations that start with an assistant message;
their environment observations are user messages, which the loss masks out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trainers.hpl.demonstrations import outcome
from trainers.hpl.segmenters import Segment
from trainers.policies.base import GenerationParams, Policy
from trainers.rollout import Branch, EpisodeRecord, EpisodeState, LiveEpisode, continue_from
from wrappers.prompting import PromptConfig, render_messages

LEVELS = ("traj", "step", "group")
#: how the expert's step is valued at the step level
STEP_REWARDS = ("mc", "outcome")


@dataclass
class ExpertWalk:
    """An expert demonstration replayed once in a live env, with a state before every step.

    ``states[t]`` is the state before expert step ``t``; ``states[T]`` the final one.
    """

    demo: EpisodeRecord
    episode: LiveEpisode
    states: list[EpisodeState]
    record: EpisodeRecord

    @property
    def num_steps(self) -> int:
        return len(self.record.steps)


def walk_expert(episode: LiveEpisode, demo: EpisodeRecord) -> ExpertWalk:
    """Reset ``episode`` to the demo's task and apply its outputs, snapshotting before each step.

    Raises ``RuntimeError`` when the env does not reproduce the demo's observations
    (a non-deterministic env, or a demo recorded with other env options).
    """
    episode.reset(demo.task_id, seed=demo.seed, group_id=demo.group_id, episode_id=f"walk/{demo.episode_id}")
    states: list[EpisodeState] = []
    for step in demo.steps:
        states.append(episode.snapshot())
        episode.apply(step.raw_output, forced=True)
    states.append(episode.snapshot())
    record = episode.record("expert")
    if record.observations != demo.observations:
        first = (
            next(i for i, (a, b) in enumerate(zip(record.observations, demo.observations)) if a != b)
            if len(record.observations) == len(demo.observations)
            else min(len(record.observations), len(demo.observations))
        )
        raise RuntimeError(
            f"replaying demo {demo.episode_id} (task {demo.task_id}) diverged at observation {first}: "
            "the env must be deterministic and made with the same options as for the demonstrations"
        )
    return ExpertWalk(demo, episode, states, record)


def split_continuation(record: EpisodeRecord, start: int, end: int, prompt: PromptConfig) -> tuple[list, list]:
    """``(prompt_messages, completion_messages)`` for steps ``start..end-1`` of ``record``.

    The prompt is the full-history chat before step ``start``; the completion holds the
    assistant outputs of steps ``start..end-1`` with the observations between them
    (as user messages) and ends with the assistant output of step ``end - 1``.
    """
    if not 0 <= start < end <= len(record.steps):
        raise ValueError(f"bad step range {start}..{end} for an episode of {len(record.steps)} steps")
    cfg = prompt.replace(history_window=None)
    obs = record.observations
    outs = record.raw_outputs
    msgs = render_messages(record.env_id, obs[:end], outs[: end - 1], cfg)
    msgs.append({"role": "assistant", "content": outs[end - 1]})
    first_user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
    cut = first_user + 1 + 2 * start
    if msgs[cut]["role"] != "assistant" or msgs[cut]["content"] != outs[start]:
        raise RuntimeError("render_messages produced an unexpected layout; cannot split the continuation")
    return msgs[:cut], msgs[cut:]


def state_outcome(state: EpisodeState) -> float | None:
    """The outcome reward of a finished state (``None`` while the episode goes on)."""
    if not state.done:
        return None
    if state.terminated and state.steps:
        return float(state.steps[-1].reward)
    return 0.0


@dataclass
class LevelStats:
    """Cost of one exploration level (summed over chunks)."""

    llm_calls: int = 0
    generated_tokens: int = 0
    env_steps: int = 0
    rounds: int = 0
    branches: int = 0
    seconds: float = 0.0
    pairs: int = 0
    candidates: int = 0

    def add(self, counters: dict[str, int]) -> None:
        for k, v in counters.items():
            if hasattr(self, k):
                setattr(self, k, getattr(self, k) + v)

    def merge(self, other: LevelStats) -> None:
        for k, v in other.__dict__.items():
            setattr(self, k, getattr(self, k) + v)


def monte_carlo_values(
    targets: Sequence[tuple[LiveEpisode, EpisodeState]],
    policy: Policy,
    m: int,
    params: GenerationParams,
    stats: dict[str, int] | None = None,
) -> list[float]:
    """Mean outcome of ``m`` pi_ref rollouts from each ``(episode, state)``.

    A finished state is worth its own outcome (no rollouts). Rollouts from states
    of different episodes are generated in one batch per round.
    """
    if m < 1:
        raise ValueError(f"need at least one Monte-Carlo rollout, got m={m}")
    values: list[float | None] = [state_outcome(st) for _, st in targets]
    branches = [
        Branch(ep, st, meta={"target": i}) for i, (ep, st) in enumerate(targets) if values[i] is None for _ in range(m)
    ]
    sums = [0.0] * len(targets)
    for rec in continue_from(branches, policy, params, stats=stats):
        sums[rec.meta["target"]] += outcome(rec)
    return [v if v is not None else sums[i] / m for i, v in enumerate(values)]


def _same_outputs(a: Sequence[dict], b: Sequence[dict]) -> bool:
    return [m["content"] for m in a if m["role"] == "assistant"] == [
        m["content"] for m in b if m["role"] == "assistant"
    ]


@dataclass
class Explorer:
    """Builds the preference pairs of one chunk of expert walks (one live env each)."""

    policy: Policy
    params: GenerationParams
    prompt: PromptConfig
    mc_rollouts: int = 5
    step_rollouts: int = 1
    step_stride: int = 1
    min_gap: float = 0.0
    step_reward: str = "mc"  # "mc": M pi_ref rollouts after the expert's action (IPR); "outcome": the expert's outcome
    stats: dict[str, LevelStats] = field(default_factory=lambda: {lv: LevelStats() for lv in LEVELS})

    def __post_init__(self) -> None:
        if self.step_reward not in STEP_REWARDS:
            raise ValueError(f"step_reward must be one of {STEP_REWARDS}, got {self.step_reward!r}")

    def _pair(
        self,
        level: str,
        walk: ExpertWalk,
        chosen_rec: EpisodeRecord,
        rejected_rec: EpisodeRecord,
        start: int,
        end_w: int,
        end_l: int,
        r_w: float,
        r_l: float,
        key: str,
    ) -> dict[str, Any] | None:
        p_w, c_w = split_continuation(chosen_rec, start, end_w, self.prompt)
        p_l, c_l = split_continuation(rejected_rec, start, end_l, self.prompt)
        if p_w != p_l:
            raise RuntimeError(f"{level} pair {key}: chosen and rejected do not share their context")
        self.stats[level].candidates += 1
        if not r_w - r_l > self.min_gap or _same_outputs(c_w, c_l):
            return None
        self.stats[level].pairs += 1
        # every level has the same keys (trainers.hpl.preferences.PAIR_COLUMNS); the pipeline sets "bucket"
        return {
            "level": level,
            "pair_id": key,
            "task_id": walk.demo.task_id,
            "env_id": walk.demo.env_id,
            "start": start,
            "length": end_w - start,
            "length_rejected": end_l - start,
            "prompt": p_w,
            "chosen": c_w,
            "rejected": c_l,
            "reward_chosen": float(r_w),
            "reward_rejected": float(r_l),
            "bucket": None,
        }

    def _params(self, level: str) -> GenerationParams:
        """Per-level sampling seed, so levels do not draw identical samples from identical states."""
        if self.params.seed is None:
            return self.params
        return self.params.with_(seed=self.params.seed + 1_000_003 * LEVELS.index(level))

    def _timed(self, level: str, run):
        counters: dict[str, int] = {}
        t0 = time.perf_counter()
        result = run(counters)
        st = self.stats[level]
        st.add(counters)
        st.seconds += time.perf_counter() - t0
        return result

    # ------------------------------------------------------------ levels
    def trajectory_level(self, walks: Sequence[ExpertWalk]) -> tuple[list[dict], list[EpisodeRecord]]:
        """ETO pairs, plus pi_ref's own episodes (RFT keeps the successful ones)."""

        def run(counters):
            branches = [Branch(w.episode, w.states[0], meta={"walk": i}) for i, w in enumerate(walks)]
            self.stats["traj"].branches += len(branches)
            return continue_from(branches, self.policy, self._params("traj"), stats=counters)

        recs = self._timed("traj", run)
        pairs = []
        for w, rec in zip(walks, recs):
            if not rec.steps or not w.num_steps:
                continue
            pair = self._pair(
                "traj",
                w,
                w.record,
                rec,
                0,
                w.num_steps,
                len(rec.steps),
                outcome(w.record),
                outcome(rec),
                f"traj/{w.demo.episode_id}",
            )
            if pair:
                pairs.append(pair)
        return pairs, recs

    def step_level(self, walks: Sequence[ExpertWalk]) -> list[dict]:
        """IPR pairs: at each (strided) expert step, pi_ref's completed branch vs the expert continuation."""
        jobs = [(i, t) for i, w in enumerate(walks) for t in range(0, w.num_steps, self.step_stride)]

        def run(counters):
            params = self._params("step")
            branches = [
                Branch(walks[i].episode, walks[i].states[t], meta={"walk": i, "t": t, "job": j})
                for j, (i, t) in enumerate(jobs)
                for _ in range(self.step_rollouts)
            ]
            self.stats["step"].branches += len(branches)
            recs = continue_from(branches, self.policy, params, stats=counters)
            if self.step_reward == "outcome":
                return recs, [outcome(walks[i].record) for i, _ in jobs]
            targets = [(walks[i].episode, walks[i].states[t + 1]) for i, t in jobs]
            self.stats["step"].branches += self.mc_rollouts * sum(state_outcome(st) is None for _, st in targets)
            mc_params = params if params.seed is None else params.with_(seed=params.seed + 7919)
            return recs, monte_carlo_values(targets, self.policy, self.mc_rollouts, mc_params, stats=counters)

        recs, expert_values = self._timed("step", run)
        pairs = []
        for k, rec in enumerate(recs):
            i, t = rec.meta["walk"], rec.meta["t"]
            w = walks[i]
            if len(rec.steps) <= t:
                continue
            pair = self._pair(
                "step",
                w,
                w.record,
                rec,
                t,
                w.num_steps,
                len(rec.steps),
                expert_values[rec.meta["job"]],
                outcome(rec),
                f"step/{w.demo.episode_id}/{t}/{k % self.step_rollouts}",
            )
            if pair:
                pairs.append(pair)
        return pairs

    def group_level(self, walks: Sequence[ExpertWalk], segments: Sequence[Sequence[Segment]]) -> list[dict]:
        """HPL pairs with Monte-Carlo group rewards ``r(G)`` over ``mc_rollouts`` pi_ref rollouts."""
        jobs = [(i, s, e) for i, segs in enumerate(segments) for s, e in segs]

        def run(counters):
            branches = [
                Branch(walks[i].episode, walks[i].states[s], max_steps=e - s, meta={"job": j})
                for j, (i, s, e) in enumerate(jobs)
            ]
            self.stats["group"].branches += len(branches)
            params = self._params("group")
            losers = continue_from(branches, self.policy, params, keep_end_state=True, stats=counters)
            targets = []
            for (i, _s, e), rec in zip(jobs, losers):
                targets.append((walks[i].episode, walks[i].states[e]))
                targets.append((walks[i].episode, rec.end_state))
            self.stats["group"].branches += self.mc_rollouts * sum(state_outcome(st) is None for _, st in targets)
            mc_params = params if params.seed is None else params.with_(seed=params.seed + 7919)
            values = monte_carlo_values(targets, self.policy, self.mc_rollouts, mc_params, stats=counters)
            return losers, values

        losers, values = self._timed("group", run)
        pairs = []
        for j, ((i, s, e), rec) in enumerate(zip(jobs, losers)):
            w = walks[i]
            if len(rec.steps) <= s:
                continue
            pair = self._pair(
                "group",
                w,
                w.record,
                rec,
                s,
                e,
                len(rec.steps),
                values[2 * j],
                values[2 * j + 1],
                f"group/{w.demo.episode_id}/{s}-{e}",
            )
            if pair:
                pairs.append(pair)
        return pairs
