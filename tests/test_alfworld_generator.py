"""Offline ALFWorld game generation: format, determinism, engine wins, resumable writes."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("textworld")
pytest.importorskip("alfworld")

from agent_gym.alfworld.facts import parse_problem_facts  # noqa: E402
from agent_gym.alfworld.gen_grammar import to_put_grammar  # noqa: E402
from agent_gym.alfworld.gen_simulate import goal_holds  # noqa: E402
from agent_gym.alfworld.gen_stock import play_oracle_stock  # noqa: E402
from agent_gym.alfworld.generator import (  # noqa: E402
    DEFAULT_SPLIT_SIZES,
    GenerationError,
    ensure_generated,
    generate_game,
    generate_games,
    split_scene_pool,
)
from agent_gym.alfworld.oracle import TASK_TYPES, parse_goal  # noqa: E402

OFFICIAL_KEYS = {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"}


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_generated_game_format_and_goal(task_type):
    game = generate_game(7, task_type)
    assert OFFICIAL_KEYS <= set(game)
    assert game["solvable"] is True
    assert "UNKNOWN GOAL" not in game["grammar"]
    assert "Your task is to: " + game["agent_gym"]["task"] in game["grammar"]
    assert parse_goal(game["pddl_problem"]).task_type == task_type
    init = parse_problem_facts(game["pddl_problem"])
    assert not goal_holds(game["pddl_problem"], init)  # never solved at reset
    assert 1 <= len(game["walkthrough"]) <= 30
    # every object/receptacle id is escaped like the official files
    assert not any(c in arg for _, args in init for arg in args for c in "|.+")


def test_generation_is_deterministic_by_seed():
    a = generate_game(123, "pick_two_obj_and_place")
    b = generate_game(123, "pick_two_obj_and_place")
    c = generate_game(124, "pick_two_obj_and_place")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["pddl_problem"] != c["pddl_problem"]
    assert generate_game(5)["agent_gym"]["task_type"] == generate_game(5)["agent_gym"]["task_type"]


def test_floorplan_and_errors():
    game = generate_game(1, "pick_heat_then_place_in_recep", floorplan="FloorPlan8")
    assert game["agent_gym"]["scene"] == 8
    with pytest.raises(GenerationError, match="task_type"):
        generate_game(1, "pick_and_dance")
    with pytest.raises(GenerationError, match="FloorPlan999"):
        generate_game(1, floorplan=999)
    with pytest.raises(GenerationError, match="could not generate"):
        generate_game(1, "pick_heat_then_place_in_recep", floorplan=301)  # a bedroom has no microwave


def _won_on_stock(task_types, seed_base=1000):
    for task_type in task_types:
        game = generate_game(seed_base + TASK_TYPES.index(task_type), task_type)
        run = play_oracle_stock(game, max_steps=30)
        assert run.won, (task_type, run.actions)
        assert run.actions == game["walkthrough"], task_type
        assert run.intro.startswith("-= Welcome to TextWorld, ALFRED! =-")


def test_generated_games_won_on_stock_engine():
    """Generated games load on the unmodified engine; the oracle wins and the recorded
    walkthrough is exactly what it plays there (same names, same wording)."""
    _won_on_stock(["pick_heat_then_place_in_recep"])


@pytest.mark.slow
def test_generated_games_of_every_type_won_on_stock_engine():
    _won_on_stock(TASK_TYPES, seed_base=3000)


def test_generated_game_old_grammar_through_fast_env(tmp_path):
    """A generated game rewritten to the older ``put X in/on Y`` grammar is won by the env's expert."""
    pytest.importorskip("agent_gym.alfworld.env", reason="agent_gym.alfworld.env not in this checkout")
    import gymnasium as gym

    import agent_gym  # noqa: F401  (registers the ids)

    game = to_put_grammar(generate_game(2000, "pick_clean_then_place_in_recep"))
    path = tmp_path / "game.tw-pddl"
    path.write_text(json.dumps(game))
    env = gym.make("ALFWorld-Text-v0", game_files=[str(path)], expert=True)
    try:
        _, info = env.reset(options={"task_id": 0})
        actions = []
        done = False
        while not done:
            actions.append(info["expert_action"])
            _, _, terminated, truncated, info = env.step(actions[-1])
            done = terminated or truncated
        assert info["success"]
        assert actions == game["walkthrough"]
        assert actions[-1].startswith("put ") and " in/on " in actions[-1]
    finally:
        env.close()


