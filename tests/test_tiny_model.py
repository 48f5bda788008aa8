"""The tiny test model builder under concurrency (several processes building one cached folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BUILD_AND_LOAD = (
    "import sys; from trainers.models import build_tiny_model; "
    "from transformers import AutoModelForCausalLM, AutoTokenizer; "
    "p = build_tiny_model(sys.argv[1]); AutoTokenizer.from_pretrained(str(p)); "
    "AutoModelForCausalLM.from_pretrained(str(p)); print('loaded')"
)


def test_concurrent_builds_of_one_folder_all_load(tmp_path):
    """Three processes build the same folder at once: each ends with a complete, loadable model."""
    target = tmp_path / "tiny"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_AND_LOAD, str(target)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, rc in results:
        assert rc == 0 and "loaded" in out, err[-2000:]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in target.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary folders left behind


def test_resolve_device_is_the_one_device_rule(monkeypatch):
    import pytest
    import torch

    from agent_gym.errors import BackendUnavailableError
    from trainers.models import resolve_device

    default = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == resolve_device(None) == default and resolve_device("cpu") == "cpu"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cpu") == "cpu"  # under a launch: only a bare "cuda" becomes this process's GPU
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda:1" and resolve_device("cuda:0") == "cuda:0"
    else:
        with pytest.raises(BackendUnavailableError, match="torch sees no GPU; use device: cpu or auto"):
            resolve_device("cuda")


def test_resolve_model_path_builds_tiny_once_and_passes_others_through(tmp_path):
    from trainers.models import resolve_model_path

    assert resolve_model_path("org/some-model") == "org/some-model"
    assert resolve_model_path(tmp_path / "folder") == str(tmp_path / "folder")
    path = resolve_model_path("tiny", out_dir=tmp_path / "tiny", hidden_size=64, num_layers=1)
    assert path == str(tmp_path / "tiny") and (tmp_path / "tiny" / "config.json").exists()
    import json

    assert json.loads((tmp_path / "tiny" / "config.json").read_text())["num_hidden_layers"] == 1
