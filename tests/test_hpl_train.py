"""The composite objective's training step on the tiny model: one forward per micro-batch, hand-checked terms."""

from __future__ import annotations

import json

import pytest
import torch

from trainers.hpl.losses import bc_loss, dpo_loss
from trainers.hpl.train import (
    build_schedule,
    composite_step_loss,
    copy_model_dir,
    encode_pair,
    train_composite,
)
from trainers.lora import load_causal_lm
from trainers.sequences import collate, encode_conversation, masked_sequence_logprob, token_logprobs

SYSTEM = {"role": "system", "content": "You are in a room. Act."}


def _conv(i: int) -> list[dict[str, str]]:
    return [
        SYSTEM,
        {"role": "user", "content": f"You see a drawer {i}."},
        {"role": "assistant", "content": f"Action: open drawer {i}"},
        {"role": "user", "content": "The drawer is open."},
        {"role": "assistant", "content": "Action: look"},
    ]


def _pair(i: int) -> dict:
    prompt = [SYSTEM, {"role": "user", "content": f"You see a mug {i}."}]
    return {
        "prompt": prompt,
        "chosen": [
            {"role": "assistant", "content": f"Action: take mug {i}"},
            {"role": "user", "content": "You pick up the mug."},
            {"role": "assistant", "content": "Action: go to sink 1"},
        ],
        "rejected": [{"role": "assistant", "content": "Action: inventory"}],
        "ref_chosen": -40.0 - i,
        "ref_rejected": -12.0 + i,
    }


@pytest.fixture()
def model_tok(tiny_model_dir):
    torch.manual_seed(0)
    return load_causal_lm(tiny_model_dir, device="cpu")


def test_composite_step_is_one_forward_and_matches_separate_terms(model_tok):
    model, tok = model_tok
    micro = [("bc", _conv(1)), ("traj", _pair(1)), ("bc", _conv(2)), ("group", _pair(2)), ("group", _pair(3))]
    weights = {"bc": 1.0, "traj": 0.5, "group": 2.0}
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        loss, logs = composite_step_loss(model, tok, micro, weights, beta=0.3, max_length=None, device="cpu")
    finally:
        handle.remove()
    assert len(calls) == 1  # ZeRO-3 needs the same number of forwards on every process

    with torch.no_grad():
        pad = tok.pad_token_id
        bc_batch = collate([encode_conversation(tok, _conv(i)) for i in (1, 2)], pad)
        want_bc = bc_loss(
            token_logprobs(model, bc_batch["input_ids"], bc_batch["attention_mask"]), bc_batch["loss_mask"]
        )

        def level(pairs):
            encs = [encode_pair(tok, p) for p in pairs]
            lp = masked_sequence_logprob(model, collate([c for c, _ in encs] + [r for _, r in encs], pad))
            n = len(pairs)
            return dpo_loss(
                lp[:n],
                lp[n:],
                torch.tensor([p["ref_chosen"] for p in pairs]),
                torch.tensor([p["ref_rejected"] for p in pairs]),
                0.3,
            )[0]

        want_traj, want_group = level([_pair(1)]), level([_pair(2), _pair(3)])
    assert logs["loss_bc"] == pytest.approx(float(want_bc), rel=1e-5)
    assert logs["loss_traj"] == pytest.approx(float(want_traj), rel=1e-5)
    assert logs["loss_group"] == pytest.approx(float(want_group), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(float(want_bc + 0.5 * want_traj + 2.0 * want_group), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_train_composite_clips_and_steps_the_schedule_once_per_update(tiny_model_dir, tmp_path, monkeypatch):
    from accelerate import Accelerator

    # spy on the accelerator's clip (what the trainer calls): accelerate >= 1.16 no longer goes
    # through torch.nn.utils.clip_grad_norm_
    norms: list[float] = []
    real_clip = Accelerator.clip_grad_norm_

    def spy(self, params, max_norm, *args, **kwargs):
        norms.append(float(max_norm))
        return real_clip(self, params, max_norm, *args, **kwargs)

    monkeypatch.setattr(Accelerator, "clip_grad_norm_", spy)
    bc = [_conv(i) for i in range(4)]
    pairs = {"traj": [_pair(i) for i in range(4)]}
    schedule = build_schedule(bc, pairs, None, {"bc": 1.0, "traj": 1.0}, epochs=1, seed=0)
    final, metrics = train_composite(
        tiny_model_dir,
        schedule,
        tmp_path / "composite",
        weights={"bc": 1.0, "traj": 1.0},
        learning_rate=1e-3,
        batch_size=4,
        micro_batch_size=2,
        warmup_ratio=0.0,
        max_grad_norm=0.5,
        device="cpu",
    )
    assert metrics["optimizer_steps"] == 2 and metrics["micro_batches"] == 4
    assert norms == [0.5, 0.5]  # clipped once per optimizer step
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "composite" / "history.jsonl").read_text().splitlines()]
    assert lrs[0] == lrs[1] == pytest.approx(1e-3) and lrs[2] == lrs[3] == pytest.approx(5e-4)  # cosine over 2 steps
    copy = copy_model_dir(final, tmp_path / "policy")
    assert (copy / "model.safetensors").read_bytes() == (final / "model.safetensors").read_bytes()


