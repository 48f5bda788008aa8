"""The HPL pipeline: stages in one run directory, each resumable.

The stages, in order (:data:`STAGE_REGISTRY`; what each writes: docs/hpl.md): ``demos`` (the
teacher plays the training tasks), ``sft`` (behaviour cloning -> ``pi_ref``), ``explore`` (one-shot
exploration with pi_ref), ``curriculum`` (group pairs bucketed), ``reference`` (pi_ref log-probs of
every pair), ``train`` (the method's objective -> ``policy/``), ``evaluate`` (greedy episodes of the
final policy). A method runs the ones it needs (:mod:`trainers.hpl.methods`).

``state.json`` records finished stages with their statistics; every artifact is
written to a temporary file and moved into place, so a killed run restarts at
the stage (or exploration chunk, or curriculum phase) it was in.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from agent_gym.fileio import atomic_write_json, atomic_write_jsonl, atomic_write_text
from trainers.configfile import config_to_dict
from trainers.distributed import barrier, is_distributed, is_main_process, world_size
from trainers.hpl import curriculum as cur
from trainers.hpl.config import PAPER_DPO_LR, HPLConfig, env_family, success_threshold
from trainers.hpl.methods import MethodSpec, get_method
from trainers.sharding import Shard, close_policy, gather_rows, read_gathered, shard_done, wait_for

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: ``Pipeline.stage_<name>`` runs it.

    ``outputs``: what it writes in the run folder (``--redo-from`` deletes them, :func:`reuse_stages`
    links them into another run); ``scratch``: further files only its own resume reads (deleted,
    never linked). ``runs_on``: ``"all"`` (data-parallel training under ``accelerate launch``),
    ``"sharded"`` (work items split across the processes by :mod:`trainers.sharding`) or ``"main"``
    (the main process; the others wait). ``needed``: whether a method (and config) runs it.
    """

    name: str
    outputs: tuple[str, ...]
    runs_on: str
    needed: Callable[[MethodSpec, HPLConfig], bool]
    scratch: tuple[str, ...] = ()


def _always(_method: MethodSpec, _cfg: HPLConfig) -> bool:
    return True


#: The one ordered stage list: ``--until``/``--redo-from``, resume, the sharded runner's split and
#: ``reuse_stages`` all read it (and ``tests/test_hpl_pipeline.py`` checks docs/hpl.md's table against it).
STAGE_REGISTRY: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("demos", ("demos",), "sharded", _always),
        Stage("sft", ("pi_ref", "base_model"), "all", _always),
        Stage("explore", ("explore", "pairs"), "sharded", lambda m, _c: m.kind != "sft"),
        Stage("curriculum", ("curriculum.json", "curriculum_heatmap.png"), "main", lambda m, _c: m.needs("group")),
        # pairs/<level>.ref.jsonl live in pairs/ (an output of explore)
        Stage("reference", (), "sharded", lambda m, _c: m.kind == "preference", scratch=("reference_shards",)),
        Stage("train", ("composite", "policy"), "all", _always),
        Stage("evaluate", ("eval",), "sharded", lambda _m, c: bool(c.evaluate)),
    )
}
STAGES = tuple(STAGE_REGISTRY)
#: Stages that run data-parallel under ``accelerate launch`` (accelerate/TRL split the batches).
TRAINING_STAGES = tuple(n for n, s in STAGE_REGISTRY.items() if s.runs_on == "all")
#: Stages whose work items (tasks, exploration chunks, pair batches) are split across the processes
#: of a launch by :mod:`trainers.sharding`; the rest (``curriculum``) runs in the main process.
SHARDED_STAGES = tuple(n for n, s in STAGE_REGISTRY.items() if s.runs_on == "sharded")


#: Statistic names of older runs -> today's (the names of ``scripts.evaluate``'s report).
OLD_STAT_NAMES = {"mean_reward": "avg_reward", "mean_steps": "avg_steps"}


def check_stage(name: str) -> Stage:
    """The :class:`Stage` called ``name``; an unknown name raises ``ValueError`` listing the stages."""
    if name not in STAGE_REGISTRY:
        raise ValueError(f"unknown stage {name!r}; the stages are: {', '.join(STAGES)}")
    return STAGE_REGISTRY[name]


