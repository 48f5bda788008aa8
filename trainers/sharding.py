"""Rollout work split across the processes of one ``accelerate launch`` (or ``torchrun``).

The training stages are data-parallel through accelerate; the rollout stages
(demonstrations, exploration, reference log-probs, evaluation) are split here by
*work item*: item ``i`` of a list belongs to shard ``i % world``. Each process
plays its items with its own policy engine and writes its own shard file
atomically, so a killed run resumes every shard on its own. The merge puts the
items back in their list order, which is the order a one-process run produces;
sampling seeds come from the work item (never from the rank), so a run with N
processes writes what a run with one process writes.

Waiting for the other shards polls files instead of calling a collective: shards
can differ by hours (long episodes, slow tasks) and a process-group barrier would
time out (30 min for gloo, 10 for NCCL by default). A process that fails makes the
launcher stop the others, so nobody waits forever.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent_gym.fileio import atomic_write_json
from trainers.configfile import setting
from trainers.distributed import barrier

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Which share of the work this process plays: items ``rank, rank + world, ...``."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"bad shard {self.rank} of {self.world}: need 0 <= rank < world")

    @classmethod
    def current(cls) -> Shard:
        """The shard of this process (``RANK`` / ``WORLD_SIZE`` set by the launcher; 0 of 1 otherwise)."""
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))

    @property
    def sharded(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def owns(self, index: int) -> bool:
        return index % self.world == self.rank

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's items, in their order."""
        return list(items[self.rank :: self.world])

    def path(self, path: str | os.PathLike, rank: int | None = None) -> Path:
        """The shard file of ``path`` (``eval/episodes.jsonl`` -> ``eval/episodes.shard1of2.jsonl``).

        The world size is part of the name: a run restarted with another number of
        processes does not resume shards that were cut differently.
        """
        p = Path(path)
        r = self.rank if rank is None else rank
        return p.with_name(f"{p.stem}.shard{r}of{self.world}{p.suffix}")

    def all_paths(self, path: str | os.PathLike) -> list[Path]:
        return [self.path(path, r) for r in range(self.world)]


def interleave(shards: Sequence[Sequence[T]], block: int = 1) -> list[T]:
    """Undo round-robin sharding of blocks: shard ``r`` holds blocks ``r, r + W, ...`` of ``block`` items
    (the last block of the whole list may be shorter). Returns the items in their original order."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    world = len(shards)
    total = sum(len(s) for s in shards)
    out: list[T] = []
    taken = [0] * world
    b = 0
    while len(out) < total:
        r = b % world
        n = min(block, total - len(out))
        part = shards[r][taken[r] : taken[r] + n]
        if len(part) != n:
            raise ValueError(f"shard {r} has too few items for block {b}: the shards were not cut round-robin")
        out += part
        taken[r] += n
        b += 1
    return out


def wait_for(
    paths: Sequence[str | os.PathLike],
    desc: str = "shards",
    poll_s: float = 1.0,
    timeout_s: float | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Block until every file in ``paths`` exists (written atomically by the other processes).

    Raises ``TimeoutError`` after ``timeout_s`` seconds (``None``: wait as long as it takes).
    """
    files = [Path(p) for p in paths]
    t0 = time.monotonic()
    said = 0.0
    while True:
        missing = [p for p in files if not p.exists()]
        if not missing:
            return
        waited = time.monotonic() - t0
        if timeout_s is not None and waited > timeout_s:
            raise TimeoutError(
                f"waited {waited:.0f}s for {len(missing)} {desc} (first: {missing[0]}); "
                "did another process of the launch fail? its log says why"
            )
        if log is not None and waited - said >= 60:
            log(f"waiting for {len(missing)} of {len(files)} {desc} ({waited:.0f}s)")
            said = waited
        time.sleep(poll_s)


