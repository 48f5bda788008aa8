"""Experiment tracking through Accelerate's trackers and TRL's report_to: TensorBoard event files hold the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.tracking import flat_config, resolve_report_to


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of every event file under ``folder``: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    files = sorted(folder.rglob("events.out.tfevents.*"))
    assert files, f"no TensorBoard event file under {folder}"
    for f in files:
        acc = EventAccumulator(str(f))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_report_to_values():
    assert resolve_report_to(None) == [] and resolve_report_to("none") == [] and resolve_report_to("") == []
    with pytest.raises(ValueError, match="unknown tracker"):
        resolve_report_to("tensorbored")
    import importlib.util

    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(ValueError, match="pip install wandb"):
            resolve_report_to("tensorboard,wandb")
    assert flat_config({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": "[1, 2]", "d": "null"}


@pytest.fixture(scope="module")
def tensorboard():
    return pytest.importorskip("tensorboard", reason="tracking tests need tensorboard (pip install tensorboard)")


def test_hgpo_logs_every_iteration_with_its_step(tensorboard, tiny_model_dir, tmp_path):
    from tests.model_fixtures import hgpo_test_config
    from trainers.hgpo.config import config_from_dict
    from trainers.hgpo.trainer import train

    cfg = config_from_dict(
        hgpo_test_config(
            tiny_model_dir,
            tmp_path / "run",
            {
                "policy.max_new_tokens": 6,
                "rl.iterations": 2,
                "rl.learning_rate": 1e-4,
                "save_every": 0,
                "report_to": "tensorboard",
            },
        )
    )
    rows = train(cfg, resume=False, log=lambda *_: None)
    scalars = _scalars(tmp_path / "run" / "tracking" / "hgpo")
    assert [s for s, _ in scalars["train/avg_reward"]] == [0, 1]
    assert [v for _, v in scalars["loss/tokens"]] == pytest.approx([r["loss/tokens"] for r in rows])
    assert list((tmp_path / "run" / "tracking" / "hgpo").rglob("hparams.yml"))  # the config is logged


def test_sft_logs_through_trl_report_to(tensorboard, tiny_model_dir, tmp_path):
    from trainers.hpl.train import run_sft

    conv = [
        {"role": "system", "content": "Reach the goal."},
        {"role": "user", "content": "Task: reach cell 1 and stop. You are at cell 0."},
        {"role": "assistant", "content": "Thought: right.\nAction: go right"},
    ]
    _, metrics = run_sft(
        tiny_model_dir,
        [conv] * 4,
        tmp_path / "pi_ref",
        epochs=1,
        batch_size=2,
        micro_batch_size=2,
        device="cpu",
        report_to="tensorboard",
        logging_dir=tmp_path / "tracking" / "sft",
    )
    scalars = _scalars(tmp_path / "tracking" / "sft")
    assert [s for s, _ in scalars["train/loss"]] == [1, 2] == list(range(1, metrics["steps"] + 1))


def test_composite_history_rows_have_steps_and_tracker_gets_step_means(tensorboard, tiny_model_dir, tmp_path):
    import json

    from trainers.hpl.train import precompute_reference, train_composite
    from trainers.lora import load_causal_lm

    conv = [
        {"role": "system", "content": "Reach the goal."},
        {"role": "user", "content": "Task: reach cell 1 and stop. You are at cell 0."},
        {"role": "assistant", "content": "Thought: right.\nAction: go right"},
    ]
    wrong = conv[:2] + [{"role": "assistant", "content": "Thought: left.\nAction: go left"}]
    model, tok = load_causal_lm(tiny_model_dir, device="cpu")
    pairs = precompute_reference(
        model, tok, [{"prompt": conv[:2], "chosen": conv[2:], "rejected": wrong[2:]}] * 4, progress=False
    )
    schedule = [[("bc", conv)] * 2 + [("traj", p) for p in pairs]]  # 6 items, 2 per micro-batch, 4 per step
    train_composite(
        tiny_model_dir,
        schedule,
        tmp_path / "composite",
        weights={"bc": 1.0, "traj": 1.0},
        batch_size=4,
        micro_batch_size=2,
        device="cpu",
        report_to="tensorboard",
        run_config={"method": "eto"},
    )
    rows = [json.loads(line) for line in (tmp_path / "composite" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 1, 2]
    scalars = _scalars(tmp_path / "composite" / "tracking" / "composite")
    assert [s for s, _ in scalars["train/loss"]] == [1, 2]
    assert scalars["train/loss"][0][1] == pytest.approx((rows[0]["loss"] + rows[1]["loss"]) / 2, rel=1e-5)
    assert "train/learning_rate" in scalars