# ---------------------------------------------------------------- atomic files
def write_json(path: Path, data: Any) -> None:
    atomic_write_json(path, data, indent=1, ensure_ascii=False)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_jsonl(path, rows, ensure_ascii=False)


def read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- pipeline
class Pipeline:
    """Runs the stages of one method for one :class:`HPLConfig` in ``cfg.run_dir``."""

    def __init__(self, cfg: HPLConfig, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.method: MethodSpec = get_method(cfg.method)
        self.run = Path(cfg.run_dir)
        self.log = log if is_main_process() else (lambda _msg: None)
        self.family = env_family(cfg.env.env_id)
        self.state_path = self.run / "state.json"

    # -- bookkeeping
    @property
    def stages(self) -> list[str]:
        """The stages this method runs, in order (:data:`STAGE_REGISTRY`)."""
        return [n for n, s in STAGE_REGISTRY.items() if s.needed(self.method, self.cfg)]

    def state(self) -> dict[str, Any]:
        """``state.json`` (statistics of older runs under today's names: ``mean_reward`` -> ``avg_reward``, ...)."""
        state = read_json(self.state_path, {"stages": {}})
        for stats in state["stages"].values():
            for old, new in OLD_STAT_NAMES.items():
                if old in stats:
                    stats.setdefault(new, stats.pop(old))
        return state

    def _mark(self, stage: str, stats: dict[str, Any]) -> None:
        if is_main_process():
            st = self.state()
            st["stages"][stage] = {"done": True, **stats}
            write_json(self.state_path, st)
        barrier()

    def done(self, stage: str) -> bool:
        return bool(self.state()["stages"].get(stage, {}).get("done"))

    @property
    def max_steps(self) -> int | None:
        """``env.max_episode_steps`` (``None``: the registered default of the env id applies through ``gym.make``)."""
        n = self.cfg.env.max_episode_steps
        return None if n is None else int(n)

    @property
    def dpo_lr(self) -> float:
        return float(self.cfg.dpo.learning_rate or PAPER_DPO_LR.get(self.family, 1e-6))

    @property
    def weights(self) -> dict[str, float]:
        w = dict(self.method.weights)
        w.update({k: float(v) for k, v in (self.cfg.dpo.weights or {}).items()})
        return w

    @property
    def curriculum(self) -> str:
        return self.cfg.dpo.curriculum or self.method.curriculum

    @property
    def segmenter_name(self) -> str:
        return self.method.segmenter or self.cfg.explore.segmenter

    def prompt(self):
        from wrappers.prompting import PromptConfig

        return PromptConfig(history_window=self.cfg.policy.history_window, instruction=self.cfg.policy.instruction)

    def env_kwargs(self, evaluation: bool = False, expert: bool = False) -> dict[str, Any]:
        kw = dict(self.cfg.env.kwargs)
        if evaluation:
            kw.update(self.cfg.env.eval_kwargs)
        from trainers.rollout import with_step_limit

        kw = with_step_limit(kw, self.max_steps)  # gym.make's TimeLimit is the one authority for the step limit
        if expert:
            kw["expert"] = True
        return kw

    def _tasks(self, evaluation: bool) -> list[str]:
        """``env.train_tasks`` (or ``env.eval_tasks``) of the split: :func:`trainers.task_selection.choose_tasks`."""
        from trainers.rollout import make_env
        from trainers.task_selection import choose_tasks

        env = make_env(self.cfg.env.env_id, self.env_kwargs(evaluation), history_k=0)
        try:
            return choose_tasks(env, self.cfg.env, seed=self.cfg.seed, evaluation=evaluation)
        finally:
            env.close()

    def _params(self, greedy: bool = False):
        """Exploration (sampling) or evaluation (greedy) settings; both stop at the prompt family's
        stop strings, as ``scripts.evaluate`` does by default (the text after an action is wasted work)."""
        from trainers.policies.base import GenerationParams
        from wrappers.prompting import stop_sequences

        p = self.cfg.policy
        return GenerationParams(
            temperature=0.0 if greedy else p.temperature,
            top_p=p.top_p,
            max_new_tokens=p.max_new_tokens,
            seed=None if greedy else self.cfg.seed,
            stop=stop_sequences(self.cfg.env.env_id),
        )

    def _hf_policy(self, path: Path):
        from trainers.models import resolve_device
        from trainers.policies import make_policy

        kw = self.cfg.policy.policy_kwargs()  # dtype, the vllm section (one engine per process), backend_kwargs
        if self.cfg.policy.backend == "hf":  # under a launch: the GPU of this process (cuda:LOCAL_RANK)
            return make_policy("hf", model=str(path), device=resolve_device(self.cfg.device), **kw)
        return make_policy(self.cfg.policy.backend, model=str(path), **kw)

    # -- run
    def run_all(self, until: str | None = None, redo_from: str | None = None) -> dict[str, Any]:
        """Run every stage of the method not yet done (``redo_from`` forgets that stage and later ones).

        Under ``accelerate launch`` (several processes) every stage runs: the training stages
        (:data:`TRAINING_STAGES`) data-parallel, the rollout stages (:data:`SHARDED_STAGES`)
        split by work item, the others in the main process while the rest wait.
        """
        stages = self.stages
        for name in (until, redo_from):
            if name is not None and check_stage(name).name not in stages:
                raise ValueError(f"stage {name!r} is not part of method {self.method.name!r}: {stages}")
        if redo_from is not None and is_distributed():
            raise ValueError(
                "--redo-from deletes outputs; give it to a plain `python -m scripts.hpl` run, "
                "not to `accelerate launch` (every process would delete them)"
            )
        self.run.mkdir(parents=True, exist_ok=True)
        cfg_path = self.run / "config.yaml"
        new_cfg = yaml.safe_dump(config_to_dict(self.cfg), sort_keys=False)
        if cfg_path.exists() and cfg_path.read_text() != new_cfg and self.state()["stages"]:
            self.log(
                f"note: {cfg_path} differs from this config; finished stages are reused "
                "(use --redo-from STAGE to recompute)"
            )
        if is_main_process():
            atomic_write_text(cfg_path, new_cfg)
        barrier()
        if redo_from is not None:
            st = self.state()
            for s in stages[stages.index(redo_from) :]:
                st["stages"].pop(s, None)
                self._clean(s)
            write_json(self.state_path, st)
        for stage in stages:
            if self.done(stage):
                self.log(f"[{stage}] done already, skipped")
            else:
                self.log(f"[{stage}] running" + (f" on {world_size()} processes" if is_distributed() else ""))
                t0 = time.perf_counter()
                if is_distributed() and STAGE_REGISTRY[stage].runs_on == "main" and not is_main_process():
                    stats: dict[str, Any] = {}  # a main-process stage: wait for it in _mark
                else:
                    stats = getattr(self, f"stage_{stage}")() or {}
                stats["seconds"] = round(time.perf_counter() - t0, 2)
                self._mark(stage, stats)
                self.log(f"[{stage}] finished in {stats['seconds']:.1f}s")
            if stage == until:
                break
        return self.state()

    def _clean(self, stage: str) -> None:
        """Remove a stage's outputs (a symlink from :func:`reuse_stages` is unlinked, never followed)."""
        import shutil

        st = STAGE_REGISTRY[stage]
        for name in st.outputs + st.scratch:
            path = self.run / name
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)

    # -- stages
    def stage_demos(self) -> dict[str, Any]:
        from trainers.hpl.demonstrations import collect_demonstrations
        from trainers.policies import make_policy

        ex = self.cfg.expert
        if ex.source == "oracle":
            teacher = make_policy("oracle", env_id=self.cfg.env.env_id)
        elif ex.source == "teacher":
            if not ex.teacher_model:
                raise ValueError("expert.source 'teacher' needs expert.teacher_model")
            teacher = make_policy(ex.teacher_backend, model=ex.teacher_model, **ex.teacher_kwargs)
        else:
            raise ValueError(f"expert.source must be 'oracle' or 'teacher', got {ex.source!r}")
        thr, strict = success_threshold(self.cfg)
        counters: dict[str, int] = {}
        tasks = self._tasks(False)
        kept = collect_demonstrations(
            teacher,
            self.cfg.env.env_id,
            tasks,
            env_kwargs=self.env_kwargs(expert=ex.source == "oracle"),
            prompt=self.prompt(),
            out_dir=self.run / "demos",
            threshold=thr,
            strict=strict,
            num_envs=self.cfg.env.num_envs,
            max_steps=self.max_steps,
            stats=counters,
        )
        if not kept:
            raise RuntimeError(f"the teacher solved none of the {len(tasks)} training tasks; nothing to learn from")
        return {
            "tasks": len(tasks),
            "kept": len(kept),
            "avg_steps": sum(r.num_steps for r in kept) / len(kept),
            **counters,
        }

    def _demos(self):
        from trainers.hpl.demonstrations import load_demonstrations

        return load_demonstrations(self.run / "demos")

    def _base_model(self) -> str:
        from trainers.models import resolve_model_path

        name = self.cfg.policy.model
        args = dict(self.cfg.policy.tiny)
        texts: list[str] = []
        if name == "tiny" and args.pop("fit_tokenizer", False):
            from trainers.hpl.demonstrations import conversation

            texts = [m["content"] for r in self._demos() for m in conversation(r, self.prompt())[1:]]
        # "tiny": a test model of this run (its size from policy.tiny); a hub id works too
        return resolve_model_path(
            name, out_dir=self.run / "base_model", seed=self.cfg.seed, tokenizer_texts=texts, **args
        )

    def stage_sft(self) -> dict[str, Any]:
        from trainers.hpl.demonstrations import conversation

        convs = [conversation(r, self.prompt()) for r in self._demos()]
        return self._sft(self._base_model(), convs, self.run / "pi_ref", self.cfg.sft.epochs, "sft")

    def _sft(self, start: Path | str, convs: list, out: Path, epochs: float, stage: str) -> dict[str, Any]:
        """Behaviour cloning with the ``sft`` settings (the SFT stage, and RFT's further epochs)."""
        from trainers.hpl.train import run_sft

        s = self.cfg.sft
        _, metrics = run_sft(
            start,
            convs,
            out,
            learning_rate=s.learning_rate,
            epochs=epochs,
            batch_size=s.batch_size,
            micro_batch_size=s.micro_batch_size,
            warmup_ratio=s.warmup_ratio,
            scheduler=s.scheduler,
            max_length=s.max_length,
            max_grad_norm=s.max_grad_norm,
            seed=self.cfg.seed,
            device=self.cfg.device,
            precision=s.precision,
            lora=self.cfg.lora,
            report_to=self.cfg.report_to,
            logging_dir=self.run / "tracking" / stage,
        )
        return metrics

    def _levels(self) -> list[str]:
        if self.method.kind == "rft":
            return ["traj"]
        return [lv for lv in ("traj", "step", "group") if self.method.needs(lv)]

    def _segmenter(self, demos, policy, ref_model_tok):
        from trainers.hpl.segmenters import make_segmenter, policy_chat_fn

        name = self.segmenter_name
        args = dict(self.cfg.explore.segmenter_args)
        if name == "semantic":
            sem_policy = policy
            if self.cfg.explore.semantic_model:
                from trainers.policies import make_policy

                sem_policy = make_policy(
                    self.cfg.policy.backend, model=self.cfg.explore.semantic_model, **self.cfg.policy.policy_kwargs()
                )
            args["generate"] = policy_chat_fn(sem_policy)
        seg = make_segmenter(name, **args)
        entropies: dict[str, list[float]] = {}
        if name == "uncertainty":
            from trainers.hpl.exploration import split_continuation
            from trainers.hpl.train import action_entropies

            model, tok = ref_model_tok()
            for d in demos:
                steps = [split_continuation(d, t, t + 1, self.prompt()) for t in range(d.num_steps)]
                entropies[d.episode_id] = action_entropies(model, tok, [(p, c[0]["content"]) for p, c in steps])
            seg.fit([v for vs in entropies.values() for v in vs])
        return seg, entropies

    def stage_explore(self) -> dict[str, Any]:
        from tqdm.auto import tqdm

        from trainers.hpl.exploration import Explorer, LevelStats, walk_expert
        from trainers.lora import load_causal_lm
        from trainers.rollout import LiveEpisode, make_env

        demos = self._demos()
        if self.cfg.explore.demos:
            demos = demos[: self.cfg.explore.demos]
        levels = self._levels()
        out = self.run / "explore"
        out.mkdir(parents=True, exist_ok=True)
        policy = self._hf_policy(self.run / "pi_ref")
        cache: dict[str, Any] = {}

        def ref_model_tok():
            if "m" not in cache:
                cache["m"] = load_causal_lm(self.run / "pi_ref", device="cpu")
            return cache["m"]

        seg_info: dict[str, Any] = {}
        segmenter, entropies = (None, {})
        if "group" in levels:
            segmenter, entropies = self._segmenter(demos, policy, ref_model_tok)
            seg_info = {"segmenter": segmenter.name, "threshold": getattr(segmenter, "threshold", None)}
        cache.clear()
        ex = self.cfg.explore
        n_envs = max(1, self.cfg.env.num_envs)
        envs = [make_env(self.cfg.env.env_id, self.env_kwargs(), history_k=0) for _ in range(min(n_envs, len(demos)))]
        episodes = [LiveEpisode(e, self.prompt()) for e in envs]  # env_kwargs() set the limit
        chunks = [demos[i : i + n_envs] for i in range(0, len(demos), n_envs)]
        shard = Shard.current()  # chunk c is played by process c % world (a chunk's seeds do not depend on it)
        mine = [c for c in range(len(chunks)) if shard.owns(c)]
        try:
            bar = tqdm(mine, desc="exploration chunks" + (f" (process {shard.rank})" if shard.sharded else ""))
            for c in bar:  # the postfix names the level in progress (a chunk can take many minutes)
                chunk = chunks[c]
                path = out / f"chunk_{c:04d}.json"
                if not path.exists():
                    explorer = Explorer(
                        policy,
                        self._params(),
                        self.prompt(),
                        mc_rollouts=ex.mc_rollouts,
                        step_rollouts=ex.step_rollouts,
                        step_stride=ex.step_stride,
                        step_reward=ex.step_reward,
                        min_gap=ex.min_gap,
                    )
                    walks = []
                    for ep, demo in zip(episodes, chunk):
                        try:
                            walks.append(walk_expert(ep, demo))
                        except RuntimeError as exc:
                            logger.warning("%s", exc)
                    data: dict[str, Any] = {"pairs": {}, "rft": [], "segments": {}}
                    if "traj" in levels:
                        bar.set_postfix_str(f"chunk {c + 1}: trajectory level")
                        traj_pairs, recs = explorer.trajectory_level(walks)
                        data["pairs"]["traj"] = traj_pairs
                        data["rft"] = [r.to_dict() for r in recs if r.success]
                    if "step" in levels:
                        bar.set_postfix_str(f"chunk {c + 1}: step level")
                        data["pairs"]["step"] = explorer.step_level(walks)
                    if "group" in levels:
                        assert segmenter is not None  # made above when the group level is on
                        bar.set_postfix_str(f"chunk {c + 1}: group level")
                        segs = []
                        for w in walks:
                            kw = {"entropies": entropies.get(w.demo.episode_id)}
                            if segmenter.name == "semantic":
                                kw["task"] = w.demo.observations[0]
                            segs.append(segmenter.segment(w.record.raw_outputs, w.record.observations, **kw))
                        data["segments"] = {w.demo.episode_id: s for w, s in zip(walks, segs)}
                        data["pairs"]["group"] = explorer.group_level(walks, segs)
                    data["stats"] = {lv: dataclasses.asdict(explorer.stats[lv]) for lv in levels}
                    write_json(path, data)
        finally:
            for e in envs:
                e.close()
            close_policy(policy)
        # gather (in chunk order, whichever process played a chunk)
        wait_for([out / f"chunk_{c:04d}.json" for c in range(len(chunks))], desc="exploration chunks", log=self.log)
        total = {lv: LevelStats() for lv in levels}
        pairs: dict[str, list] = {lv: [] for lv in levels}
        rft = []
        for c in range(len(chunks)):
            chunk_data = read_json(out / f"chunk_{c:04d}.json")
            for lv in levels:
                pairs[lv] += chunk_data["pairs"].get(lv, [])
                total[lv].merge(LevelStats(**chunk_data["stats"][lv]))
            rft += chunk_data["rft"]
        thr = self._length_thresholds()
        for lv in levels:  # one schema for every level (trainers.hpl.preferences); an empty level is a 0-byte file
            cur.assign_buckets(pairs[lv], thr)
            write_jsonl(self.run / "pairs" / f"{lv}.jsonl", pairs[lv])
        write_jsonl(self.run / "pairs" / "rft_successes.jsonl", rft)
        stats = {
            lv: {k: (round(v, 2) if isinstance(v, float) else v) for k, v in dataclasses.asdict(total[lv]).items()}
            for lv in levels
        }
        write_json(out / "stats.json", {"levels": stats, **seg_info})
        for lv in levels:
            s = stats[lv]
            self.log(
                f"  {lv:5s}: {s['pairs']} pairs of {s['candidates']} candidates, {s['llm_calls']} LLM calls, "
                f"{s['env_steps']} env steps, {s['seconds']:.1f}s"
            )
        return {"levels": stats, "rft_successes": len(rft), **seg_info}

    def _length_thresholds(self) -> tuple:
        """The curriculum's group-length thresholds: ``dpo.length_thresholds`` or the env family's."""
        if self.cfg.dpo.length_thresholds:
            return tuple(self.cfg.dpo.length_thresholds)
        if self.family in ("alfworld", "webshop", "sql"):
            return cur.length_thresholds(self.family)
        return cur.LENGTH_THRESHOLDS["alfworld"]

    def stage_curriculum(self) -> dict[str, Any]:
        thr = self._length_thresholds()
        pairs = read_jsonl(self.run / "pairs" / "group.jsonl")
        changed = cur.assign_buckets(pairs, thr)
        if changed:  # (pairs/ may be shared with another run through reuse_stages)
            write_jsonl(self.run / "pairs" / "group.jsonl", pairs)
        counts = cur.bucket_counts(p["bucket"] for p in pairs)
        cur.save_heatmap(
            counts, self.run / "curriculum_heatmap.png", title=f"{self.cfg.env.env_id}: group pairs per bucket"
        )
        phases = [
            len(cur.select_phase(pairs, k + 1, self.curriculum)) for k in range(len(cur.phase_buckets(self.curriculum)))
        ]
        write_json(
            self.run / "curriculum.json",
            {
                "counts": counts,
                "length_thresholds": thr,
                "gap_thresholds": cur.GAP_THRESHOLDS,
                "curriculum": self.curriculum,
                "pairs_per_phase": phases,
            },
        )
        return {"counts": counts, "pairs_per_phase": phases}

    def stage_reference(self) -> dict[str, Any]:
        from trainers.distributed import use_bf16
        from trainers.hpl.train import precompute_reference
        from trainers.lora import load_causal_lm
        from trainers.models import resolve_device

        device = resolve_device(self.cfg.device)
        bf16 = use_bf16(self.cfg.dpo.precision, device, "dpo.precision")
        model, tok = load_causal_lm(self.run / "pi_ref", device=device)
        stats = {}
        shard, bs = Shard.current(), self.cfg.dpo.micro_batch_size
        for lv in self._levels():
            pairs = read_jsonl(self.run / "pairs" / f"{lv}.jsonl")
            # under a launch: batch b by process b % world, then merged in batch order
            shard_file = self.run / "reference_shards" / f"{lv}.ref.jsonl"
            if shard_done(shard_file, shard):
                ref = read_gathered(shard_file, shard=shard, block=bs)
            else:
                ref = gather_rows(
                    precompute_reference(
                        model,
                        tok,
                        pairs,
                        batch_size=bs,
                        max_length=self.cfg.dpo.max_length,
                        shard=(shard.rank, shard.world),
                        bf16=bf16,
                    ),
                    shard_file,
                    shard=shard,
                    block=bs,
                )
            write_jsonl(self.run / "pairs" / f"{lv}.ref.jsonl", ref)
            stats[lv] = {"pairs": len(ref), "dropped_too_long": len(pairs) - len(ref)}
        return stats

    def stage_train(self) -> dict[str, Any]:
        from trainers.hpl.demonstrations import conversation
        from trainers.hpl.train import build_schedule, copy_model_dir, train_composite
        from trainers.rollout import EpisodeRecord

        final = self.run / "policy"
        kind = self.method.kind
        convs = [conversation(r, self.prompt()) for r in self._demos()]
        if kind == "sft":
            if is_main_process():
                copy_model_dir(self.run / "pi_ref", final)
            return {"note": "the SFT policy is pi_ref"}
        if kind == "rft":
            own = [EpisodeRecord.from_dict(d) for d in read_jsonl(self.run / "pairs" / "rft_successes.jsonl")]
            convs += [conversation(r, self.prompt()) for r in own]
            metrics = self._sft(self.run / "pi_ref", convs, final, self.cfg.sft.rft_epochs, "rft")
            return {"own_successes": len(own), **metrics}
        pairs = {lv: read_jsonl(self.run / "pairs" / f"{lv}.ref.jsonl") for lv in self._levels()}
        group_phases = None
        if "group" in pairs:
            n = len(cur.phase_buckets(self.curriculum))
            group_phases = [cur.select_phase(pairs["group"], k + 1, self.curriculum) for k in range(n)]
        d = self.cfg.dpo
        schedule = build_schedule(
            convs, pairs, group_phases, self.weights, epochs=max(1, int(d.epochs)), seed=self.cfg.seed
        )
        if not any(schedule):
            raise RuntimeError("no training data for the composite objective (no pairs and no BC term)")
        path, metrics = train_composite(
            self.run / "pi_ref",
            schedule,
            self.run / "composite",
            weights=self.weights,
            beta=d.beta,
            learning_rate=self.dpo_lr,
            batch_size=d.batch_size,
            micro_batch_size=d.micro_batch_size,
            warmup_ratio=d.warmup_ratio,
            max_length=d.max_length,
            max_grad_norm=d.max_grad_norm,
            seed=self.cfg.seed,
            device=self.cfg.device,
            precision=d.precision,
            lora=self.cfg.lora,
            report_to=self.cfg.report_to,
            logging_dir=self.run / "tracking",
            run_config=config_to_dict(self.cfg),
        )
        if is_main_process():
            copy_model_dir(path, final)
        return {
            "weights": self.weights,
            "curriculum": self.curriculum if group_phases else None,
            "learning_rate": self.dpo_lr,
            **metrics,
        }

    def stage_evaluate(self) -> dict[str, Any]:
        from trainers.sharding import run_episodes_sharded

        policy = self._hf_policy(self.run / "policy")
        counters: dict[str, int] = {}
        tasks = self._tasks(True)
        try:  # under a launch: task i by process i % world, merged in task order
            recs = run_episodes_sharded(
                policy,
                self.cfg.env.env_id,
                tasks,
                env_kwargs=self.env_kwargs(True),
                num_envs=self.cfg.env.num_envs,
                params=self._params(greedy=True),
                prompt=self.prompt(),
                max_steps=self.max_steps,
                out_path=self.run / "eval" / "episodes.jsonl",
                stats=counters,
            )
        finally:
            close_policy(policy)
        from trainers.hpl.demonstrations import outcome

        metrics = {
            "method": self.method.name,
            "tasks": len(recs),
            "success_rate": sum(r.success for r in recs) / max(len(recs), 1),
            "avg_reward": sum(outcome(r) for r in recs) / max(len(recs), 1),
            "avg_steps": sum(r.num_steps for r in recs) / max(len(recs), 1),
            "invalid_action_rate": sum(r.invalid_actions for r in recs) / max(sum(r.num_steps for r in recs), 1),
            **counters,
        }
        write_json(self.run / "eval" / "metrics.json", metrics)
        self.log(f"  {self.method.name}: success {metrics['success_rate']:.3f} on {len(recs)} eval tasks")
        return metrics


def run_pipeline(
    cfg: HPLConfig, until: str | None = None, redo_from: str | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run (or resume) a whole method; returns ``state.json``'s content."""
    return Pipeline(cfg, log).run_all(until=until, redo_from=redo_from)


def reuse_stages(src_run: str | Path, dst_run: str | Path, stages: list[str]) -> None:
    """Make ``dst_run`` start with ``stages`` of ``src_run`` done (their outputs symlinked, not copied).

    Used to compare methods on the same demonstrations, pi_ref and exploration data.
    Only stages that are done in ``src_run`` are reused.
    """
    src, dst = Path(src_run).resolve(), Path(dst_run)
    dst.mkdir(parents=True, exist_ok=True)
    src_state = read_json(src / "state.json", {"stages": {}})
    dst_state = read_json(dst / "state.json", {"stages": {}})
    for stage in stages:
        outputs = check_stage(stage).outputs
        info = src_state["stages"].get(stage)
        if not info or not info.get("done"):
            continue
        for name in outputs:
            if (src / name).exists() and not (dst / name).exists():
                os.symlink(src / name, dst / name, target_is_directory=(src / name).is_dir())
        dst_state["stages"][stage] = {**info, "reused_from": str(src)}
    write_json(dst / "state.json", dst_state)
