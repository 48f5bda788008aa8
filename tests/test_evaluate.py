"""``python -m scripts.evaluate``: reports, resume, the oracle on every benchmark, the tiny model end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import pytest

from scripts.evaluate import main
from trainers.evaluation import select_tasks, summarize
from trainers.rollout import EpisodeRecord, StepRecord

TOY = "AgentGymTest-Corridor-v0"
if TOY not in gym.registry:
    gym.register(TOY, entry_point="tests.toy_env:CorridorEnv")

REPORT_KEYS = {"env", "split", "episodes", "success_rate", "avg_reward", "avg_steps", "invalid_action_rate", "per_task_type"}
REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, name: str, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert REPORT_KEYS <= set(report)
    for stats in report["per_task_type"].values():
        assert {"episodes", "success_rate", "avg_reward"} <= set(stats)
    assert (tmp_path / f"{name}.md").read_text().startswith("# Evaluation")
    assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    lines = (tmp_path / f"{name}.trajectories.jsonl").read_text().splitlines()
    assert len(lines) == report["episodes"]
    return report


def _stratified(env_id: str, per_type: int, **kwargs) -> list[str]:
    env = gym.make(env_id, **kwargs)
    by_type: dict[str, list[str]] = defaultdict(list)
    for tid in env.unwrapped.task_ids:
        by_type[tid.split("-")[0].split("/")[0]].append(tid)
    env.close()
    return [t for ids in by_type.values() for t in ids[:per_type]]


# ---------------------------------------------------------------- summary logic
def test_summarize_counts_invalid_steps_and_task_types():
    def rec(tt, success, reward, valid):
        steps = [StepRecord(i, "o", [], "x", "a" if v else None, v) for i, v in enumerate(valid)]
        return EpisodeRecord("e", TOY, "t", tt, "g", steps=steps, success=success, reward=reward)

    s = summarize([rec("a", True, 1.0, [True, True]), rec("a", False, 0.0, [False]), rec("b", True, 0.5, [True])])
    assert s["episodes"] == 3 and s["success_rate"] == pytest.approx(2 / 3) and s["avg_reward"] == 0.5
    assert s["avg_steps"] == pytest.approx(4 / 3) and s["invalid_action_rate"] == 0.25
    assert s["per_task_type"] == {
        "a": {"episodes": 2, "success_rate": 0.5, "avg_reward": 0.5},
        "b": {"episodes": 1, "success_rate": 1.0, "avg_reward": 0.5},
    }
    assert select_tasks([str(i) for i in range(10)], 3) == ["0", "3", "6"]
    assert select_tasks(["a", "b"], None) == ["a", "b"]


# ---------------------------------------------------------------- toy env: CLI behaviour
def test_oracle_random_and_resume_on_toy_env(tmp_path):
    report = _run(tmp_path, "oracle", "--env", TOY, "--policy", "oracle")
    assert report["success_rate"] == 1.0 and report["episodes"] == 3 and report["invalid_action_rate"] == 0.0
    assert report["policy"] == {"backend": "oracle"}
    # a second run resumes: nothing is played again, the report is the same
    again = _run(tmp_path, "oracle", "--env", TOY, "--policy", "oracle")
    assert again["this_run"]["env_steps"] == 0 and again["success_rate"] == 1.0
    assert again["env_steps"] == report["env_steps"] == 12  # totals cover the resumed episodes too
    rand = _run(tmp_path, "random", "--env", TOY, "--policy", "random", "--seed", "3", "--episodes", "2")
    assert rand["episodes"] == 2


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    _run(tmp_path, "r", "--env", TOY, "--policy", "random")
    assert main(["--env", TOY, "--policy", "random", "--seed", "5", "--out", str(tmp_path / "r.json"), "--quiet"]) == 2
    assert "different settings" in capsys.readouterr().err
    assert main(["--env", TOY, "--policy", "random", "--seed", "5", "--out", str(tmp_path / "r.json"), "--quiet", "--no-resume"]) == 0


def test_user_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["--env", "Nope-v0", "--policy", "oracle", "--out", str(tmp_path / "x.json"), "--quiet"]) == 2
    assert "unknown env id 'Nope-v0'" in capsys.readouterr().err
    assert main(["--env", TOY, "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "y.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "make_tiny_model" in err and len(err.strip().splitlines()) == 1
    bad_kwarg = ["--env", TOY, "--policy", "oracle", "--env-arg", "bogus=1", "--out", str(tmp_path / "k.json"), "--quiet"]
    assert main(bad_kwarg) == 2
    err = capsys.readouterr().err
    assert "does not accept bogus" in err and "it takes:" in err
    assert not (tmp_path / "k.trajectories.jsonl").exists()
    assert main(["--env", TOY, "--policy", "oracle", "--task-ids", "corridor-9", "--out", str(tmp_path / "z.json"), "--quiet"]) == 2
    assert "unknown task id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--env", TOY])  # neither --model nor --policy


def test_command_line_entry_point(tmp_path):
    out = tmp_path / "ws.json"
    cmd = [sys.executable, "-m", "scripts.evaluate", "--env", "WebShop-Text-v0", "--policy", "oracle",
           "--episodes", "3", "--out", str(out), "--quiet"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "ALL" in res.stdout and json.loads(out.read_text())["success_rate"] == 1.0


# ---------------------------------------------------------------- the oracle on the benchmarks
def test_oracle_solves_alfworld_valid_seen_stratified(tmp_path, alfworld_data_root):
    tasks = _stratified("ALFWorld-Text-v0", 2, data_dir=str(alfworld_data_root), split="valid_seen")
    assert len(tasks) == 12
    report = _run(tmp_path, "alf", "--env", "ALFWorld-Text-v0", "--split", "valid_seen",
                  "--data-dir", str(alfworld_data_root), "--policy", "oracle", "--task-ids", *tasks)
    assert report["success_rate"] == 1.0 and report["episodes"] == 12 and len(report["per_task_type"]) == 6
    assert report["invalid_action_rate"] == 0.0


@pytest.mark.slow
def test_oracle_solves_all_of_alfworld_valid_seen(tmp_path, alfworld_data_root):
    report = _run(tmp_path, "alf_all", "--env", "ALFWorld-Text-v0", "--split", "valid_seen",
                  "--data-dir", str(alfworld_data_root), "--policy", "oracle")
    assert report["episodes"] == 140 and report["success_rate"] == 1.0


def test_oracle_solves_generated_webshop(tmp_path):
    report = _run(tmp_path, "ws", "--env", "WebShop-Text-v0", "--policy", "oracle", "--episodes", "40")
    assert report["success_rate"] == 1.0 and report["avg_reward"] == 1.0 and report["episodes"] == 40


def test_oracle_solves_generated_sql(tmp_path):
    report = _run(tmp_path, "sql", "--env", "InterCodeSQL-v0", "--policy", "oracle", "--episodes", "30")
    assert report["success_rate"] == 1.0 and report["episodes"] == 30
    assert set(report["per_task_type"]) >= {"easy", "medium"}


# ---------------------------------------------------------------- the tiny model end to end, every env
@pytest.mark.parametrize("env_id", [TOY, "WebShop-Text-v0", "InterCodeSQL-v0", "ALFWorld-Text-v0"])
def test_tiny_model_end_to_end(tmp_path, tiny_model_dir, env_id, request):
    extra = []
    if env_id == "ALFWorld-Text-v0":
        root = request.getfixturevalue("alfworld_data_root")
        extra = ["--split", "valid_seen", "--data-dir", str(root)]
    report = _run(tmp_path, "tiny", "--env", env_id, "--model", str(tiny_model_dir), "--episodes", "2",
                  "--max-steps", "2", "--max-new-tokens", "8", "--temperature", "1.0", *extra)
    assert report["episodes"] == 2 and report["avg_steps"] == 2.0
    assert report["policy"]["backend"] == "hf" and report["generated_tokens"] > 0
    assert 0.0 <= report["invalid_action_rate"] <= 1.0
