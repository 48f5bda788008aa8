"""scripts.experiment_real_sft on the tiny model: a disjoint seeded split, SFT, held-out evaluation, resume."""

from __future__ import annotations

import json

import pytest


def test_split_sft_evaluate_and_rerun_skips_finished_stages(tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("trl")
    from scripts.experiment_real_sft import main

    out = tmp_path / "run"
    argv = [
        "--env",
        "InterCodeSQL-v0",
        "--env-arg",
        "backend=sqlite",
        "--model",
        str(tiny_model_dir),
        "--train",
        "3",
        "--heldout",
        "2",
        "--out",
        str(out),
        "--backend",
        "hf",
        "--batch-size",
        "3",
        "--micro-batch-size",
        "3",
        "--max-new-tokens",
        "8",
        "--num-envs",
        "2",
    ]
    assert main(argv) == 0
    split = json.loads((out / "split.json").read_text())
    assert len(split["train"]) == 3 and len(split["heldout"]) == 2 and not set(split["train"]) & set(split["heldout"])
    sft = json.loads((out / "sft_metrics.json").read_text())
    assert sft["data/kept"] == 3 and sft["data/trained_tokens"] > 0
    report = json.loads((out / "eval_sft.json").read_text())
    assert report["episodes"] == 2 and len(report["success_ci95"]) == 2
    assert "| sft | 2 |" in (out / "results.md").read_text()
    # a rerun reuses the split, the demonstrations, pi_ref and the finished episodes
    mtime = (out / "pi_ref" / "config.json").stat().st_mtime
    capsys.readouterr()
    assert main(argv) == 0
    assert (out / "pi_ref" / "config.json").stat().st_mtime == mtime
    assert json.loads((out / "split.json").read_text()) == split
    assert main([*argv[:-2], "--num-envs", "2", "--train", "5000"]) == 0  # split.json wins over new sizes
    with pytest.raises(SystemExit):
        main(["--env", "InterCodeSQL-v0"])  # --model and --out are required
