"""One-shot examples for prompts: the oracle's trajectory with reasoned thoughts.

:func:`expert_example` plays one task; :func:`one_shot_example` picks a task that
is never one of the evaluated ones. Re-exported by :mod:`trainers.rollout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent_gym.core import text_env
from trainers.rollout_envs import make_env
from trainers.rollout_records import EpisodeRecord
from wrappers import prompting
from wrappers.prompting import PromptConfig


def _oracle_record(env_id: str, env_kwargs: Mapping[str, Any], task: str | int) -> EpisodeRecord:
    from trainers.policies.simple import OraclePolicy
    from trainers.rollout import run_episodes  # the scheduler imports this module

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


__all__ = ["expert_example", "one_shot_example"]