def test_generate_games_layout_resume_and_atomicity(tmp_path):
    paths = generate_games(tmp_path, 12, seed=40, verify="facts", progress=False, split="train")
    assert len(paths) == 12
    types = [p.parts[-3].split("-")[0] for p in paths]
    assert sorted(types) == sorted(list(TASK_TYPES) * 2)  # balanced
    for p in paths:
        assert p.name == "game.tw-pddl"
        assert p.parent.name.startswith("trial_gen_")
        assert p.parents[2] == tmp_path / "json_2.1.1" / "train"
        assert OFFICIAL_KEYS <= set(json.loads(p.read_text()))
    assert not list(tmp_path.rglob(".tmp-*"))
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    again = generate_games(tmp_path, 12, seed=40, verify="facts", progress=False, split="train")
    assert again == paths
    assert {p: p.stat().st_mtime_ns for p in again} == mtimes  # resumed, not rewritten


def test_ensure_generated_is_cached_and_splits_are_disjoint(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_GYM_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    root = ensure_generated("valid_seen", num_games=12)
    first = time.perf_counter() - t0
    assert root == tmp_path / "alfworld-generated" / "v1" / "n12"  # non-default size: own root
    seen = sorted((root / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))
    assert len(seen) == 12
    t0 = time.perf_counter()
    assert ensure_generated("valid_seen", num_games=12) == root
    assert time.perf_counter() - t0 < max(0.5, first / 4)
    unseen = sorted(
        (ensure_generated("valid_unseen", num_games=6) / "json_2.1.1" / "valid_unseen").glob("*/*/game.tw-pddl")
    )
    assert len(unseen) == 6
    seen_trials = {p.parent.name for p in seen}
    assert not seen_trials & {p.parent.name for p in unseen}
    assert {int(p.parts[-3].rsplit("-", 1)[1]) for p in unseen} <= set(split_scene_pool("valid_unseen"))
    assert not {int(p.parts[-3].rsplit("-", 1)[1]) for p in seen} & set(split_scene_pool("valid_unseen"))
    with pytest.raises(GenerationError, match="split"):
        ensure_generated("test")
    assert DEFAULT_SPLIT_SIZES["valid_seen"] == 60 and DEFAULT_SPLIT_SIZES["train"] == 300
    default_root = ensure_generated("valid_seen")
    assert default_root == tmp_path / "alfworld-generated" / "v1"
    assert len(list((default_root / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))) == 60


def test_env_generated_games_size(tmp_path, monkeypatch):
    import gymnasium as gym

    import agent_gym  # noqa: F401

    monkeypatch.setenv("AGENT_GYM_CACHE", str(tmp_path))
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    env = gym.make("ALFWorld-Text-v0", split="valid_unseen", generated_games=12)
    try:
        ids = env.unwrapped.task_ids
        assert len(ids) == 12 and env.unwrapped.generated
        assert all(sum(i.startswith(t + "-") for i in ids) == 2 for t in TASK_TYPES)  # balanced
        obs, _ = env.reset(options={"task_id": ids[0]})
        assert "Your task is to:" in obs
    finally:
        env.close()


def test_cli(tmp_path):
    from agent_gym.alfworld.generator import main

    assert (
        main(["--out", str(tmp_path), "--num-games", "3", "--seed", "9", "--verify", "facts", "--split", "valid_seen"])
        == 0
    )
    assert len(list((tmp_path / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))) == 3


def test_generated_games_of_every_type_won_through_gym_make(tmp_path):
    """A generated game per task type loads through gym.make (fast env) and its expert wins."""
    pytest.importorskip("agent_gym.alfworld.env", reason="agent_gym.alfworld.env not in this checkout")
    import gymnasium as gym

    import agent_gym  # noqa: F401  (registers the ids)

    paths = generate_games(tmp_path, 6, seed=77, verify=True, progress=False, split="valid_seen")  # fast-env verified
    assert len(paths) == 6
    env = gym.make("ALFWorld-Text-v0", data_dir=str(tmp_path), split="valid_seen", expert=True)
    try:
        for task_id in env.unwrapped.task_ids:
            _, info = env.reset(options={"task_id": task_id})
            done = False
            while not done:
                _, _, terminated, truncated, info = env.step(info["expert_action"])
                done = terminated or truncated
            assert info["success"], task_id
    finally:
        env.close()
