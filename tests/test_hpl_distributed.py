"""The HPL training stages under ``accelerate launch`` with two processes (CPU, gloo).

Data parallelism (DDP) and DeepSpeed ZeRO-3 must give the weights of a single-process
run with the same global batch: the SFT stage (TRL's SFTTrainer) and the composite
objective (our loop) are each run both ways from the same inputs and compared.
Generated ALFWorld games and the tiny model; no GPU and no downloaded data needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.launch import REPO, launch
from trainers.hpl.config import config_from_dict
from trainers.hpl.pipeline import run_pipeline

ACCELERATE = REPO / "assets" / "configs" / "accelerate"

pytestmark = pytest.mark.slow


def _config(run_dir: Path) -> dict:
    return {
        "method": "hpl",
        "run_dir": str(run_dir),
        "device": "cpu",
        "evaluate": True,
        "env": {
            "env_id": "ALFWorld-Text-v0",
            "kwargs": {"split": "train"},
            "eval_kwargs": {"split": "valid_seen"},
            "max_episode_steps": 8,
            "train_tasks": 4,
            "eval_tasks": 1,
            "num_envs": 2,
            "task_selection": "first",
        },  # these games give an even number of items per phase
        "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
        # global batch 2: one sequence per process with two processes, two accumulated micro-batches with one
        "sft": {"learning_rate": 1e-3, "epochs": 2, "batch_size": 2, "micro_batch_size": 1, "warmup_ratio": 0.0},
        "explore": {"mc_rollouts": 1, "step_stride": 4, "segmenter": "fixed_k", "segmenter_args": {"k": 3}},
        "dpo": {"learning_rate": 1e-3, "batch_size": 2, "micro_batch_size": 1, "warmup_ratio": 0.0},
    }


def _write_config(run_dir: Path) -> Path:
    path = run_dir.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(_config(run_dir)))
    return path


def _launch(mode: str, cfg_path: Path, until: str) -> subprocess.CompletedProcess:
    """``accelerate launch`` two processes of ``scripts.hpl`` (DDP or ZeRO-3) from the repository root."""
    config_file = {"ddp": None, "zero3": ACCELERATE / "zero3.yaml"}[mode]
    return launch(["-m", "scripts.hpl", "--config", str(cfg_path), "--until", until], config_file=config_file)


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    assert set(wa) == set(wb)
    assert all(wa[k].shape == wb[k].shape for k in wa)
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def _stage(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / "state.json").read_text())["stages"][stage]


def _fork(src: Path, dst: Path) -> None:
    """``dst`` starts as a copy of ``src`` (same demos, base model, pi_ref, pairs)."""
    shutil.copytree(src, dst)


@pytest.fixture(scope="module")
def demos_run(tmp_path_factory) -> Path:
    pytest.importorskip("accelerate")
    run = tmp_path_factory.mktemp("hpl_dist") / "demos"
    run_pipeline(config_from_dict(_config(run)), until="demos", log=lambda s: None)
    from trainers.hpl.pipeline import Pipeline

    Pipeline(config_from_dict(_config(run)))._base_model()  # both runs start from the same random model
    return run


@pytest.mark.parametrize("mode", ["ddp", "zero3"])
def test_training_stages_match_single_process(mode, demos_run, tmp_path):
    if mode == "zero3":
        pytest.importorskip("deepspeed", reason="DeepSpeed not installed (pip install -e '.[deepspeed]')")
    dist, single = tmp_path / "dist", tmp_path / "single"
    _fork(demos_run, dist)
    _fork(demos_run, single)
    cfg_dist = _write_config(dist)

    # SFT: SFTTrainer under accelerate vs one process with gradient accumulation
    res = _launch(mode, cfg_dist, "sft")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    run_pipeline(config_from_dict(_config(single)), until="sft", log=lambda s: None)
    assert _stage(dist, "sft")["steps"] == _stage(single, "sft")["steps"] == 4
    assert _stage(dist, "sft")["train_loss"] == pytest.approx(_stage(single, "sft")["train_loss"], rel=1e-4)
    moved = _max_diff(dist / "pi_ref", dist / "base_model")
    assert moved > 1e-3  # SFT changed the weights (and ZeRO-3 saved gathered, not empty, shards)
    assert _max_diff(dist / "pi_ref", single / "pi_ref") < 1e-2 * moved  # within 1% of how far training moved them

    # composite objective from one pi_ref and one set of pairs
    run_pipeline(config_from_dict(_config(dist)), until="reference", log=lambda s: None)
    shutil.rmtree(single)
    _fork(dist, single)
    res = _launch(mode, cfg_dist, "train")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    run_pipeline(config_from_dict(_config(single)), until="train", log=lambda s: None)
    td, ts = _stage(dist, "train"), _stage(single, "train")
    assert td["optimizer_steps"] == ts["optimizer_steps"] > 0
    assert td["micro_batches"] * 2 == ts["micro_batches"]  # each process saw half of the micro-batches
    moved = _max_diff(dist / "policy", dist / "pi_ref")
    assert moved > 1e-3
    assert _max_diff(dist / "policy", single / "policy") < 1e-2 * moved  # within 1% of how far training moved them
    lr_dist = [h["lr"] for h in map(json.loads, (dist / "composite" / "history.jsonl").read_text().splitlines())]
    lr_single = [h["lr"] for h in map(json.loads, (single / "composite" / "history.jsonl").read_text().splitlines())]
    assert lr_dist == pytest.approx(lr_single[::2])  # one scheduler step per optimizer step, in both


def test_launch_refuses_redo(tmp_path, monkeypatch):
    """Under several processes --redo-from is a clear error (no process group needed); the rollout
    stages run sharded (tests/test_sharding.py)."""
    import trainers.hpl.pipeline as pipeline_mod

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(pipeline_mod, "barrier", lambda: None)
    cfg = config_from_dict(_config(tmp_path / "run"))
    with pytest.raises(ValueError, match="--redo-from deletes outputs"):
        run_pipeline(cfg, redo_from="sft", log=lambda s: None)
