"""From rollout records to per-step training samples with advantages.

Every agent step becomes one sample: the prompt the policy saw at that step
(re-rendered with :func:`trainers.rollout.step_messages`, same renderer and
history window as the rollout) and the policy's raw output as the completion.
Its advantage comes from :func:`trainers.advantages.compute_advantages` over
the whole iteration's steps; every completion token of the step gets it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainers.advantages import HashCoder, compute_advantages, level_group_stats
from trainers.rollout import EpisodeRecord, step_messages
from trainers.sequences import Encoded, EncodeStats, encode_prompt_completion


@dataclass
class StepSample:
    """One training sample (one agent step)."""

    episode_id: str
    group_id: str
    step: int
    advantage: float
    encoded: Encoded


def flat_steps(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """Flat per-step arrays of an iteration: group, trajectory, step, reward, invalid, hash codes."""
    coder = HashCoder()
    groups, trajs, steps, rewards, invalid, codes = [], [], [], [], [], []
    for rec in records:
        for s in rec.steps:
            groups.append(rec.group_id)
            trajs.append(rec.episode_id)
            steps.append(s.index)
            rewards.append(float(s.reward))
            invalid.append(not s.action_valid)
            codes.append(coder.encode(s.context_hashes))
    width = min((len(c) for c in codes), default=1)
    arr = np.array([c[:width] for c in codes], dtype=np.int64).reshape(len(codes), width)
    return {
        "group_ids": groups,
        "traj_ids": trajs,
        "step_ids": np.asarray(steps, dtype=np.int64),
        "rewards": np.asarray(rewards, dtype=np.float64),
        "invalid": np.asarray(invalid, dtype=bool),
        "context_hashes": arr,
    }


def step_advantages(
    records: Sequence[EpisodeRecord], method: str, **options: Any
) -> tuple[np.ndarray, dict[str, float]]:
    """Advantages for every step of ``records`` (record order, then step order) and grouping stats."""
    flat = flat_steps(records)
    if len(flat["rewards"]) == 0:
        return np.zeros(0), {}
    adv = compute_advantages(
        method,
        flat["group_ids"],
        flat["traj_ids"],
        flat["step_ids"],
        flat["rewards"],
        flat["context_hashes"],
        invalid=flat["invalid"],
        **options,
    )
    stats = level_group_stats(flat["group_ids"], flat["context_hashes"])
    return adv, stats


def build_samples(
    records: Sequence[EpisodeRecord],
    advantages: np.ndarray,
    tokenizer: Any,
    *,
    max_length: int | None = None,
    skip_zero_advantage: bool = False,
) -> tuple[list[StepSample], dict[str, int]]:
    """Tokenise every step (prompt masked, output trained); returns samples and counters.

    Counters: ``steps``, ``skipped_zero_adv``, ``truncated`` (kept but cut at ``max_length``),
    ``dropped`` (no trainable token left: no assistant tokens, or cut away) and ``trained_tokens``.
    Raises :class:`trainers.sequences.TrainingDataError` when most steps would be dropped.
    """
    samples: list[StepSample] = []
    stats = EncodeStats("HGPO step samples")
    skipped = 0
    i = 0
    for rec in records:
        cfg = rec.prompt_config()
        for s in rec.steps:
            a = float(advantages[i])
            i += 1
            if skip_zero_advantage and a == 0.0:
                skipped += 1
                continue
            prompt = step_messages(rec, s.index, cfg)
            enc = encode_prompt_completion(
                tokenizer, prompt, [{"role": "assistant", "content": s.raw_output}], max_length
            )
            if stats.add(enc):
                samples.append(StepSample(rec.episode_id, rec.group_id, s.index, a, enc))
    if i != len(advantages):
        raise ValueError(f"{len(advantages)} advantages for {i} steps")
    stats.check(tokenizer, max_length=max_length)
    counts = {
        "steps": i,
        "skipped_zero_adv": skipped,
        "truncated": stats.truncated,
        "dropped": stats.dropped,
        "trained_tokens": stats.tokens,
    }
    return samples, counts


__all__ = ["StepSample", "build_samples", "flat_steps", "step_advantages"]
