"""Episode records of the rollout loop and their JSONL files.

:class:`StepRecord` (one agent step) and :class:`EpisodeRecord` (one trajectory,
one JSON object per line); :func:`read_records`, :func:`write_records` (atomic)
and :class:`RecordWriter` (appends, one flushed line per episode; resumes a
killed run's file).

Conversations for training come from the same renderer as the prompts:
:func:`step_messages` (what the policy saw at step ``t``) and
:func:`episode_conversation` (the whole episode as one multi-turn chat).
Re-exported by :mod:`trainers.rollout`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_write_jsonl
from trainers.policies.base import Conversation
from wrappers import prompting
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


__all__ = [
    "EpisodeRecord",
    "RecordWriter",
    "StepRecord",
    "episode_conversation",
    "read_records",
    "step_messages",
    "write_records",
]
