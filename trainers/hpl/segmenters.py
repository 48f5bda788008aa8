"""Split an expert trajectory into contiguous action groups.

A segmentation of a trajectory with ``T`` actions is a list of half-open
``(start, end)`` step ranges that cover ``0..T`` in order without gaps or overlap.
Four segmenters from the HPL paper:

* :class:`FixedNSegmenter`: ``N`` groups of (nearly) equal length (default 3).
* :class:`FixedKSegmenter`: groups of ``K`` steps (default 3; the last may be shorter).
* :class:`UncertaintySegmenter`: a boundary before step ``t`` when pi_ref's action
  entropy at ``t`` exceeds a threshold, by default the 80th percentile over the
  training data (:meth:`UncertaintySegmenter.fit`).
* :class:`SemanticSegmenter`: an LLM partitions the trajectory into sub-tasks; the
  JSON answer is validated, retried, and on failure the segmenter falls back to
  Fixed-K with a logged warning.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

Segment = tuple[int, int]


class Segmenter(Protocol):
    """Anything with ``segment(actions, observations, entropies) -> list[Segment]``."""

    name: str

    def segment(
        self,
        actions: Sequence[str],
        observations: Sequence[str] | None = None,
        entropies: Sequence[float] | None = None,
    ) -> list[Segment]: ...


def validate_segments(segments: Sequence[Sequence[int]], n_steps: int) -> list[Segment]:
    """Check that ``segments`` are contiguous half-open ranges covering ``0..n_steps``.

    Returns them as a list of int tuples; raises ``ValueError`` saying what is wrong.
    """
    out: list[Segment] = []
    expected = 0
    for seg in segments:
        if len(seg) != 2:
            raise ValueError(f"a segment is a [start, end) pair, got {seg!r}")
        start, end = int(seg[0]), int(seg[1])
        if start != expected:
            raise ValueError(f"segment {seg!r} should start at step {expected}")
        if end <= start:
            raise ValueError(f"segment {seg!r} is empty or reversed")
        out.append((start, end))
        expected = end
    if expected != n_steps:
        raise ValueError(f"segments cover steps 0..{expected} but the trajectory has {n_steps} steps")
    return out


@dataclass
class FixedNSegmenter:
    """``n`` groups of nearly equal length (earlier groups take the remainder)."""

    n: int = 3
    name: str = "fixed_n"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("fixed_n needs n >= 1")

    def segment(self, actions, observations=None, entropies=None) -> list[Segment]:
        t = len(actions)
        n = min(self.n, t)
        if n == 0:
            return []
        base, extra = divmod(t, n)
        segs, start = [], 0
        for i in range(n):
            end = start + base + (1 if i < extra else 0)
            segs.append((start, end))
            start = end
        return segs


@dataclass
class FixedKSegmenter:
    """Consecutive groups of ``k`` steps; the last group holds the remainder."""

    k: int = 3
    name: str = "fixed_k"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError("fixed_k needs k >= 1")

    def segment(self, actions, observations=None, entropies=None) -> list[Segment]:
        t = len(actions)
        return [(s, min(s + self.k, t)) for s in range(0, t, self.k)]


@dataclass
class UncertaintySegmenter:
    """Start a new group before step ``t`` (t > 0) when ``entropies[t] > threshold``.

    ``threshold`` is set by :meth:`fit` to the ``percentile``-th percentile of all
    per-step entropies of the training trajectories (pi_ref's mean token entropy
    of the expert action given the history; see ``trainers.hpl.exploration``).
    """

    threshold: float | None = None
    percentile: float = 80.0
    name: str = "uncertainty"

    def fit(self, all_entropies: Sequence[float]) -> UncertaintySegmenter:
        values = np.asarray(list(all_entropies), dtype=float)
        if values.size == 0:
            raise ValueError("cannot fit the uncertainty threshold on zero steps")
        self.threshold = float(np.percentile(values, self.percentile))
        return self

    def segment(self, actions, observations=None, entropies=None) -> list[Segment]:
        t = len(actions)
        if t == 0:
            return []
        if entropies is None or len(entropies) != t:
            raise ValueError(
                f"the uncertainty segmenter needs one entropy per step ({t}), got "
                f"{None if entropies is None else len(entropies)}"
            )
        if self.threshold is None:
            raise ValueError("call UncertaintySegmenter.fit(entropies) or give a threshold first")
        starts = [0] + [i for i in range(1, t) if entropies[i] > self.threshold]
        ends = starts[1:] + [t]
        return list(zip(starts, ends))


SEMANTIC_SYSTEM_PROMPT = (
    "You split an agent's action sequence into sub-tasks. A sub-task is a contiguous run of "
    "actions that achieves one intermediate goal (for example: find an object, pick it up, "
    "clean it, put it somewhere)."
)

SEMANTIC_USER_TEMPLATE = """Task: {task}

