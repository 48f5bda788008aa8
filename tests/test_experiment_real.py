"""scripts.experiment_real on the tiny model: a disjoint seeded split, SFT, held-out evaluation, the methods
stage (shared exploration, paired comparison with SFT), resume."""

from __future__ import annotations

import json

import pytest


def test_split_sft_evaluate_and_rerun_skips_finished_stages(tiny_model_dir, tmp_path, capsys):
    pytest.importorskip("trl")
    from scripts.experiment_real import main

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


def test_methods_from_pi_ref_share_exploration_and_compare_paired(tiny_model_dir, tmp_path):
    pytest.importorskip("trl")
    from scripts.experiment_real import main

    out = tmp_path / "run"
    argv = [
        "--env", "InterCodeSQL-v0", "--env-arg", "backend=sqlite", "--env-arg", "expert_style=schema",
        "--model", str(tiny_model_dir), "--train", "3", "--heldout", "3", "--out", str(out),
        "--backend", "hf", "--batch-size", "3", "--micro-batch-size", "3", "--max-new-tokens", "8",
        "--num-envs", "3", "--methods", "sft,eto",
        "--set", "policy.backend=hf", "--set", "policy.max_new_tokens=8", "--set", "env.num_envs=3",
        "--set", "explore.mc_rollouts=1", "--set", "dpo.batch_size=2", "--set", "dpo.micro_batch_size=2",
        "--set", "dpo.precision=fp32",
    ]  # fmt: skip
    assert main(argv) == 0
    split = json.loads((out / "split.json").read_text())
    # the schema expert's demonstrations look at the tables before the gold query
    demo = json.loads((out / "demos" / "expert.jsonl").read_text().splitlines()[0])
    assert demo["steps"][0]["action"] == "SHOW TABLES" and demo["steps"][1]["action"].startswith("DESCRIBE ")
    results = json.loads((out / "methods.json").read_text())
    assert set(results) == {"sft", "eto"}
    for m in ("sft", "eto"):
        assert sorted(results[m]["success"]) == sorted(split["heldout"])  # evaluated on the held-out tasks
    # ETO explored (it is the first preference method) on the training tasks only and trained
    explored = [
        json.loads(x)["task_id"] for x in (out / "methods" / "eto" / "pairs" / "traj.jsonl").read_text().splitlines()
    ]
    assert set(explored) <= set(split["train"])
    assert results["eto"]["train"]["optimizer_steps"] >= 1
    # the SFT arm is pi_ref itself (its weights were not trained again)
    assert (out / "methods" / "sft" / "pi_ref").resolve() == (out / "pi_ref").resolve()
    text = (out / "results.md").read_text()
    assert "| eto |" in text and "McNemar" in text and (out / "results.png").stat().st_size > 0
    mtime = (out / "methods" / "eto" / "policy").stat().st_mtime
    assert main(argv) == 0  # a rerun reuses every finished stage
    assert (out / "methods" / "eto" / "policy").stat().st_mtime == mtime


def test_rl_runs_from_pi_ref_are_evaluated_like_the_methods(tiny_model_dir, tmp_path):
    pytest.importorskip("trl")
    from scripts.experiment_real import main

    out = tmp_path / "run"
    argv = [
        "--env", "InterCodeSQL-v0", "--env-arg", "backend=sqlite",
        "--model", str(tiny_model_dir), "--train", "2", "--heldout", "2", "--out", str(out),
        "--backend", "hf", "--batch-size", "2", "--micro-batch-size", "2", "--max-new-tokens", "8",
        "--num-envs", "2", "--rl-methods", "grpo,hgpo", "--rl-seeds", "0",
        "--set", "policy.backend=hf", "--set", "policy.max_new_tokens=8", "--set", "env.num_envs=2",
        "--rl-set", "policy.backend=hf", "--rl-set", "rl.iterations=1", "--rl-set", "rl.group_size=2",
        "--rl-set", "rl.tasks_per_iteration=1", "--rl-set", "policy.max_new_tokens=8", "--rl-set", "env.num_envs=2",
        "--rl-set", "env.max_episode_steps=2", "--rl-set", "rl.skip_zero_advantage=false",
    ]  # fmt: skip
    assert main(argv) == 0
    split = json.loads((out / "split.json").read_text())
    results = json.loads((out / "methods.json").read_text())
    assert set(results) == {"grpo_s0", "hgpo_s0"}
    for name in results:
        assert sorted(results[name]["success"]) == sorted(split["heldout"])
        assert results[name]["train"]["iterations"] == 1 and results[name]["train"]["optimizer_steps"] == 1
        # the evaluated policy is the RL run's checkpoint, not pi_ref
        evaluated = (out / "methods" / name / "pi_ref").resolve()
        assert evaluated.parent.name == "checkpoints" and evaluated != (out / "pi_ref").resolve()
    assert "| hgpo_s0 |" in (out / "results.md").read_text()
    assert main(argv) == 0  # a rerun trains nothing again
    assert len((out / "rl" / "grpo_s0" / "metrics.jsonl").read_text().splitlines()) == 1
