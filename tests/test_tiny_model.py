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