Actions (numbered from 0):
{actions}

Split actions 0..{last} into contiguous sub-tasks, in order, covering every action exactly once.
Answer with JSON only, a list of [first, last] index pairs (both inclusive), e.g. [[0, 2], [3, 5], [6, {last}]]."""


def semantic_prompt(actions: Sequence[str], task: str = "") -> list[dict[str, str]]:
    """The chat messages the semantic segmenter sends to the LLM."""
    numbered = "\n".join(f"{i}: {a}" for i, a in enumerate(actions))
    user = SEMANTIC_USER_TEMPLATE.format(task=task or "(see actions)", actions=numbered, last=len(actions) - 1)
    return [{"role": "system", "content": SEMANTIC_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_semantic_answer(text: str, n_steps: int) -> list[Segment]:
    """Parse ``[[first, last], ...]`` (inclusive) from an LLM answer and validate it.

    Accepts surrounding prose or a fenced code block; raises ``ValueError`` otherwise.
    """
    match = re.search(r"\[\s*\[.*\]\s*\]", text, flags=re.S)
    if not match:
        raise ValueError("no JSON list of [first, last] pairs in the answer")
    try:
        pairs = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"answer is not valid JSON: {exc}") from exc
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise ValueError("answer must be a list of [first, last] pairs")
    if not all(isinstance(x, int) and not isinstance(x, bool) for p in pairs for x in p):
        raise ValueError("indices must be integers")
    return validate_segments([(p[0], p[1] + 1) for p in pairs], n_steps)


@dataclass
class SemanticSegmenter:
    """Ask an LLM for sub-task boundaries; validate, retry, fall back to Fixed-K.

    ``generate`` maps chat messages to the model's answer text; wrap any policy
    backend with :func:`policy_chat_fn`.
    """

    generate: Callable[[list[dict[str, str]]], str]
    retries: int = 2
    fallback_k: int = 3
    name: str = "semantic"
    calls: int = 0
    fallbacks: int = 0

    def segment(self, actions, observations=None, entropies=None, task: str = "") -> list[Segment]:
        t = len(actions)
        if t == 0:
            return []
        messages = semantic_prompt(actions, task)
        error = ""
        for attempt in range(1 + self.retries):
            self.calls += 1
            answer = self.generate(messages)
            try:
                return parse_semantic_answer(answer, t)
            except ValueError as exc:
                error = str(exc)
                logger.debug("semantic segmentation attempt %d rejected: %s", attempt + 1, error)
                # retry with feedback, so that even greedy decoding gets a different prompt
                messages = messages[:2] + [
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": f"That answer is invalid ({error}). Reply with the JSON list only."},
                ]
        self.fallbacks += 1
        logger.warning(
            "semantic segmenter: no valid answer after %d tries (%s); falling back to Fixed-K (k=%d)",
            1 + self.retries,
            error,
            self.fallback_k,
        )
        return FixedKSegmenter(self.fallback_k).segment(actions)


def policy_chat_fn(
    policy, max_new_tokens: int = 256, temperature: float = 0.0
) -> Callable[[list[dict[str, str]]], str]:
    """Turn a ``trainers.policies.Policy`` into the ``generate`` callable of :class:`SemanticSegmenter`."""
    from trainers.policies.base import GenerationParams

    params = GenerationParams(temperature=temperature, max_new_tokens=max_new_tokens)

    def generate(messages: list[dict[str, str]]) -> str:
        return policy.generate([messages], params)[0][0].text

    return generate


def make_segmenter(name: str, **kwargs) -> Segmenter:
    """Build a segmenter by name: ``fixed_n`` (n), ``fixed_k`` (k), ``uncertainty`` (percentile), ``semantic`` (generate)."""
    name = name.lower().replace("-", "_")
    if name == "fixed_n":
        return FixedNSegmenter(n=int(kwargs.get("n", 3)))
    if name == "fixed_k":
        return FixedKSegmenter(k=int(kwargs.get("k", 3)))
    if name == "uncertainty":
        return UncertaintySegmenter(percentile=float(kwargs.get("percentile", 80.0)))
    if name == "semantic":
        if kwargs.get("generate") is None:
            raise ValueError("the semantic segmenter needs an LLM: give generate=callable(messages) -> str")
        return SemanticSegmenter(
            generate=kwargs["generate"], retries=int(kwargs.get("retries", 2)), fallback_k=int(kwargs.get("k", 3))
        )
    raise ValueError(f"unknown segmenter {name!r}; choose fixed_n, fixed_k, uncertainty or semantic")
