"""``python -m scripts.evaluate``: reports, resume, the oracle on every benchmark, the tiny model end to end."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import pytest

from scripts.evaluate import main
from tests.toy_env import register_toy
from trainers.evaluation import select_tasks, summarize
from trainers.rollout import EpisodeRecord, StepRecord
from wrappers.prompting import PromptConfig

TOY = "AgentGymTest-Corridor-v0"
register_toy(TOY)

REPORT_KEYS = {
    "env",
    "split",
    "episodes",
    "success_rate",
    "avg_reward",
    "avg_steps",
    "invalid_action_rate",
    "per_task_type",
}
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
    assert (
        main(
            [
                "--env",
                TOY,
                "--policy",
                "random",
                "--seed",
                "5",
                "--out",
                str(tmp_path / "r.json"),
                "--quiet",
                "--no-resume",
            ]
        )
        == 0
    )


def test_user_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["--env", "Nope-v0", "--policy", "oracle", "--out", str(tmp_path / "x.json"), "--quiet"]) == 2
    assert "unknown env id 'Nope-v0'" in capsys.readouterr().err
    assert main(["--env", TOY, "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "y.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "make_tiny_model" in err and len(err.strip().splitlines()) == 1
    bad_kwarg = [
        "--env",
        TOY,
        "--policy",
        "oracle",
        "--env-arg",
        "bogus=1",
        "--out",
        str(tmp_path / "k.json"),
        "--quiet",
    ]
    assert main(bad_kwarg) == 2
    err = capsys.readouterr().err
    assert "does not accept bogus" in err and "it takes:" in err
    assert not (tmp_path / "k.trajectories.jsonl").exists()
    assert (
        main(
            [
                "--env",
                TOY,
                "--policy",
                "oracle",
                "--task-ids",
                "corridor-9",
                "--out",
                str(tmp_path / "z.json"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "unknown task id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--env", TOY])  # neither --model nor --policy


def test_command_line_entry_point(tmp_path):
    out = tmp_path / "ws.json"
    cmd = [
        sys.executable,
        "-m",
        "scripts.evaluate",
        "--env",
        "WebShop-Text-v0",
        "--policy",
        "oracle",
        "--episodes",
        "3",
        "--out",
        str(out),
        "--quiet",
    ]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "ALL" in res.stdout and json.loads(out.read_text())["success_rate"] == 1.0


# ---------------------------------------------------------------- the oracle on the benchmarks
def test_oracle_solves_alfworld_valid_seen_stratified(tmp_path, alfworld_data_root):
    tasks = _stratified("ALFWorld-Text-v0", 2, data_dir=str(alfworld_data_root), split="valid_seen")
    assert len(tasks) == 12
    report = _run(
        tmp_path,
        "alf",
        "--env",
        "ALFWorld-Text-v0",
        "--split",
        "valid_seen",
        "--data-dir",
        str(alfworld_data_root),
        "--policy",
        "oracle",
        "--task-ids",
        *tasks,
    )
    assert report["success_rate"] == 1.0 and report["episodes"] == 12 and len(report["per_task_type"]) == 6
    assert report["invalid_action_rate"] == 0.0


@pytest.mark.slow
def test_oracle_solves_all_of_alfworld_valid_seen(tmp_path, alfworld_data_root):
    report = _run(
        tmp_path,
        "alf_all",
        "--env",
        "ALFWorld-Text-v0",
        "--split",
        "valid_seen",
        "--data-dir",
        str(alfworld_data_root),
        "--policy",
        "oracle",
    )
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
    report = _run(
        tmp_path,
        "tiny",
        "--env",
        env_id,
        "--model",
        str(tiny_model_dir),
        "--episodes",
        "2",
        "--max-steps",
        "2",
        "--max-new-tokens",
        "8",
        "--temperature",
        "1.0",
        *extra,
    )
    assert report["episodes"] == 2 and report["avg_steps"] == 2.0
    assert report["policy"]["backend"] == "hf" and report["generated_tokens"] > 0
    assert report["dtype"] in ("bfloat16", "float32") and report["policy"]["dtype"] == report["dtype"]
    assert 0.0 <= report["invalid_action_rate"] <= 1.0


# ---------------------------------------------------------------- faults, resume totals, what ran
def test_bad_game_file_is_recorded_as_failed_and_the_run_carries_on(tmp_path, alfworld_data_root):
    split = tmp_path / "alf" / "json_2.1.1" / "valid_seen"
    split.mkdir(parents=True)
    good = sorted((alfworld_data_root / "json_2.1.1" / "valid_seen").iterdir())[0]
    shutil.copytree(good, split / good.name)
    bad = split / "pick_and_place_simple-Broken-None-Sink-1" / "trial_T1"
    bad.mkdir(parents=True)
    (bad / "game.tw-pddl").write_text("{ this is not json")
    report = _run(
        tmp_path,
        "bad",
        "--env",
        "ALFWorld-Text-v0",
        "--split",
        "valid_seen",
        "--data-dir",
        str(tmp_path / "alf"),
        "--policy",
        "oracle",
        "--num-envs",
        "1",
    )
    assert report["episodes"] == 2 and report["errors"] == 1 and report["success_rate"] == 0.5
    (err,) = report["error_episodes"]
    assert "Broken" in err["episode_id"] and "game.tw-pddl" in err["error"]
    assert "could not play" in (tmp_path / "bad.md").read_text()


def test_resumed_report_totals_cover_every_episode(tmp_path):
    from tests.test_rollout import PromptFunctionPolicy
    from trainers.evaluation import evaluate_policy

    prompt = PromptConfig(history_window=1)
    straight = evaluate_policy(
        PromptFunctionPolicy(), TOY, prompt=prompt, num_envs=2, out=tmp_path / "a.json", progress=False
    )
    kill_after = straight["this_run"]["llm_calls"] * 2 // 3
    with pytest.raises(KeyboardInterrupt):
        evaluate_policy(
            PromptFunctionPolicy(kill_after=kill_after),
            TOY,
            prompt=prompt,
            num_envs=2,
            out=tmp_path / "b.json",
            progress=False,
        )
    assert (tmp_path / "b.trajectories.jsonl").read_text().strip()  # some episodes finished before the kill
    resumed = evaluate_policy(
        PromptFunctionPolicy(), TOY, prompt=prompt, num_envs=2, out=tmp_path / "b.json", progress=False
    )
    for key in ("episodes", "generated_tokens", "env_steps", "success_rate", "avg_reward", "invalid_action_rate"):
        assert resumed[key] == straight[key], key
    assert resumed["this_run"]["generated_tokens"] < straight["generated_tokens"]


def test_report_names_dtype_sql_backend_prompt_and_stops(tmp_path):
    import gymnasium as gym

    report = _run(tmp_path, "sql", "--env", "InterCodeSQL-v0", "--policy", "oracle", "--episodes", "2")
    env = gym.make("InterCodeSQL-v0")
    assert report["sql_backend"] == env.unwrapped.backend_name  # what auto actually picked
    env.close()
    assert report["prompt_variant"] == "sql v2, Thought/Action, zero-shot, history 4"
    assert report["params"]["stop"] == ["\nObservation", "\nThought:"]
    md = (tmp_path / "sql.md").read_text()
    assert f"SQL backend: {report['sql_backend']}" in md and "Prompt: sql v2" in md
    own = _run(tmp_path, "stop", "--env", TOY, "--policy", "oracle", "--stop", "\\nEND", "Obs:")
    assert own["params"]["stop"] == ["\nEND", "Obs:"] and own["sql_backend"] is None
    assert _run(tmp_path, "nostop", "--env", TOY, "--policy", "oracle", "--no-stop")["params"]["stop"] == []


def test_one_shot_never_comes_from_the_evaluated_tasks(tmp_path):
    ws = _run(tmp_path, "ws1", "--env", "WebShop-Text-v0", "--policy", "oracle", "--episodes", "2", "--one-shot")
    assert ws["one_shot_source"]["split"] == "train" and not ws["one_shot_source"]["same_split"]
    assert "One-shot example: task" in (tmp_path / "ws1.md").read_text()
    # InterCode-SQL has one split: the example is a task of it that is not evaluated
    sql = _run(tmp_path, "sql1", "--env", "InterCodeSQL-v0", "--policy", "oracle", "--task-ids", "0", "1", "--one-shot")
    src = sql["one_shot_source"]
    assert src["same_split"] and src["task_id"] not in ("0", "1")
    assert (
        main(
            [
                "--env",
                "InterCodeSQL-v0",
                "--policy",
                "oracle",
                "--task-ids",
                "0",
                "--one-shot",
                "--one-shot-task",
                "0",
                "--out",
                str(tmp_path / "c.json"),
                "--quiet",
            ]
        )
        == 2
    )


def test_wilson_interval_matches_known_values():
    from trainers.evaluation import wilson_interval

    lo, hi = wilson_interval(20, 200)  # 10 % of 200, by hand: centre 0.10754, half-width 0.04187
    assert lo == pytest.approx(0.06567, abs=1e-4) and hi == pytest.approx(0.14941, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_paired_comparison_counts_discordant_tasks_and_tests_them_exactly():
    from trainers.evaluation import paired_comparison

    a = [True] * 10 + [False] * 190
    b = [True] * 6 + [False] * 4 + [True] * 14 + [False] * 176  # 4 tasks lost, 14 won
    c = paired_comparison(a, b)
    assert (c["tasks"], c["b_only"], c["a_only"]) == (200, 14, 4)
    assert c["diff"] == pytest.approx(0.05)
    # exact two-sided McNemar: 2 * P(X <= 4), X ~ Binomial(18, 1/2)
    assert c["mcnemar_p"] == pytest.approx(2 * sum(math.comb(18, i) for i in range(5)) / 2**18)
    lo, hi = c["diff_ci95"]
    assert lo < 0.05 < hi and lo > 0.0  # 10 net wins of 200 are a significant paired difference
    assert paired_comparison(a, a)["mcnemar_p"] == 1.0 and paired_comparison(a, a)["diff_ci95"] == (0.0, 0.0)
    assert paired_comparison(b, a)["diff"] == pytest.approx(-0.05)
    with pytest.raises(ValueError, match="same tasks"):
        paired_comparison(a, b[:-1])