def test_composite_bf16_autocast_on_cpu(tiny_model_dir, tmp_path):
    """``precision: bf16`` runs the composite's forward passes under bf16 autocast: the same first
    loss up to bf16 rounding (not bit-equal to fp32); unknown precisions are refused."""
    bc = [_conv(i) for i in range(2)]
    schedule = build_schedule(bc, {"traj": [_pair(i) for i in range(2)]}, None, {"bc": 1.0, "traj": 1.0}, 1, 0)
    losses = {}
    for precision in ("fp32", "bf16"):
        _, metrics = train_composite(
            tiny_model_dir,
            schedule,
            tmp_path / precision,
            weights={"bc": 1.0, "traj": 1.0},
            learning_rate=1e-3,
            batch_size=4,
            micro_batch_size=4,
            device="cpu",
            precision=precision,
        )
        assert metrics["precision"] == precision
        losses[precision] = metrics["first_loss"]
    assert losses["bf16"] != losses["fp32"] and losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)
    with pytest.raises(ValueError, match="dpo.precision must be one of"):
        train_composite(tiny_model_dir, schedule, tmp_path / "x", weights={"bc": 1.0}, device="cpu", precision="fp8")


@pytest.mark.parametrize("precision, want", [("auto", "fp32"), ("bf16", "bf16")])
def test_sft_precision_on_cpu(tiny_model_dir, tmp_path, precision, want):
    from trainers.hpl.train import run_sft

    out, metrics = run_sft(
        tiny_model_dir,
        [_conv(1), _conv(2)],
        tmp_path / "pi_ref",
        learning_rate=1e-3,
        epochs=1,
        batch_size=2,
        micro_batch_size=2,
        warmup_ratio=0.0,
        device="cpu",
        precision=precision,
    )
    assert metrics["precision"] == want and metrics["steps"] == 1
    assert (out / "model.safetensors").exists()
    with pytest.raises(ValueError, match="precision must be"):
        run_sft(tiny_model_dir, [_conv(1)], tmp_path / "x", device="cpu", precision="fp8")


