"""scripts.experiment_hpl end to end on the diagnostic corridor env (tiny model): reuse, resume, table."""

from __future__ import annotations

import json

from scripts.experiment_hpl import main

SETTINGS = [
    "env.env_id=Corridor-Text-v0",
    "env.kwargs={}",
    "env.eval_kwargs={}",
    "env.max_episode_steps=6",
    "env.train_tasks=2",
    "env.eval_tasks=2",
    "env.num_envs=2",
    "device=cpu",
    "policy.max_new_tokens=8",
    "sft.epochs=1",
    "explore.mc_rollouts=1",
    "explore.demos=1",
    "dpo.batch_size=4",
    "dpo.micro_batch_size=4",
]


def test_experiment_compares_methods_and_resumes(tmp_path, capsys):
    out = tmp_path / "exp"
    argv = ["--config", "assets/configs/hpl_tiny.yaml", "--out", str(out), "--methods", "sft,eto,hpl"]
    for s in SETTINGS:
        argv += ["--set", s]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"sft", "eto", "hpl"}
    for r in results.values():
        assert r["eval_tasks"] == 2 and 0.0 <= r["success_rate"] <= 1.0
    # SFT and ETO reuse HPL's demonstrations and pi_ref (symlinks), and train nothing of HPL's again
    assert (out / "sft" / "pi_ref").is_symlink() and (out / "eto" / "pairs").is_symlink()
    assert "reused_from" in json.loads((out / "eto" / "state.json").read_text())["stages"]["explore"]
    table = (out / "results.md").read_text()
    assert table.splitlines()[0].startswith("| method | held-out success")
    assert [ln.split("|")[1].strip() for ln in table.splitlines()[2:5]] == ["sft", "eto", "hpl"]
    assert "| traj |" in table and "of the 1 training tasks it explored" in table
    first = capsys.readouterr().out
    assert "[train] running" in first
    # a second run resumes: every stage is skipped and the same table comes out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "[train] running" not in again and "done already" in again
    assert (out / "results.md").read_text() == table
