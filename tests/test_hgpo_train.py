"""HGPO trainer: config, loss, samples, and CPU end-to-end runs with the tiny model.

End-to-end runs use the toy corridor env (registered here), the SQL env with its
embedded benchmark on SQLite, and generated ALFWorld games (skipped only when
textworld / fast-downward are not installed). Each run is a couple of iterations;
they check that the loop, checkpoints and resume work and the loss is finite.
``test_update_moves_logprobs_with_advantage_sign`` checks that an update learns in
the direction the advantages say.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_installed
from tests.launch import hgpo_launch_args
from tests.markers import vllm_missing
from tests.model_fixtures import hgpo_test_config

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from trainers.configfile import apply_overrides  # noqa: E402
from trainers.hgpo.config import HGPOConfig, config_from_dict, load_config  # noqa: E402
from trainers.hgpo.loss import k3_kl, ppo_clip_loss  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("path", sorted((REPO / "assets" / "configs").glob("hgpo_*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.method in ("grpo", "gigpo", "hgpo")
    assert cfg.rl.group_size >= 1


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="unknown config key 'rl.learn_rate'"):
        config_from_dict({"rl": {"learn_rate": 1e-6}})
    with pytest.raises(ValueError, match="must be an integer"):
        config_from_dict({"rl": {"group_size": "eight"}})
    with pytest.raises(ValueError, match="method must be one of"):
        config_from_dict({"method": "ppo"})
    with pytest.raises(FileNotFoundError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(bad)
    bad.write_text("iterations: [1\n")
    with pytest.raises(ValueError, match=r"not valid YAML at line 2, column 1: expected ','") as info:
        load_config(bad)
    assert "\n" not in str(info.value)  # one line, not PyYAML's multi-line report
    with pytest.raises(ValueError, match="override 'env.train_tasks=.1' is not a valid YAML value"):
        load_config(None, ["env.train_tasks=[1"])
    assert apply_overrides({}, ["env.train_tasks=[0, 1]", "policy.dtype=null"]) == {
        "env": {"train_tasks": [0, 1]},
        "policy": {"dtype": None},
    }
    # YAML reads 3e-6 as a string; the config converts it
    cfg = load_config(None, ["rl.iterations=2", "rl.learning_rate=3e-6"])
    assert cfg.rl.iterations == 2 and cfg.rl.learning_rate == 3e-6 and isinstance(cfg, HGPOConfig)


def test_cli_print_config_and_bad_key(capsys):
    from scripts.hgpo import main

    assert main(["--print-config", "--set", "rl.group_size=4", "--method", "gigpo", "--iterations", "7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rl"]["group_size"] == 4 and out["method"] == "gigpo" and out["rl"]["iterations"] == 7
    assert main(["--set", "nonsense=1"]) == 2
    assert "unknown config key" in capsys.readouterr().err


# ----------------------------------------------------------------------------- loss
def test_ppo_loss_values():
    logp = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.25]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([1.0, -2.0])
    parts = ppo_clip_loss(logp, logp, adv, mask)  # ratio 1: loss = -mean(A) over tokens
    assert parts.loss.item() == pytest.approx(-(1 + 1 - 2) / 3)
    assert parts.clipped_tokens == 0 and parts.kl_sum == 0
    # ratio 2 with positive advantage is clipped at 1.2
    old = logp - np.log(2.0)
    parts = ppo_clip_loss(logp, old, torch.tensor([1.0, 1.0]), torch.ones(2, 2), clip_high=0.2)
    assert parts.loss.item() == pytest.approx(-1.2)
    assert parts.clipped_tokens == 4
    # ratio 2 with negative advantage is not clipped (pessimistic bound)
    parts = ppo_clip_loss(logp, old, torch.tensor([-1.0, -1.0]), torch.ones(2, 2))
    assert parts.loss.item() == pytest.approx(2.0)


def test_metrics_log_reads_old_names_under_the_new_ones(tmp_path):
    from trainers.hgpo.metrics import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"iteration": 0, "train/reward_mean": 0.5, "train/steps_mean": 4.0})
    log.append({"iteration": 1, "train/avg_reward": 0.75})
    assert [r.get("train/avg_reward") for r in log.read()] == [0.5, 0.75]
    assert log.read()[0]["train/avg_steps"] == 4.0 and "train/reward_mean" not in log.read()[0]


def test_k3_kl_properties():
    a = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    assert torch.allclose(k3_kl(a, a), torch.zeros(3))
    b = torch.log(torch.tensor([0.6, 0.2, 0.2]))
    kl = k3_kl(a, b)
    assert torch.all(kl >= 0) and kl.sum() > 0
    # unbiased: E_{x~p}[k3] = KL(p || q)
    p = a.exp()
    assert float((p * kl).sum()) == pytest.approx(float((p * (a - b)).sum()), rel=1e-5)
    with pytest.raises(ValueError, match="ref_logp"):
        ppo_clip_loss(a[None], a[None], torch.ones(1), torch.ones(1, 3), kl_coef=0.1)


def test_loss_gradient_moves_logprob_with_advantage_sign():
    for sign in (1.0, -1.0):
        logits = torch.zeros(1, 4, requires_grad=True)
        opt = torch.optim.SGD([logits], lr=0.5)
        for _ in range(3):
            logp = torch.log_softmax(logits, -1)[:, :1]  # the sampled token is token 0
            parts = ppo_clip_loss(logp, logp.detach(), torch.tensor([sign]), torch.ones(1, 1))
            opt.zero_grad()
            parts.loss.backward()
            opt.step()
        moved = float(torch.log_softmax(logits.detach(), -1)[0, 0]) - float(np.log(0.25))
        assert moved * sign > 0


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir) -> str:
    return str(tiny_model_dir)


def _config(tiny_model, run_dir, overrides: dict | None = None) -> HGPOConfig:
    """A small corridor run; ``overrides``: ``{"section.key": value}``."""
    base = {
        "env.max_episode_steps": 3,
        "env.num_envs": 8,
        "policy.history_window": 2,
        "policy.max_new_tokens": 12,
        "rl.group_size": 4,
        "rl.iterations": 2,
        "rl.learning_rate": 1e-4,
        "rl.kl_coef": 0.05,
        "rl.mini_batch_size": 12,
        "rl.ppo_epochs": 2,
        "save_every": 1,
        "keep_checkpoints": 2,
    }
    return config_from_dict(hgpo_test_config(tiny_model, run_dir, {**base, **(overrides or {})}))


def _weights(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


def test_corridor_train_checkpoint_resume(tiny_model, tmp_path):
    from trainers.hgpo.checkpoint import list_checkpoints
    from trainers.hgpo.trainer import train

    run = tmp_path / "run"
    rows = train(_config(tiny_model, run), resume=True, log=lambda *_: None)
    assert [r["iteration"] for r in rows] == [0, 1]
    for r in rows:
        for key in ("loss/pg", "loss/kl", "adv/mean", "loss/grad_norm"):
            assert np.isfinite(r[key]), key
        assert r["loss/optimizer_steps"] == 2 * 2  # 24 samples / mini batch 12, two epochs
        assert r["samples/trained"] == r["samples/steps"] == 2 * 4 * 3
        assert r["train/episodes"] == 8 and 0.0 <= r["train/avg_reward"] <= 1.0
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == ["iter_000000", "iter_000001"]
    changed = _weights(ckpts[-1])
    initial = _weights(tiny_model)
    assert any(not torch.equal(changed[k], initial[k]) for k in initial)
    assert (run / "metrics.png").exists()
    assert (ckpts[-1] / "optimizer.pt").exists()

    # resume: only the new iteration runs; the metrics log has each iteration once
    rows = train(_config(tiny_model, run, {"rl.iterations": 3}), resume=True, log=lambda *_: None)
    assert [r["iteration"] for r in rows] == [2]
    logged = [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == [0, 1, 2]
    assert [p.name for p in list_checkpoints(run)] == ["iter_000001", "iter_000002"]  # keep_checkpoints=2

    # the checkpoint loads as a normal HF model folder
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(list_checkpoints(run)[-1]))
    assert sum(p.numel() for p in model.parameters()) > 0

    # starting over moves the old checkpoints out of the resume path and restarts the log
    rows = train(
        _config(tiny_model, run, {"rl.iterations": 1, "env.max_episode_steps": 1}), resume=False, log=lambda *_: None
    )
    assert [r["iteration"] for r in rows] == [0]
    assert [p.name for p in list_checkpoints(run)] == ["iter_000000"]
    assert len(list(run.glob("checkpoints.old-*"))) == 1
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_samples_train_exactly_the_step_output(tiny_model, tmp_path):
    from trainers.hgpo.samples import build_samples, step_advantages
    from trainers.hgpo.trainer import HGPOTrainer

    trainer = HGPOTrainer(_config(tiny_model, tmp_path / "run", {"rl.kl_coef": 0.0}), resume=False, log=lambda *_: None)
    try:
        records = trainer.rollout(0)
        adv, stats = step_advantages(records, "hgpo", gamma=0.95)
        assert adv.shape == (sum(r.num_steps for r in records),)
        assert "level2/grouped_frac" in stats
        samples, counts = build_samples(records, adv, trainer.tokenizer)
        s = samples[0]
        trained = [t for t, m in zip(s.encoded.input_ids, s.encoded.loss_mask) if m]
        text = trainer.tokenizer.decode(trained)
        assert text == records[0].steps[0].raw_output + "<|im_end|>"
        # the prompt carries the K-step history window of the rollout
        assert records[0].prompt["history_window"] == 2
    finally:
        trainer.close()


@pytest.mark.parametrize("ppo_epochs, precision", [(1, "auto"), (2, "auto"), (1, "bf16")])
def test_update_moves_logprobs_with_advantage_sign(tiny_model, tmp_path, ppo_epochs, precision):
    """One ``update`` on a fixed batch: the positive-advantage action gets likelier, the negative one less likely.

    ``ppo_epochs=1`` is the single-step path (ratio 1, detached current log-probs);
    ``ppo_epochs=2`` recomputes old log-probs first and takes two clipped steps; ``precision=bf16``
    runs the update's forward passes under bf16 autocast on the CPU.
    """
    from trainers.hgpo.samples import StepSample
    from trainers.hgpo.trainer import HGPOTrainer
    from trainers.sequences import collate, encode_prompt_completion, masked_sequence_logprob

    cfg = _config(
        tiny_model,
        tmp_path / "run",
        {
            "rl.learning_rate": 1e-3,
            "rl.kl_coef": 0.0,
            "rl.mini_batch_size": None,
            "rl.ppo_epochs": ppo_epochs,
            "rl.precision": precision,
            "env.num_envs": 1,
        },
    )
    trainer = HGPOTrainer(cfg, resume=False, log=lambda *_: None)
    assert trainer.bf16 == (precision == "bf16")
    try:
        prompt = [{"role": "user", "content": "Task: reach cell 2 and stop. You are at cell 0."}]
        actions = {"go right": 1.0, "stop": -1.0}
        samples = [
            StepSample(
                episode_id=f"e{i}",
                group_id="g",
                step=0,
                advantage=adv,
                encoded=encode_prompt_completion(trainer.tokenizer, prompt, [{"role": "assistant", "content": a}]),
            )
            for i, (a, adv) in enumerate(actions.items())
        ]
        batch = collate([s.encoded for s in samples], trainer.tokenizer.pad_token_id)

        def logprobs() -> list[float]:
            with torch.no_grad():
                return masked_sequence_logprob(trainer.model, batch).tolist()

        before = logprobs()
        stats = trainer.update(samples, iteration=0)
        after = logprobs()
        assert stats["loss/optimizer_steps"] == ppo_epochs
        assert after[0] > before[0] + 1e-3, (before, after)  # advantage +1: more likely
        assert after[1] < before[1] - 1e-3, (before, after)  # advantage -1: less likely
    finally:
        trainer.close()


def test_sql_env_end_to_end(tiny_model, tmp_path):
    from trainers.hgpo.trainer import train

    cfg = _config(
        tiny_model,
        tmp_path / "run",
        {
            "env.env_id": "InterCodeSQL-v0",
            "env.kwargs": {"backend": "sqlite"},
            "env.max_episode_steps": 2,
            "env.eval_tasks": 2,
            "rl.iterations": 1,
            "rl.group_size": 3,
            "policy.max_new_tokens": 16,
            "rl.mini_batch_size": None,
            "rl.ppo_epochs": 1,
            "eval_every": 1,
        },
    )
    rows = train(cfg, resume=False, log=lambda *_: None)
    assert len(rows) == 1
    assert np.isfinite(rows[0]["loss/pg"]) and np.isfinite(rows[0]["loss/kl"])
    assert rows[0]["loss/optimizer_steps"] == 1
    assert "eval/success_rate" in rows[0]
    assert (tmp_path / "run" / "eval" / "iter_000000.json").exists()


def test_alfworld_generated_games_end_to_end(tiny_model, tmp_path):
    # only an engine that is not installed skips; a broken install or an import error inside agent_gym fails
    require_installed("textworld", "fast_downward", hint="pip install 'agent-gym[alfworld]'")
    import agent_gym.alfworld.env  # noqa: F401
    from trainers.hgpo.trainer import train

    cfg = _config(
        tiny_model,
        tmp_path / "run",
        {
            "env.env_id": "ALFWorld-Text-v0",
            "env.max_episode_steps": 2,
            "env.num_envs": 2,
            "rl.iterations": 1,
            "rl.group_size": 2,
            "rl.tasks_per_iteration": 1,
            "policy.max_new_tokens": 16,
            "rl.mini_batch_size": None,
            "rl.ppo_epochs": 1,
        },
    )
    rows = train(cfg, resume=False, log=lambda *_: None)
    assert len(rows) == 1 and np.isfinite(rows[0]["loss/pg"])
    assert rows[0]["train/episodes"] == 2


def test_accelerate_single_process(tiny_model, tmp_path):
    pytest.importorskip("accelerate")
    from trainers.hgpo.trainer import train

    cfg = _config(
        tiny_model,
        tmp_path / "run",
        {
            "rl.iterations": 1,
            "env.max_episode_steps": 2,
            "rl.group_size": 2,
            "policy.max_new_tokens": 8,
            "rl.micro_batch_size": 2,
            "rl.mini_batch_size": 4,
            "rl.ppo_epochs": 1,
            "use_accelerate": True,
        },
    )
    rows = train(cfg, resume=False, log=lambda *_: None)
    assert rows[0]["loss/optimizer_steps"] == 2 and np.isfinite(rows[0]["loss/pg"])


@pytest.mark.slow
@pytest.mark.vllm
@vllm_missing
def test_vllm_backend_weights_follow_the_update(tiny_model, tmp_path):
    """After an update the vLLM engine generates exactly what the updated HF model does."""
    from trainers.hgpo.trainer import HGPOTrainer
    from trainers.policies import GenerationParams
    from trainers.policies.hf import HFPolicy

    cfg = _config(
        tiny_model,
        tmp_path / "run",
        {
            "policy.backend": "vllm",
            "policy.dtype": "float32",
            "rl.iterations": 1,
            "rl.learning_rate": 1e-3,
            "rl.kl_coef": 0.0,
            "rl.mini_batch_size": None,
            "rl.ppo_epochs": 1,
            "env.max_episode_steps": 2,
            "rl.group_size": 2,
        },
    )
    trainer = HGPOTrainer(cfg, resume=False, log=lambda *_: None)
    try:
        trainer.train()
        conv = [{"role": "user", "content": "Task: reach cell 2 and stop. You are at cell 0."}]
        params = GenerationParams(max_new_tokens=12, logprobs=True)
        got = trainer.policy.generate([conv], params)[0][0]
        want = HFPolicy(trainer.model, trainer.tokenizer).generate([conv], params)[0][0]
        base = HFPolicy(tiny_model, device="cpu").generate([conv], params)[0][0]
        assert got.token_ids == want.token_ids
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-3)
        assert base.logprobs != pytest.approx(want.logprobs, abs=1e-3)  # the update changed the model
    finally:
        trainer.close()


def test_cli_unknown_env_fails_cleanly(tmp_path, capsys):
    from scripts.hgpo import main

    code = main(
        ["--set", "env.env_id=NoSuchEnv-v9", "--run-dir", str(tmp_path / "run"), "--set", "policy.model=unused"]
    )
    assert code == 2
    assert "unknown env id" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # a typo leaves no empty run folder behind
    code = main(
        [
            "--set",
            "env.env_id=InterCodeSQL-v0",
            "--run-dir",
            str(tmp_path / "run"),
            "--set",
            f"policy.model={tmp_path / 'nope'}",
        ]
    )
    assert code == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "run").exists()


def _launch_two_processes(args: list[str], timeout: int):
    """``accelerate launch`` with 2 CPU processes (DDP over gloo) of ``args``; fails on a non-zero exit."""
    from tests.launch import launch

    res = launch(args, timeout=timeout)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res


@pytest.mark.slow
def test_two_processes_under_accelerate_launch(tmp_path):
    """`accelerate launch` with 2 CPU processes (DDP over gloo): one metrics row per iteration, one report."""
    pytest.importorskip("accelerate")
    run = tmp_path / "run"
    res = _launch_two_processes(hgpo_launch_args(run), timeout=600)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1]
    assert all(r["loss/optimizer_steps"] > 0 for r in rows)
    assert all(r["train/episodes"] == 2 * 4 for r in rows)  # tasks_per_iteration x group_size, over both processes
    assert res.stdout.count("done: iteration 1") == 1  # only the main process reports
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["iter_000000", "iter_000001"]


_EMPTY_PROCESS_SCRIPT = """
import json, sys
import torch
from trainers.hgpo.config import load_config
from trainers.hgpo.samples import build_samples, step_advantages
from trainers.hgpo.trainer import HGPOTrainer

