"""Per-environment task selection for Gymnasium vector envs.

``VectorEnv.reset(options=...)`` hands the same options to every sub-env; to
start each sub-env on its own task, reset them one by one with Gymnasium's
``reset_mask`` option (supported by both ``SyncVectorEnv`` and
``AsyncVectorEnv``)::

    envs = gym.make_vec("ALFWorld-Text-v0", num_envs=4, vectorization_mode="async")
    obs, infos = reset_tasks(envs, ["task-a", "task-b", 7, 8])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv


def reset_tasks(
    envs: VectorEnv, task_ids: Sequence[Any], seed: int | Sequence[int | None] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Reset sub-env ``i`` on ``task_ids[i]``; returns the batched ``(obs, infos)``."""
    if len(task_ids) != envs.num_envs:
        raise ValueError(f"need one task id per sub-env: got {len(task_ids)} for num_envs={envs.num_envs}")
    seeds: list[int | None]
    if seed is None or isinstance(seed, int):
        seeds = [None if seed is None else seed + i for i in range(envs.num_envs)]
    else:
        seeds = list(seed)
    obs: Any = None
    infos: dict[str, Any] = {}
    for i, task_id in enumerate(task_ids):
        mask = np.zeros(envs.num_envs, dtype=np.bool_)
        mask[i] = True
        # gymnasium annotates VectorEnv.reset(seed: int | None); Sync/AsyncVectorEnv take a list per sub-env
        obs, infos_i = envs.reset(seed=seeds, options={"task_id": task_id, "reset_mask": mask})  # type: ignore[arg-type]
        infos = _merge(infos, infos_i, i)
    return obs, infos


def _merge(acc: dict[str, Any], new: dict[str, Any], index: int) -> dict[str, Any]:
    """Keep sub-env ``index``'s entries of ``new`` in the accumulated vector info dict."""
    for key, value in new.items():
        if key.startswith("_"):
            continue
        mask = new.get(f"_{key}")
        if mask is None or not mask[index]:
            continue
        if key not in acc:
            acc[key] = (
                np.empty(len(mask), dtype=object)
                if not isinstance(value, np.ndarray) or value.dtype == object
                else np.zeros_like(value)
            )
            acc[f"_{key}"] = np.zeros(len(mask), dtype=np.bool_)
        acc[key][index] = value[index]
        acc[f"_{key}"][index] = True
    return acc
