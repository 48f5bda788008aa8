"""LoRA as a config switch: SFT, the HPL composite stage and HGPO train an adapter; every loader accepts it.

All on the tiny model (seconds). The real-model path (SmolLM2 with its own template) is in
``tests/test_real_model.py``; the vLLM backend loading an adapter is in ``tests/test_vllm.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from trainers.lora import LoraSettings  # noqa: E402

CORRIDOR_ID = "LoraTestCorridor-v0"
if CORRIDOR_ID not in gym.registry:
    gym.register(id=CORRIDOR_ID, entry_point="tests.toy_env:CorridorEnv")

SYSTEM = "Reach the goal cell, then stop. Reply with Thought and Action lines."
DEMO = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Task: reach cell 2 and stop. You are at cell 0."},
    {"role": "assistant", "content": "Thought: move right.\nAction: go right"},
    {"role": "user", "content": "You are at cell 1."},
    {"role": "assistant", "content": "Thought: once more.\nAction: go right"},
    {"role": "user", "content": "You are at cell 2."},
    {"role": "assistant", "content": "Thought: done.\nAction: stop"},
]
WRONG = DEMO[:2] + [{"role": "assistant", "content": "Thought: move left.\nAction: go left"}]


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _moved(a: dict, b: dict) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if k in b)


def test_settings_are_validated_in_both_trainers():
    from trainers.hgpo.config import config_from_dict
    from trainers.hpl.config import config_from_dict as hpl_config

    assert not LoraSettings().enabled
    assert hpl_config({"lora": {"enabled": True, "r": 4}}).lora.r == 4
    assert config_from_dict({"lora": {"enabled": True, "target_modules": ["q_proj", "v_proj"]}}).lora.enabled
    for bad, msg in [
        ({"r": 0}, "lora.r must be"),
        ({"dropout": 1.5}, "lora.dropout"),
        ({"target_modules": []}, "target_modules"),
        ({"rank": 8}, "unknown config key 'lora.rank'"),
    ]:
        with pytest.raises(ValueError, match=msg):
            config_from_dict({"lora": bad})
    with pytest.raises(ValueError, match=r"unknown config key 'lora.rank'"):
        hpl_config({"lora": {"rank": 8}})


@pytest.fixture(scope="module")
def sft_adapter(tiny_model_dir, tmp_path_factory):
    from trainers.hpl.train import run_sft

    out = tmp_path_factory.mktemp("lora") / "pi_ref"
    _, metrics = run_sft(
        tiny_model_dir,
        [DEMO] * 4,
        out,
        learning_rate=5e-3,
        epochs=2,
        batch_size=2,
        micro_batch_size=2,
        device="cpu",
        lora=LoraSettings(enabled=True, r=4, merge=True),
    )
    return out, metrics


def test_sft_lora_saves_an_adapter_that_every_loader_accepts(tiny_model_dir, sft_adapter):
    from transformers import AutoModelForCausalLM

    from trainers.lora import adapter_base, load_causal_lm
    from trainers.policies import GenerationParams
    from trainers.policies.hf import HFPolicy

    out, metrics = sft_adapter
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    assert (out / "merged" / "config.json").exists()  # lora.merge
    assert Path(adapter_base(out)) == Path(tiny_model_dir).resolve()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert metrics["lora"] and 0 < metrics["trainable_params"] < sum(p.numel() for p in base.parameters()) / 4
    assert metrics["data/trained_tokens"] > 0 and metrics["steps"] == 4
    merged, tok = load_causal_lm(out)
    assert _moved(_weights(merged), _weights(base)) > 1e-4  # the adapter changed the function
    # merging on the fly (no merged/ copy) gives the same weights as the saved merged copy
    import shutil

    bare = out.parent / "bare"
    shutil.copytree(out, bare)
    shutil.rmtree(bare / "merged")
    on_the_fly, _ = load_causal_lm(bare)
    assert _moved(_weights(on_the_fly), _weights(merged)) < 1e-5
    # the HF backend loads the adapter folder and generates with the trained weights
    conv = DEMO[:2]
    params = GenerationParams(max_new_tokens=8, logprobs=True)
    a = HFPolicy(str(bare), device="cpu").generate([conv], params)[0][0]
    b = HFPolicy(merged, tok).generate([conv], params)[0][0]
    assert a.token_ids == b.token_ids and a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_evaluate_cli_runs_an_adapter_checkpoint(sft_adapter, tmp_path):
    from scripts.evaluate import main

    out, _ = sft_adapter
    report = tmp_path / "r.json"
    assert (
        main(
            [
                "--env",
                CORRIDOR_ID,
                "--model",
                str(out),
                "--episodes",
                "1",
                "--max-steps",
                "2",
                "--max-new-tokens",
                "8",
                "--device",
                "cpu",
                "--out",
                str(report),
                "--quiet",
            ]
        )
        == 0
    )
    data = json.loads(report.read_text())
    assert data["episodes"] == 1


def test_composite_lora_trains_an_adapter_on_pi_ref_and_reference_is_the_adapter_off(sft_adapter, tmp_path):
    from trainers.hpl.train import precompute_reference, train_composite
    from trainers.lora import adapter_base, add_adapter, load_causal_lm, reference_mode
    from trainers.sequences import collate, encode_conversation, masked_sequence_logprob

    pi_ref, _ = sft_adapter
    model, tok = load_causal_lm(pi_ref, device="cpu")
    pair = {"prompt": DEMO[:2], "chosen": DEMO[2:3], "rejected": WRONG[2:3]}
    pairs = precompute_reference(model, tok, [pair] * 2, progress=False)
    schedule = [[("bc", DEMO), ("traj", pairs[0]), ("traj", pairs[1])]]
    final, metrics = train_composite(
        pi_ref,
        schedule,
        tmp_path / "composite",
        weights={"bc": 1.0, "traj": 1.0},
        learning_rate=5e-3,
        batch_size=3,
        micro_batch_size=3,
        device="cpu",
        lora=LoraSettings(enabled=True, r=4),
    )
    assert metrics["lora"] and metrics["data/trained_tokens"] > 0 and metrics["micro_batches"] == 1
    assert (final / "adapter_config.json").exists() and Path(adapter_base(final)) == pi_ref.resolve()
    trained, _ = load_causal_lm(final)
    assert _moved(_weights(trained), _weights(model)) > 1e-5
    # the reference of a LoRA model is the same model with its adapter disabled: exactly pi_ref
    wrapped = add_adapter(load_causal_lm(pi_ref, device="cpu")[0], LoraSettings(enabled=True, r=4), pi_ref)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.05)  # an adapter that changes the function
        batch = collate([encode_conversation(tok, DEMO)], tok.pad_token_id)
        with reference_mode(wrapped) as ref:
            lp_ref = masked_sequence_logprob(ref, batch)
        lp_on = masked_sequence_logprob(wrapped, batch)
        lp_pi_ref = masked_sequence_logprob(model.eval(), batch)
    assert lp_ref.item() == pytest.approx(lp_pi_ref.item(), abs=1e-4)
    assert abs(lp_on.item() - lp_pi_ref.item()) > 1e-3


def test_hgpo_lora_iteration_checkpoint_resume(tiny_model_dir, tmp_path):
    from tests.model_fixtures import hgpo_test_config
    from trainers.hgpo.checkpoint import list_checkpoints
    from trainers.hgpo.config import config_from_dict
    from trainers.hgpo.trainer import HGPOTrainer, train
    from trainers.lora import load_causal_lm

    cfg = hgpo_test_config(
        tiny_model_dir,
        tmp_path / "run",
        {
            "rl.learning_rate": 5e-3,
            "rl.kl_coef": 0.1,
            "save_every": 1,
            "lora": {"enabled": True, "r": 4, "merge": True},
        },
    )
    rows = train(config_from_dict(cfg), resume=True, log=lambda *_: None)
    assert rows[0]["samples/trained_tokens"] > 0 and rows[0]["loss/optimizer_steps"] == 1
    assert rows[0]["loss/kl"] == pytest.approx(0.0, abs=1e-6)  # adapter starts as the identity
    ckpt = list_checkpoints(tmp_path / "run")[-1]
    assert (ckpt / "adapter_config.json").exists() and (ckpt / "merged" / "config.json").exists()
    base, _ = load_causal_lm(tiny_model_dir)
    moved, _ = load_causal_lm(ckpt)
    assert _moved(_weights(moved), _weights(base)) > 1e-5
    # resume continues the saved adapter; the KL is now measured against the adapter-off base
    trainer = HGPOTrainer(
        config_from_dict({**cfg, "rl": {**cfg["rl"], "iterations": 2}}), resume=True, log=lambda *_: None
    )
    try:
        assert trainer.start_iteration == 1 and trainer.ref_model is None
        row = trainer.iteration(1)
        assert row["loss/kl"] > 0
    finally:
        trainer.close()


def test_hpl_pipeline_with_lora_end_to_end(tmp_path):
    """The whole HPL pipeline with ``lora.enabled``: pi_ref and the policy are adapters, every stage loads them."""
    from trainers.hpl.config import config_from_dict
    from trainers.hpl.pipeline import run_pipeline

    cfg = config_from_dict(
        {
            "method": "hpl",
            "run_dir": str(tmp_path / "run"),
            "device": "cpu",
            "env": {"env_id": CORRIDOR_ID, "max_episode_steps": 6, "train_tasks": 2, "eval_tasks": 1, "num_envs": 2},
            "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
            "sft": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-2},
            "explore": {"mc_rollouts": 2, "segmenter": "fixed_k", "segmenter_args": {"k": 2}},
            "dpo": {"batch_size": 4, "learning_rate": 1e-3},
            "lora": {"enabled": True, "r": 4},
        }
    )
    stages = run_pipeline(cfg, log=lambda s: None)["stages"]
    run = tmp_path / "run"
    assert (run / "pi_ref" / "adapter_config.json").exists() and not (run / "pi_ref" / "model.safetensors").exists()
    assert (run / "policy" / "adapter_config.json").exists()
    assert stages["sft"]["lora"] and stages["sft"]["data/trained_tokens"] > 0
    assert stages["train"]["lora"] and stages["train"]["data/trained_tokens"] > 0
    assert 0.0 <= stages["evaluate"]["success_rate"] <= 1.0


def test_dotted_overrides_reach_the_lora_section():
    from scripts.hgpo import main as hgpo_main
    from trainers.hgpo.config import load_config
    from trainers.hpl.config import load_config as hpl_load

    cfg = load_config(None, ["lora.enabled=true", "lora.r=4", "report_to=none"])
    assert cfg.lora.enabled and cfg.lora.r == 4
    assert hpl_load(None, ["lora.enabled=true", "lora.target_modules=[q_proj]"]).lora.target_modules == ["q_proj"]
    assert hgpo_main(["--print-config", "--set", "lora.enabled=true", "--set", "lora.bogus=1"]) == 2