@dataclass
class VLLMSettings:
    """Parallelism of the colocated vLLM engine(s) (``backend: vllm``), passed to :class:`~trainers.policies.vllm.VLLMPolicy`.

    Attributes:
        tensor_parallel_size: GPUs per engine (the model split across them). Under a
            launch only 1 is supported (one engine per process, on its own GPU).
        data_parallel_size: number of engines. ``None``: what the run gives (1 in a plain
            run, one per process under a launch). Set, it is checked against that layout
            (the processes of the launch are the data parallelism; vLLM's own multi-engine
            data parallelism is a server feature: ``vllm serve --data-parallel-size``).
        gpu_memory_utilization: fraction of each GPU's memory for the engine (weights +
            KV cache); leave room for the trainer when training shares the GPU.
        enable_sleep_mode: let the engine free its GPU memory between rollouts (HGPO puts
            it to sleep during each update and wakes it before the weight sync; GPU only).
    """

    tensor_parallel_size: int = setting(1, help="GPUs per engine (1 under accelerate launch: one engine per process)")
    data_parallel_size: int | None = setting(
        None, help="number of engines; null: what the run gives (1, or one per process under a launch)"
    )
    gpu_memory_utilization: float = setting(
        0.8, help="fraction of each GPU's memory for the engine (leave room when training shares the GPU)"
    )
    enable_sleep_mode: bool = setting(
        False, help="free the engine's GPU memory between rollouts (HGPO: during each update; GPU only)"
    )

    def __post_init__(self) -> None:
        if isinstance(self.tensor_parallel_size, bool) or int(self.tensor_parallel_size) < 1:
            raise ValueError(f"vllm.tensor_parallel_size must be an integer >= 1, got {self.tensor_parallel_size!r}")
        if self.data_parallel_size is not None and int(self.data_parallel_size) < 1:
            raise ValueError(f"vllm.data_parallel_size must be >= 1 or null, got {self.data_parallel_size!r}")
        if not 0.0 < float(self.gpu_memory_utilization) <= 1.0:
            raise ValueError(f"vllm.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization!r}")
        if not isinstance(self.enable_sleep_mode, bool):
            raise ValueError(f"vllm.enable_sleep_mode must be true or false, got {self.enable_sleep_mode!r}")

    def policy_kwargs(self, world: int | None = None) -> dict[str, Any]:
        """Keyword arguments for ``VLLMPolicy`` in a run of ``world`` processes (default: this run's)."""
        world = int(os.environ.get("WORLD_SIZE", "1")) if world is None else world
        tp = int(self.tensor_parallel_size)
        if world > 1 and tp != 1:
            raise ValueError(
                f"vllm.tensor_parallel_size={tp} cannot be used with an engine per process under "
                "accelerate launch; set it to 1 there, or run the rollout stages with plain python, or "
                "serve the model (vllm api_server --tensor-parallel-size) and use the openai backend"
            )
        engines = world // tp
        if self.data_parallel_size is not None and int(self.data_parallel_size) != engines:
            raise ValueError(
                f"vllm.data_parallel_size={self.data_parallel_size}, but this run has {world} "
                f"process(es) with tensor_parallel_size={tp}, i.e. {engines} engine(s): launch "
                f"{int(self.data_parallel_size) * tp} processes, or set data_parallel_size to null"
            )
        kw: dict[str, Any] = {"gpu_memory_utilization": float(self.gpu_memory_utilization)}
        if tp != 1:
            kw["tensor_parallel_size"] = tp
        if self.enable_sleep_mode:
            kw["enable_sleep_mode"] = True
        if world > 1:
            # every process drives its own engine through the launch's process group, as TRL's colocated
            # mode does (the processes beyond one tensor-parallel group are vLLM's "external" data
            # parallelism); sampling seeds are per request (GenerationParams.seed), not per engine
            kw["distributed_executor_backend"] = "external_launcher"
        return kw