@pytest.mark.parametrize("kill_at, lora", [(1, False), (3, False), (3, True)])  # in the first phase, in the second
def test_composite_killed_mid_run_and_resumed_equals_an_uninterrupted_run(
    tiny_model_dir, tmp_path, monkeypatch, kill_at, lora
):
    from safetensors.torch import load_file

    from trainers.hpl.train import FAULT_ENV, InjectedFault
    from trainers.lora import LoraSettings

    weights = {"bc": 1.0, "traj": 1.0}
    # two phases of 4 items; batch 2 of micro-batches of 1: 2 optimizer steps per phase
    schedule = [
        [("bc", _conv(0)), ("traj", _pair(0)), ("bc", _conv(1)), ("traj", _pair(1))],
        [("traj", _pair(2)), ("bc", _conv(2)), ("traj", _pair(3)), ("bc", _conv(3))],
    ]
    kw = dict(
        weights=weights,
        learning_rate=1e-3,
        batch_size=2,
        micro_batch_size=1,
        warmup_ratio=0.25,
        max_grad_norm=1.0,
        device="cpu",
        seed=3,
        lora=LoraSettings(enabled=lora, r=4),
    )

    whole, m_whole = train_composite(tiny_model_dir, schedule, tmp_path / "whole", **kw)
    assert m_whole["optimizer_steps"] == 4

    monkeypatch.setenv(FAULT_ENV, str(kill_at))  # stops right after that optimizer step
    with pytest.raises(InjectedFault):
        train_composite(tiny_model_dir, schedule, tmp_path / "cut", **kw)
    assert (tmp_path / "cut" / "phase_0").is_dir() == (kill_at > 2) and not (tmp_path / "cut" / "phase_1").exists()
    monkeypatch.delenv(FAULT_ENV)
    resumed, _ = train_composite(tiny_model_dir, schedule, tmp_path / "cut", **kw)

    files = sorted(p.name for p in whole.glob("*.safetensors"))  # the model, or the LoRA adapter
    assert files == sorted(p.name for p in resumed.glob("*.safetensors")) and files
    for file in files:
        want, got = load_file(str(whole / file)), load_file(str(resumed / file))
        assert want.keys() == got.keys()
        for name in want:
            assert torch.equal(want[name], got[name]), name
    rows = lambda d: [json.loads(line) for line in (d / "history.jsonl").read_text().splitlines()]  # noqa: E731
    assert len(rows(tmp_path / "whole")) == 8
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole")  # every micro-batch, same losses and learning rates
    assert not (tmp_path / "cut" / "state_0").exists() and (tmp_path / "cut" / "state_1").is_dir()


_COMPOSITE_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.test_hpl_train import _conv, _pair
from trainers.hpl.train import train_composite

schedule = [[("bc", _conv(i)) if i % 2 else ("traj", _pair(i)) for i in range(4 * p, 4 * p + 4)] for p in range(2)]
train_composite(sys.argv[1], schedule, Path(sys.argv[2]), weights={"bc": 1.0, "traj": 1.0}, learning_rate=1e-3,
                batch_size=2, micro_batch_size=1, warmup_ratio=0.25, device="cpu", seed=3)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "zero3"])
def test_composite_resume_under_two_processes(tiny_model_dir, tmp_path, mode):
    """`accelerate launch` (2 CPU processes): killed at step 3 of 4 and relaunched, the weights equal a whole run."""
    pytest.importorskip("accelerate")
    if mode == "zero3":
        pytest.importorskip("deepspeed", reason="DeepSpeed not installed (pip install -e '.[deepspeed]')")
    import subprocess
    from pathlib import Path

    from safetensors.torch import load_file

    from tests.launch import launch, launch_env
    from trainers.hpl.train import FAULT_ENV

    repo = Path(__file__).resolve().parents[1]
    script = tmp_path / "composite.py"
    script.write_text(_COMPOSITE_SCRIPT)

    def run(out: Path, fault: str | None) -> subprocess.CompletedProcess:
        env = launch_env()
        env.pop(FAULT_ENV, None)
        if fault:
            env[FAULT_ENV] = fault
        zero3 = repo / "assets/configs/accelerate/zero3.yaml" if mode == "zero3" else None
        return launch([str(script), str(tiny_model_dir), str(out), str(repo)], config_file=zero3, env=env)

    res = run(tmp_path / "whole", None)
    assert res.returncode == 0, res.stderr[-4000:]
    res = run(tmp_path / "cut", "3")
    assert res.returncode != 0 and "InjectedFault" in res.stderr
    assert (tmp_path / "cut" / "phase_0").is_dir() and not (tmp_path / "cut" / "phase_1").exists()
    res = run(tmp_path / "cut", None)
    assert res.returncode == 0, res.stderr[-4000:]
    want = load_file(str(tmp_path / "whole" / "final" / "model.safetensors"))
    got = load_file(str(tmp_path / "cut" / "final" / "model.safetensors"))
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    rows = lambda d: (d / "history.jsonl").read_text().splitlines()  # noqa: E731
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole") and len(rows(tmp_path / "whole")) == 4  # 8 items / 2
