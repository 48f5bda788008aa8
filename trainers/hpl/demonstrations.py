"""D_expert: successful expert trajectories as chat conversations in the rollout prompt format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainers.policies.base import GenerationParams, Policy
from trainers.rollout import EpisodeRecord, episode_conversation, read_records, write_records
from trainers.sharding import Shard, run_episodes_sharded
from wrappers.prompting import PromptConfig


def is_success(record: EpisodeRecord, threshold: float = 1.0, strict: bool = False) -> bool:
    """Outcome filter of the paper: reward 1.0 (ALFWorld, SQL) or > 0.8 (WebShop: ``strict=True``)."""
    r = outcome(record)
    return r > threshold if strict else r >= threshold - 1e-9


def outcome(record: EpisodeRecord) -> float:
    """The episode's outcome reward: the final step's reward if it terminated, else 0."""
    return float(record.final_reward) if record.terminated else 0.0


def conversation(record: EpisodeRecord, prompt: PromptConfig) -> list[dict[str, str]]:
    """The whole episode as one chat (full history), ending with the last assistant message."""
    return episode_conversation(record, prompt.replace(history_window=None))


def collect_demonstrations(
    teacher: Policy,
    env_id: str,
    tasks: Sequence[str | int],
    *,
    env_kwargs: Mapping[str, Any] | None,
    prompt: PromptConfig,
    out_dir: str | Path,
    threshold: float = 1.0,
    strict: bool = False,
    num_envs: int = 4,
    max_steps: int | None = None,
    params: GenerationParams | None = None,
    stats: dict[str, int] | None = None,
) -> list[EpisodeRecord]:
    """Play ``tasks`` with the teacher (oracle or model) and keep the successful episodes.

    Writes ``teacher_episodes.jsonl`` (all, resumable), ``expert.jsonl`` (kept episode records)
    and ``expert_conversations.jsonl`` (the kept ones as chat conversations) in ``out_dir``.
    The env must be made with ``expert=True`` when the teacher is the oracle. Under a launch the
    tasks are split across the processes (:func:`trainers.sharding.run_episodes_sharded`); every
    process returns all kept episodes, the main one writes the files.
    """
    out_dir = Path(out_dir)
    records = run_episodes_sharded(
        teacher,
        env_id,
        list(tasks),
        env_kwargs=env_kwargs,
        num_envs=num_envs,
        prompt=prompt,
        params=params or GenerationParams(temperature=0.0),
        max_steps=max_steps,
        out_path=out_dir / "teacher_episodes.jsonl",
        progress=True,
        stats=stats,
        seed=0,
    )
    kept = [r for r in records if is_success(r, threshold, strict)]
    if Shard.current().main:
        write_records(out_dir / "expert.jsonl", kept)
        _write_conversations(out_dir / "expert_conversations.jsonl", kept, prompt)
    return kept


def _write_conversations(path: Path, records: Sequence[EpisodeRecord], prompt: PromptConfig) -> None:
    """D_expert as chat conversations (one JSON object per line: ``task_id``, ``messages``), atomically."""
    import json
    import os

    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"task_id": r.task_id, "messages": conversation(r, prompt)}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def load_demonstrations(out_dir: str | Path) -> list[EpisodeRecord]:
    return read_records(Path(out_dir) / "expert.jsonl")
