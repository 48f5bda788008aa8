"""Training stages of HPL: behaviour cloning (TRL SFTTrainer) and the composite DPO objective.

* :func:`run_sft` fine-tunes on chat conversations with TRL's ``SFTTrainer``. The
  dataset is tokenised here with :func:`trainers.sequences.encode_conversation`
  (assistant tokens only) and handed over with explicit ``labels``, so SFT and
  the DPO terms learn from exactly the same tokens.
* :func:`train_composite` is our own loop (under ``accelerate``): TRL's
  ``DPOTrainer`` scores everything after the prompt, so environment observations
  inside a multi-turn continuation would be trained on, it has no per-level
  terms with a curriculum, and no BC term on a separate dataset. The loop sums
  ``L_BC + L_traj + L_step + L_group`` (weights per method) on reference
  log-probs precomputed once by :func:`precompute_reference`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from agent_gym.fileio import atomic_dir, atomic_write_jsonl
from trainers.distributed import deepspeed_launch, process_group_backend, use_bf16, world_size
from trainers.hpl.losses import bc_loss, composite_loss, dpo_loss
from trainers.lora import (
    ADAPTER_CONFIG,
    LoraSettings,
    add_adapter,
    load_causal_lm,
    resume_adapter,
    trainable_parameters,
)
from trainers.lora import save_model as save_lora_aware
from trainers.models import resolve_device
from trainers.sequences import (
    Encoded,
    EncodeStats,
    collate,
    encode_conversation,
    encode_prompt_completion,
    masked_sequence_logprob,
    masked_token_entropy,
    token_logprobs,
)
from trainers.tracking import Tracker, trl_tracking

logger = logging.getLogger(__name__)

DPO_LEVELS = ("traj", "step", "group")


# ---------------------------------------------------------------- helpers
def save_model_atomic(
    model, tokenizer, out_dir: str | Path, state_dict: dict | None = None, merge: bool = False
) -> Path:
    """Save to a temporary sibling folder, then move it into place (an adapter model saves its adapter,
    and with ``merge`` also the merged full model in ``merged/``).

    ``state_dict``: the gathered weights under DeepSpeed ZeRO-3 (``accelerator.get_state_dict``).
    """
    return save_lora_aware(model, tokenizer, out_dir, merge=merge, state_dict=state_dict)


def copy_model_dir(src: str | Path, dst: str | Path) -> Path:
    """Copy a saved model folder to ``dst`` atomically (the old ``dst`` stays until the copy is complete).

    Copying files, not loading and re-saving, keeps the weights bit for bit and works under
    a DeepSpeed ZeRO-3 launch, where loading a model in one process would wait for the others.
    """
    out = Path(dst)
    with atomic_dir(out) as tmp:
        shutil.copytree(Path(src).resolve(), tmp, dirs_exist_ok=True)
    return out


def encode_pair(tokenizer, pair: dict[str, Any], max_length: int | None = None) -> tuple[Encoded, Encoded] | None:
    """Chosen and rejected ``prompt + continuation`` encodings (agent tokens of the continuation only).

    Returns ``None`` when either side does not fit ``max_length`` (a cut continuation
    would compare partial sequences).
    """
    ch = encode_prompt_completion(tokenizer, pair["prompt"], pair["chosen"])
    rj = encode_prompt_completion(tokenizer, pair["prompt"], pair["rejected"])
    if max_length is not None and (len(ch) > max_length or len(rj) > max_length):
        return None
    return ch, rj


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _batches(seq: Sequence, size: int):
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@torch.no_grad()
def precompute_reference(
    model,
    tokenizer,
    pairs: list[dict[str, Any]],
    batch_size: int = 8,
    max_length: int | None = None,
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
    bf16: bool = False,
) -> list[dict[str, Any]]:
    """Add ``ref_chosen`` / ``ref_rejected`` (pi_ref's summed agent-token log-probs) to each pair.

    ``bf16``: compute under bf16 autocast, as the composite stage trains with ``dpo.precision: bf16``.

    Pairs that do not fit ``max_length`` are dropped (a warning says how many).
    ``shard=(rank, world)`` computes only batches ``rank, rank + world, ...`` (the same
    batches as one process; :func:`trainers.sharding.interleave` with ``block=batch_size``
    puts the shards back in order).
    """
    from tqdm.auto import tqdm

    model.eval()
    device = next(model.parameters()).device
    kept, encs = [], []
    stats = EncodeStats("reference log-probs (DPO pairs)")
    for p in pairs:
        e = encode_pair(tokenizer, p, max_length)
        if stats.add_pair(e):
            kept.append(p)
            encs.append(e)
    stats.check(tokenizer, max_length=max_length)
    if len(kept) < len(pairs):
        logger.warning(
            "dropped %d of %d pairs (longer than max_length=%s or without agent tokens)",
            len(pairs) - len(kept),
            len(pairs),
            max_length,
        )
    out = []
    rank, world = shard
    batches = list(_batches(list(zip(kept, encs)), batch_size))[rank::world]
    for chunk in tqdm(batches, desc="reference log-probs", disable=not progress):
        flat = [c for _, (c, _) in chunk] + [r for _, (_, r) in chunk]
        batch = {k: v.to(device) for k, v in collate(flat, _pad_id(tokenizer)).items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            lp = masked_sequence_logprob(model, batch).float().cpu()
        n = len(chunk)
        for i, (p, _) in enumerate(chunk):
            out.append({**p, "ref_chosen": float(lp[i]), "ref_rejected": float(lp[n + i])})
    return out


@torch.no_grad()
def action_entropies(model, tokenizer, step_prompts: Sequence[tuple[list, str]], batch_size: int = 8) -> list[float]:
    """pi_ref's mean token entropy of each given action (``(prompt_messages, output)`` pairs)."""
    model.eval()
    device = next(model.parameters()).device
    encs = [encode_prompt_completion(tokenizer, p, [{"role": "assistant", "content": a}]) for p, a in step_prompts]
    values: list[float] = []
    for chunk in _batches(encs, batch_size):
        batch = {k: v.to(device) for k, v in collate(list(chunk), _pad_id(tokenizer)).items()}
        values += [float(x) for x in masked_token_entropy(model, batch).cpu()]
    return values


# ---------------------------------------------------------------- SFT
def run_sft(
    base_model: str | Path,
    conversations: Sequence[list[dict[str, str]]],
    out_dir: str | Path,
    *,
    learning_rate: float = 1e-5,
    epochs: float = 3.0,
    batch_size: int = 32,
    micro_batch_size: int = 4,
    warmup_ratio: float = 0.1,
    scheduler: str = "cosine",
    max_length: int | None = 6000,
    max_grad_norm: float | None = 1.0,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    lora: LoraSettings | None = None,
    report_to: str | Sequence[str] | None = None,
    logging_dir: str | Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Behaviour cloning with TRL's ``SFTTrainer`` on assistant tokens only; saves to ``out_dir``.

    ``report_to``: trackers for TRL to log to (:mod:`trainers.tracking`); TensorBoard events go to
    ``logging_dir`` (default ``<out_dir>.tracking``).

    ``lora`` (enabled): train a LoRA adapter on ``base_model``; ``out_dir`` then holds the adapter
    (and ``merged/`` with ``lora.merge``), which every loader of the project accepts as a model.
    A stage that would train on no tokens, or that drops most conversations (no assistant
    tokens, too long), stops with :class:`trainers.sequences.TrainingDataError`.

    ``precision``: ``auto`` trains in bf16 mixed precision on GPUs that support it and in fp32
    on CPU (TRL's own default is bf16 everywhere), ``bf16`` also on CPU (autocast), ``fp32`` never.
    """
    from datasets import Dataset
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    if not conversations:
        raise ValueError("no conversations to train on (no successful demonstrations?)")
    device = resolve_device(device)
    bf16 = use_bf16(precision, device, "sft.precision")
    lora = lora or LoraSettings()
    model, tok = load_causal_lm(base_model)  # a one-line error when it cannot be found
    rows = []
    stats = EncodeStats("SFT")
    for conv in conversations:
        e = encode_conversation(tok, conv, max_length)
        if stats.add(e):
            rows.append(
                {"input_ids": e.input_ids, "labels": [t if m else -100 for t, m in zip(e.input_ids, e.loss_mask)]}
            )
    stats.check(tok, model=str(base_model), max_length=max_length)
    if lora.enabled:
        model = add_adapter(model, lora, base_model)
    world = world_size()
    micro = max(1, min(micro_batch_size, batch_size))
    accum = max(1, math.ceil(batch_size / (micro * world)))
    work = Path(out_dir).with_name(Path(out_dir).name + ".work")
    with trl_tracking(report_to, logging_dir or Path(out_dir).with_name(Path(out_dir).name + ".tracking")) as trackers:
        args = TRLSFTConfig(
            output_dir=str(work),
            learning_rate=learning_rate,
            max_grad_norm=0.0 if max_grad_norm is None else max_grad_norm,  # 0: no clipping
            num_train_epochs=epochs,
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=accum,
            lr_scheduler_type=scheduler,
            warmup_steps=float(warmup_ratio),  # transformers 5: a float in [0, 1) is a ratio
            gradient_checkpointing=False,
            save_strategy="no",
            report_to=trackers or "none",
            run_name=Path(out_dir).name,
            logging_steps=1,
            max_length=None,
            seed=seed,
            use_cpu=device == "cpu" and not deepspeed_launch(),
            ddp_backend=process_group_backend(),
            bf16=bf16,
            dataloader_num_workers=0,
            disable_tqdm=False,
        )
        t0 = time.perf_counter()
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
        result = trainer.train()
    acc = trainer.accelerator
    acc.wait_for_everyone()
    state = acc.get_state_dict(trainer.model_wrapped)  # every process takes part (ZeRO-3 gathers the shards)
    if acc.is_main_process:
        save_model_atomic(acc.unwrap_model(trainer.model), tok, out_dir, state_dict=state, merge=lora.merge)
        shutil.rmtree(work, ignore_errors=True)
    acc.wait_for_everyone()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {
        "examples": len(rows),
        "steps": trainer.state.global_step,
        "seconds": time.perf_counter() - t0,
        "precision": "bf16" if bf16 else "fp32",
        "lora": lora.enabled,
        "trainable_params": trainable_parameters(acc.unwrap_model(trainer.model))[0],
        **{f"data/{k}": v for k, v in stats.metrics().items()},
        "train_loss": float(result.training_loss),
        "first_loss": logs[0]["loss"] if logs else None,
        "last_loss": logs[-1]["loss"] if logs else None,
    }
    return Path(out_dir), metrics


# ---------------------------------------------------------------- composite objective
FAULT_ENV = "AGENT_GYM_FAULT_AT_STEP"


class InjectedFault(RuntimeError):
    """Raised by the fault-injection hook (:data:`FAULT_ENV`) to simulate a kill in tests."""


def _fault_step() -> int | None:
    raw = os.environ.get(FAULT_ENV, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{FAULT_ENV} must be an optimizer step number, got {raw!r}") from None


def _save_composite_state(accelerator, out: Path, phase: int, history: list[dict[str, Any]]) -> None:
    """Save optimizer, scheduler, random generators (``accelerator.save_state``) and history to ``state_<phase>``.

    Written before ``phase_<phase>`` is renamed into place, so a finished phase always has its state.
    """
    state_dir = out / f"state_{phase}"
    if accelerator.is_main_process:
        shutil.rmtree(state_dir, ignore_errors=True)  # a half-written one from a killed run
    accelerator.wait_for_everyone()
    accelerator.save_state(str(state_dir))  # every process writes its part (optimizer shards under ZeRO)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        atomic_write_jsonl(state_dir / "history.jsonl", history)


def _restore_composite_state(accelerator, out: Path, first: int, sched, steps_before: int) -> list[dict[str, Any]]:
    """Load ``state_<first - 1>`` when resuming; returns the history of the finished phases.

    A run directory from before states were saved resumes with a fresh optimizer (with a warning).
    """
    if first == 0:
        return []
    state_dir = out / f"state_{first - 1}"
    if not (state_dir / "history.jsonl").exists():
        logger.warning(
            "%s has no training state: resuming after phase %d with a fresh optimizer "
            "(the result will differ from an uninterrupted run)",
            out,
            first,
        )
        for _ in range(steps_before):
            sched.step()  # at least the learning rate continues where the finished phases left it
        return []
    accelerator.load_state(str(state_dir))
    with open(state_dir / "history.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_schedule(
    bc: Sequence[list[dict[str, str]]],
    pairs: Mapping[str, Sequence[dict[str, Any]]],
    group_phases: Sequence[Sequence[dict[str, Any]]] | None,
    weights: dict[str, float],
    epochs: int = 1,
    seed: int = 0,
) -> list[list[tuple[str, Any]]]:
    """Items per phase: ``(kind, item)`` with kind ``bc``/``traj``/``step``/``group``.

    The group term follows the curriculum phases (``group_phases[p]`` = the pairs of
    phase ``p``); BC, trajectory and step data are split evenly over the phases so that
    each of those items is seen once per epoch. Terms with weight 0 are left out.
    """
    rng = random.Random(seed)
    use = lambda k: float(weights.get(k, 0.0)) != 0.0  # noqa: E731
    n_phases = len(group_phases) if (group_phases and use("group")) else 1
    phases: list[list[tuple[str, Any]]] = []
    for _ in range(max(1, epochs)):
        streams: dict[str, list[Any]] = {}
        if use("bc"):
            streams["bc"] = list(bc)
        for lv in ("traj", "step"):
            if use(lv):
                streams[lv] = list(pairs.get(lv, []))
        for stream in streams.values():
            rng.shuffle(stream)
        for p in range(n_phases):
            phase: list[tuple[str, Any]] = []
            for kind, stream in streams.items():
                lo, hi = (len(stream) * p) // n_phases, (len(stream) * (p + 1)) // n_phases
                phase += [(kind, x) for x in stream[lo:hi]]
            if use("group"):
                phase += [("group", x) for x in (group_phases[p] if group_phases else pairs.get("group", []))]
            rng.shuffle(phase)
            phases.append(phase)
    return phases


def _step_means(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """One optimizer step's tracked values: the mean of its micro-batch rows, as ``train/<name>``."""
    names = {"lr": "learning_rate"}
    out: dict[str, float] = {}
    for key in sorted({k for r in rows for k in r if k not in ("step", "phase")}):
        vals = [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if vals:
            out[f"train/{names.get(key, key)}"] = sum(vals) / len(vals)
    out["train/phase"] = float(rows[-1]["phase"])
    return out


def _is_saved_model(folder: Path) -> bool:
    return (folder / "config.json").exists() or (folder / ADAPTER_CONFIG).exists()


def schedule_stats(tokenizer, schedule: Sequence[Sequence[tuple[str, Any]]], max_length: int | None) -> EncodeStats:
    """What the composite stage will train on: every distinct item of the schedule encoded once."""
    stats = EncodeStats("composite (BC + DPO terms)")
    seen: set[int] = set()
    for phase in schedule:
        for kind, item in phase:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if kind == "bc":
                stats.add(encode_conversation(tokenizer, item, max_length))
            else:
                e = encode_pair(tokenizer, item, max_length)
                stats.add_pair(e)
    return stats


def composite_step_loss(
    model,
    tokenizer,
    micro: Sequence[tuple[str, Any]],
    weights: dict[str, float],
    beta: float,
    max_length: int | None,
    device,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one micro-batch of mixed items; each term is averaged over its own items.

    All sequences of the micro-batch (BC conversations, chosen and rejected sides of every
    DPO pair) go through the model in one forward pass. Under DeepSpeed ZeRO-3 every
    forward gathers the sharded weights collectively, so all processes must run the same
    number of forwards per step whatever mix of items they drew; DDP also expects one
    forward per backward.
    """
    pad = _pad_id(tokenizer)
    encs: list[Encoded] = []
    spans: dict[str, tuple[list[dict[str, Any]], int, int]] = {}  # kind -> (items, start, n sequences)
    bc_items = [x for k, x in micro if k == "bc"]
    if bc_items:
        spans["bc"] = (bc_items, len(encs), len(bc_items))
        encs += [encode_conversation(tokenizer, conv, max_length) for conv in bc_items]
    for level in DPO_LEVELS:
        items = [x for k, x in micro if k == level]
        if items:
            encoded = [encode_pair(tokenizer, p) for p in items]
            pairs = [e for e in encoded if e is not None]
            assert len(pairs) == len(encoded)  # without max_length no pair is dropped
            spans[level] = (items, len(encs), 2 * len(items))
            encs += [c for c, _ in pairs] + [r for _, r in pairs]
    if not encs:
        raise ValueError("composite_step_loss got an empty micro-batch")
    batch = {k: v.to(device) for k, v in collate(encs, pad).items()}
    lp = token_logprobs(model, batch["input_ids"], batch["attention_mask"])
    mask = batch["loss_mask"][:, 1:].to(lp.dtype)
    terms: dict[str, torch.Tensor] = {}
    logs: dict[str, float] = {}
    for kind, (items, lo, n) in spans.items():
        if kind == "bc":
            terms["bc"] = bc_loss(lp[lo : lo + n], mask[lo : lo + n])
            logs["loss_bc"] = float(terms["bc"].detach())
            continue
        seq = (lp[lo : lo + n] * mask[lo : lo + n]).sum(-1)
        k = len(items)
        ref_c = torch.tensor([p["ref_chosen"] for p in items], device=seq.device, dtype=seq.dtype)
        ref_r = torch.tensor([p["ref_rejected"] for p in items], device=seq.device, dtype=seq.dtype)
        terms[kind], stats = dpo_loss(seq[:k], seq[k:], ref_c, ref_r, beta)
        logs[f"loss_{kind}"] = float(terms[kind].detach())
        logs[f"acc_{kind}"] = stats["accuracy"]
    loss = composite_loss(terms, weights)
    logs["loss"] = float(loss.detach())
    return loss, logs


def train_composite(
    start_model: str | Path,
    schedule: list[list[tuple[str, Any]]],
    out_dir: str | Path,
    *,
    weights: dict[str, float],
    beta: float = 0.3,
    learning_rate: float = 3e-6,
    batch_size: int = 32,
    micro_batch_size: int = 4,
    warmup_ratio: float = 0.1,
    max_length: int | None = None,
    max_grad_norm: float | None = 1.0,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    log: Callable[[dict[str, Any]], None] | None = None,
    lora: LoraSettings | None = None,
    report_to: str | Sequence[str] | None = None,
    logging_dir: str | Path | None = None,
    run_config: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train ``start_model`` (pi_ref) on the phase schedule of :func:`build_schedule`.

    Every history row carries ``step``, the optimizer step its micro-batch is part of.
    ``report_to`` (:mod:`trainers.tracking`): each optimizer step's mean of its micro-batch rows
    is logged as ``train/<name>`` at that step (TensorBoard: ``logging_dir``, default
    ``<out_dir>/tracking``), and ``run_config`` is stored with the run.

    ``precision``: as :func:`run_sft` (``bf16`` trains under bf16 autocast, also on CPU; the master
    weights and the optimizer stay fp32).

    ``lora`` (enabled): train one LoRA adapter on top of pi_ref; checkpoints hold the adapter
    (``merged/`` too for the last phase with ``lora.merge``). The schedule's data is encoded
    once up front: a schedule with no trainable tokens, or one that drops most of its items,
    stops before any training.

    One optimizer step per ``batch_size`` items (gradient accumulation over micro-batches),
    linear warm-up then cosine decay over all phases, the global gradient norm clipped to
    ``max_grad_norm``. After each phase the model is saved to ``out_dir/phase_<p>`` and the
    training state (optimizer, scheduler, random generators, history so far) to
    ``out_dir/state_<p>``; a rerun resumes after the last finished phase and ends with the
    same weights and history as an uninterrupted run. The final model is ``out_dir/final``.

    Fault injection for tests: ``AGENT_GYM_FAULT_AT_STEP=N`` raises :class:`InjectedFault`
    right after optimizer step ``N`` (counted over the whole run), as a kill would.
    """
    from accelerate import Accelerator, InitProcessGroupKwargs
    from transformers import get_cosine_schedule_with_warmup

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lora = lora or LoraSettings()
    device = resolve_device(device)
    bf16 = use_bf16(precision, device, "dpo.precision")
    world = world_size()
    micro = max(1, min(micro_batch_size, batch_size))
    accum = max(1, math.ceil(batch_size / (micro * world)))
    backend = process_group_backend()
    accelerator = Accelerator(
        gradient_accumulation_steps=accum,
        cpu=device == "cpu" and not deepspeed_launch(),
        kwargs_handlers=[InitProcessGroupKwargs(backend=backend)] if backend else None,
    )
    ds = accelerator.state.deepspeed_plugin
    if ds is not None and ds.is_auto("train_micro_batch_size_per_gpu"):
        # DeepSpeed wants the micro-batch size at prepare(); our loaders are prepared per phase
        ds.deepspeed_config["train_micro_batch_size_per_gpu"] = micro
    done_phases = [p for p in range(len(schedule)) if _is_saved_model(out / f"phase_{p}")]
    first = (max(done_phases) + 1) if done_phases else 0
    load_from = out / f"phase_{first - 1}" if first > 0 else Path(start_model)
    # no .to(): under ZeRO-3 the weights are already partitioned (zero.Init), and prepare() places them
    torch.manual_seed(seed)  # before the adapter is made: its random init is part of the run
    if lora.enabled:  # pi_ref's full weights + one adapter (a resumed run continues the saved adapter)
        model, tok = load_causal_lm(start_model)
        model = resume_adapter(model, load_from) if first > 0 else add_adapter(model, lora, start_model)
    else:
        model, tok = load_causal_lm(load_from)
    data_stats = schedule_stats(tok, schedule, max_length)
    data_stats.check(tok, model=str(start_model), max_length=max_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    steps_per_phase = [math.ceil(len(items) / (micro * world) / accum) for items in schedule]
    total = max(1, sum(steps_per_phase))
    sched = get_cosine_schedule_with_warmup(optimizer, int(warmup_ratio * total), total)
    # the scheduler counts optimizer steps of the whole run and is stepped here, not by accelerate
    # (a prepared scheduler steps once per process per step, made for single-process step counts)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(sched)
    history = _restore_composite_state(accelerator, out, first, sched, sum(steps_per_phase[:first]))
    fault_at = _fault_step()
    steps_done = sum(steps_per_phase[:first])
    tracker = Tracker(
        report_to, logging_dir or out / "tracking", "composite", run_config, is_main=accelerator.is_main_process
    )
    pending: list[dict[str, Any]] = []  # the rows of the optimizer step in progress
    t0 = time.perf_counter()
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    for p in range(first, len(schedule)):
        items = schedule[p]
        if not items:
            continue
        # a list is a map-style dataset (torch's annotation asks for a Dataset subclass)
        loader = accelerator.prepare(DataLoader(items, batch_size=micro, shuffle=False, collate_fn=list))  # type: ignore[arg-type]
        model.train()
        bar = tqdm(loader, desc=f"composite phase {p + 1}/{len(schedule)}", disable=not accelerator.is_main_process)
        for micro_batch in bar:
            lr = sched.get_last_lr()[0]  # the learning rate of the update this micro-batch is part of
            step = steps_done + 1  # the optimizer step this micro-batch is part of
            with accelerator.accumulate(model):
                # autocast here, not Accelerator(mixed_precision=): accelerate's state is one per process
                # and refuses a second precision (e.g. after a bf16 SFT stage in the same process)
                with torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss, logs = composite_step_loss(
                        model, tok, micro_batch, weights, beta, max_length, accelerator.device
                    )
                accelerator.backward(loss)
                if max_grad_norm and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)  # DeepSpeed: its config clips
                optimizer.step()
                if accelerator.sync_gradients:
                    sched.step()
                    steps_done += 1
                optimizer.zero_grad()
            logs.update(step=step, phase=p + 1, lr=lr)
            history.append(logs)
            pending.append(logs)
            if steps_done == step:  # the update happened: log the step's mean
                tracker.log(_step_means(pending), step=step)
                pending = []
            bar.set_postfix(loss=f"{logs['loss']:.4f}")
            if log:
                log(logs)
            if fault_at is not None and steps_done == fault_at and accelerator.sync_gradients:
                raise InjectedFault(f"AGENT_GYM_FAULT_AT_STEP={fault_at}: stopped after optimizer step {fault_at}")
        _save_composite_state(accelerator, out, p, history)
        accelerator.wait_for_everyone()
        state = accelerator.get_state_dict(model)  # every process takes part (ZeRO-3 gathers the shards)
        if accelerator.is_main_process:
            save_model_atomic(
                accelerator.unwrap_model(model),
                tok,
                out / f"phase_{p}",
                state_dict=state,
                merge=lora.merge and p == len(schedule) - 1,
            )
            for q in range(p):  # phase_<p> is complete: older states are not needed any more
                shutil.rmtree(out / f"state_{q}", ignore_errors=True)
    accelerator.wait_for_everyone()
    last = max([p for p in range(len(schedule)) if _is_saved_model(out / f"phase_{p}")], default=None)
    final_state = accelerator.get_state_dict(model) if last is None else None
    if accelerator.is_main_process:
        if last is None:
            save_model_atomic(
                accelerator.unwrap_model(model), tok, out / "final", state_dict=final_state, merge=lora.merge
            )
        else:
            copy_model_dir(out / f"phase_{last}", out / "final")
    if accelerator.is_main_process:
        atomic_write_jsonl(out / "history.jsonl", history)
    tracker.close()
    metrics = {
        "phases": len(schedule),
        "items_per_phase": [len(s) for s in schedule],
        "optimizer_steps": total,
        "micro_batches": len(history),
        "seconds": time.perf_counter() - t0,
        "lora": lora.enabled,
        "precision": "bf16" if bf16 else "fp32",
        **{f"data/{k}": v for k, v in data_stats.metrics().items()},
        "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None,
    }
    return out / "final", metrics