cfg = load_config(sys.argv[1], ["use_accelerate=true", "eval_every=0", "rl.skip_zero_advantage=true",
                                "run_dir=" + sys.argv[2], "rl.micro_batch_size=2", "rl.mini_batch_size=2"])
tr = HGPOTrainer(cfg, resume=False, log=lambda *a: None)
rank = tr.accelerator.process_index
records = tr.rollout(0)
adv, _ = step_advantages(records, cfg.method, **cfg.advantage.options())
samples, _ = build_samples(records, adv, tr.tokenizer, max_length=cfg.rl.max_length, skip_zero_advantage=False)
for s in samples:
    s.advantage = 1.0  # nonzero: these are trained on
stats = tr.update(samples if rank == 0 else [], 0)  # process 1 got no samples (as skip_zero_advantage can leave it)
flat = torch.cat([p.detach().flatten() for p in tr.unwrapped_model.parameters()])
sums = tr.accelerator.gather(flat.double().sum()[None])
if rank == 0:
    print("RESULT " + json.dumps({"steps": stats["loss/optimizer_steps"], "samples": len(samples),
                                  "param_sums": [float(x) for x in sums]}))
tr.close()
"""


@pytest.mark.slow
def test_a_process_without_samples_does_not_hang_the_others(tmp_path):
    """skip_zero_advantage can leave one process no samples: it must still join the gather and the DDP backward."""
    pytest.importorskip("accelerate")
    import subprocess

    script = tmp_path / "empty_process.py"
    script.write_text(_EMPTY_PROCESS_SCRIPT)
    try:
        res = _launch_two_processes(
            [str(script), str(REPO / "assets/configs/hgpo_tiny_cpu.yaml"), str(tmp_path / "run")], timeout=420
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the two processes hung in the update: {exc}")
    out = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["samples"] > 0 and out["steps"] > 0
    a, b = out["param_sums"]
    assert a == b  # both replicas took the same optimizer steps (DDP averaged process 0's gradients)
