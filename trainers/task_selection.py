"""Which tasks a run trains and evaluates on: ``env.train_tasks`` / ``env.eval_tasks`` of both trainers.

A count ``N`` picks ``N`` task ids of the split with :func:`select_task_ids` (seeded by the
run seed, stratified by task type by default; 0: all), after ``env.task_pattern`` filtered
them; a list names the tasks (ids or indices into the sorted split) and is taken as given.
"""

from __future__ import annotations

import random
import re
from typing import Any

from agent_gym.core import text_env
from trainers.config_sections import EnvConfig


def select_task_ids(
    ids: list[str], n: int, *, seed: int, types: dict[str, str] | None = None, how: str = "stratified"
) -> list[str]:
    """``n`` of ``ids`` (all when ``n`` is 0 or too large), in split order.

    ``how``: ``"stratified"`` draws (seeded) the same number from each task type of ``types``
    (types left with fewer tasks give their share to the others; a type that cannot get a
    whole share is drawn by the seed), ``"random"`` draws ``n`` seeded, ``"first"`` takes the
    first ``n`` sorted ids.
    """
    if not n or n >= len(ids):
        return list(ids)
    if how == "first":
        return list(ids[:n])
    rng = random.Random(seed)
    strata: dict[str, list[str]] = {}
    for t in ids:
        strata.setdefault((types or {}).get(t, "") if how == "stratified" else "", []).append(t)
    pools = [strata[k] for k in sorted(strata)]
    for pool in pools:
        rng.shuffle(pool)
    rng.shuffle(pools)  # which types get one more when n is not a multiple of their number
    picked: list[str] = []
    while len(picked) < n:
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    rank = {t: i for i, t in enumerate(ids)}
    return sorted(picked, key=rank.__getitem__)


def choose_tasks(env: Any, spec: EnvConfig, *, seed: int, evaluation: bool = False) -> list[str]:
    """The training (or, with ``evaluation``, evaluation) task ids of ``spec`` on the split of ``env``.

    ``env`` is a made env (any wrapper chain around an :class:`agent_gym.core.TextEnv`).
    Raises ``ValueError`` when the split has no tasks or ``task_pattern`` is invalid or matches none,
    and :class:`agent_gym.errors.InvalidTaskError` for a listed task the split does not have.
    """
    base = text_env(env)
    wanted = spec.eval_tasks if evaluation else spec.train_tasks
    which = "evaluation" if evaluation else "training"
    if isinstance(wanted, list):
        return [base.resolve_task_id(t) for t in wanted]
    ids = list(base.task_ids)
    if spec.task_pattern:
        try:
            rx = re.compile(spec.task_pattern)
        except re.error as exc:
            raise ValueError(f"env.task_pattern {spec.task_pattern!r} is not a valid regex: {exc}") from None
        ids = [t for t in ids if rx.search(str(t))]
        if not ids:
            raise ValueError(f"env.task_pattern {spec.task_pattern!r} matches none of the {which} task ids")
    if not ids:
        raise ValueError(f"{spec.env_id} has no {which} tasks (check env.kwargs / env.eval_kwargs)")
    types = {t: base.task_type_of(t) for t in ids}
    return select_task_ids(ids, int(wanted), seed=seed, types=types, how=spec.task_selection)


__all__ = ["choose_tasks", "select_task_ids"]