def close_policy(policy) -> None:
    """``policy.close()``, keeping the launch's process group alive.

    A vLLM engine started with ``external_launcher`` shares the launch's default process
    group, and its shutdown destroys it (``cleanup_dist_env_and_memory``), after which the
    next barrier or training stage of the run would fail. Under a launch the default
    group's destruction is skipped while the engine shuts down (its own sub-groups go).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        policy.close()
        return
    import torch.distributed as dist

    original = dist.destroy_process_group

    def keep_default(group=None):
        if group is not None:
            original(group)

    dist.destroy_process_group = keep_default
    try:
        policy.close()
    finally:
        dist.destroy_process_group = original


# ---------------------------------------------------------------- episodes
def run_episodes_sharded(
    policy,
    env_id: str,
    tasks: Sequence[str | int],
    *,
    out_path: str | os.PathLike,
    shard: Shard | None = None,
    group_size: int = 1,
    stats: dict[str, int] | None = None,
    poll_s: float = 1.0,
    sync: Callable[[], None] | None = None,
    **kwargs: Any,
):
    """:func:`trainers.rollout.run_episodes` with the tasks split across the processes of a launch.

    One process: exactly ``run_episodes(..., out_path=out_path)``. Several: this process
    plays tasks ``rank, rank + world, ...`` into its shard file (appended as episodes
    finish; resumable), then writes ``<shard>.done.json`` with its episode order and
    counters. Every process waits for all shards and returns *all* records in task
    order (the one-process order); the main process also writes them to ``out_path``
    atomically. ``stats`` gets the counters summed over the shards (``rounds`` is the
    sum of each process's batched calls). Task ids must be distinct. ``sync`` waits for all
    processes once at the start (default: :func:`trainers.distributed.barrier`).

    Deterministic policies (greedy decoding, the oracle) give exactly the one-process
    records. Sampled episodes do not: ``run_episodes`` seeds each round's batch, so an
    episode's samples depend on which episodes share its batches (exploration therefore
    shards whole chunks, whose batches are the same in any process).
    """
    from trainers.rollout import read_records, run_episodes, write_records

    shard = shard or Shard.current()
    if not shard.sharded:
        return run_episodes(policy, env_id, tasks, out_path=out_path, group_size=group_size, stats=stats, **kwargs)
    tasks = list(tasks)
    if len(set(map(str, tasks))) != len(tasks):
        raise ValueError(
            "sharded episodes need distinct task ids (a task listed twice would get "
            "different episode ids in different shards); use group_size for repeats"
        )
    # a marker left by an earlier attempt must not be read as this attempt's: each process removes
    # its own, and nobody reads markers before all have done so (``sync``: the launch's barrier)
    _done(shard.path(out_path)).unlink(missing_ok=True)
    (sync or barrier)()
    counters: dict[str, int] = {}
    mine = run_episodes(
        policy,
        env_id,
        shard.take(tasks),
        out_path=shard.path(out_path),
        group_size=group_size,
        stats=counters,
        **kwargs,
    )
    atomic_write_json(_done(shard.path(out_path)), {"episodes": [r.episode_id for r in mine], "stats": counters})
    wait_for(
        [_done(p) for p in shard.all_paths(out_path)], desc=f"episode shards of {Path(out_path).name}", poll_s=poll_s
    )
    parts = []
    for p in shard.all_paths(out_path):
        done = json.loads(_done(p).read_text(encoding="utf-8"))
        by_id = {r.episode_id: r for r in read_records(p)}
        parts.append([by_id[e] for e in done["episodes"]])
        if stats is not None:
            for k, v in done["stats"].items():
                stats[k] = stats.get(k, 0) + v
    records = interleave(parts, block=group_size)
    if shard.main:
        write_records(out_path, records)
    return records


def _done(shard_file: Path) -> Path:
    return shard_file.with_name(shard_file.name + ".done.json")


# ---------------------------------------------------------------- rows (JSON-ready dicts)
def gather_rows(
    rows: Iterable[dict[str, Any]],
    path: str | os.PathLike,
    *,
    shard: Shard | None = None,
    block: int = 1,
    poll_s: float = 1.0,
) -> list[dict[str, Any]]:
    """Write this shard's ``rows`` (blocks ``rank, rank + world, ...`` of ``block`` rows) to its shard
    file of ``path`` atomically, wait for the other shards and return all rows in their original order.

    One process: returns ``rows`` unchanged and writes nothing.
    """
    from agent_gym.fileio import atomic_write_jsonl

    shard = shard or Shard.current()
    rows = list(rows)
    if not shard.sharded:
        return rows
    atomic_write_jsonl(shard.path(path), rows, ensure_ascii=False)
    atomic_write_json(_done(shard.path(path)), {"rows": len(rows)})
    return read_gathered(path, shard=shard, block=block, poll_s=poll_s)


def read_gathered(
    path: str | os.PathLike, *, shard: Shard | None = None, block: int = 1, poll_s: float = 1.0
) -> list[dict[str, Any]]:
    """All shards' rows of ``path`` in their original order, once every shard has written its file."""
    shard = shard or Shard.current()
    wait_for([_done(p) for p in shard.all_paths(path)], desc=f"shards of {Path(path).name}", poll_s=poll_s)
    parts = []
    for p in shard.all_paths(path):
        with p.open(encoding="utf-8") as f:
            parts.append([json.loads(line) for line in f if line.strip()])
    return interleave(parts, block=block)


def shard_done(path: str | os.PathLike, shard: Shard | None = None) -> bool:
    """True when this process's shard of ``path`` was finished by an earlier (killed) run."""
    shard = shard or Shard.current()
    return shard.sharded and _done(shard.path(path)).exists()
