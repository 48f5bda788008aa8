"""The ALFWorld oracle expert: goal reading, naming, and wins on the real valid_seen games.

Cost notes (2-core machine): loading a game costs seconds on a cold cache (PDDL
translation), on the stock engine and on the fast env alike. The default run
therefore plays 6 real games through ``gym.make`` (fast env; the env's own tests
play 12 others and, slow, all 140), two real games on the stock engine (one in
the old ``put X in/on Y`` grammar), and plans all 140 games on the fact-level
model (fast, no engine), also from random mid-episode states. All 140 games on
the stock engine is a ``slow`` test.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest

pytest.importorskip("textworld")
pytest.importorskip("alfworld")

from agent_gym.alfworld.facts import parse_problem_facts  # noqa: E402
from agent_gym.alfworld.gen_grammar import to_put_grammar  # noqa: E402
from agent_gym.alfworld.gen_simulate import ActionFailed, FactWorld, goal_holds  # noqa: E402
from agent_gym.alfworld.gen_stock import StockGame, play_oracle_stock  # noqa: E402
from agent_gym.alfworld.oracle import (  # noqa: E402
    TASK_TYPES,
    ALFWorldOracle,
    OracleGoalError,
    entity_names,
    parse_goal,
)


def _games(root: Path) -> list[Path]:
    games = sorted((root / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))
    assert len(games) == 140, f"expected the 140 valid_seen games, found {len(games)}"
    return games


def _one_per_type(games: list[Path], offset: int = 0) -> list[Path]:
    picked = []
    for ttype in TASK_TYPES:
        of_type = [g for g in games if g.parts[-3].startswith(ttype + "-")]
        picked.append(of_type[(offset * 7) % len(of_type)])
    return picked


def test_goal_type_matches_folder_for_all_real_games(alfworld_data_root):
    for path in _games(alfworld_data_root):
        game = json.loads(path.read_text())
        goal = parse_goal(game["pddl_problem"])
        folder = path.parts[-3]
        assert folder.startswith(goal.task_type + "-"), (folder, goal)
        obj = folder.split("-")[1]
        assert goal.object_type == f"{obj}Type", (folder, goal)


def test_oracle_plans_every_real_game_on_fact_model(alfworld_data_root):
    """All 140 games: the oracle's plan reaches the PDDL goal within 30 steps (fact-level model)."""
    for path in _games(alfworld_data_root):
        game = json.loads(path.read_text())
        oracle = ALFWorldOracle(game)
        world = FactWorld(parse_problem_facts(game["pddl_problem"]))
        assert not goal_holds(game["pddl_problem"], world.facts)
        for _ in range(30):
            step = oracle.plan_kind(world.facts)
            assert step is not None, path
            world.apply(*step)
            if goal_holds(game["pddl_problem"], world.facts):
                break
        else:
            pytest.fail(f"oracle did not reach the goal of {path} in 30 steps")
        assert oracle.plan_kind(world.facts) is None  # goal reached: nothing left to do


def _random_fact_step(world: FactWorld, rng: random.Random) -> None:
    """One random legal go/open/close/take/put/heat/cool/clean on the fact model."""
    facts = world.facts
    here = next(a[1] for p, a in facts if p == "atLocation")
    recs = sorted(a[0] for p, a in facts if p == "receptacleAtLocation")
    at_here = sorted(a[0] for p, a in facts if p == "receptacleAtLocation" and a[1] == here)
    held = [a[1] for p, a in facts if p == "holds"]
    options = [("goto", (r,)) for r in recs]
    for r in at_here:
        if ("openable", (r,)) in facts:
            options.append(("close" if ("opened", (r,)) in facts else "open", (r,)))
        if held:
            options += [("put", (held[0], r)), ("clean", (held[0], r)), ("heat", (held[0], r)), ("cool", (held[0], r))]
        else:
            options += [("take", (o, r)) for p, (o, *rest) in facts if p == "inReceptacle" and rest == [r]]
    options.sort()  # sets iterate in a per-process order; keep the walk reproducible
    rng.shuffle(options)
    for kind, args in options:
        if kind == "close":
            if rng.random() < 0.5:
                world.facts.discard(("opened", args))
                return
            continue
        try:
            world.apply(kind, args)
            return
        except ActionFailed:
            continue


def test_oracle_finishes_from_random_states_on_fact_model(alfworld_data_root):
    """After 0-15 random legal steps (wrong objects held, receptacles opened/closed), it still
    reaches the goal in at most 20 more steps: all 140 games, two random prefixes each."""
    rng = random.Random(0)
    for path in _games(alfworld_data_root):
        game = json.loads(path.read_text())
        init = parse_problem_facts(game["pddl_problem"])
        oracle = ALFWorldOracle(game)
        for _ in range(2):
            world = FactWorld(init)
            for _ in range(rng.randint(0, 15)):
                _random_fact_step(world, rng)
            held = [a[1] for p, a in world.facts if p == "holds"]
            held_type = [a[1] for p, a in world.facts if p == "objectType" and held and a[0] == held[0]]
            if (
                held
                and held_type[0] != oracle.goal.object_type
                and not any(p == "canContain" and a[1] == held_type[0] for p, a in world.facts)
            ):
                # holding something no receptacle accepts: the engine cannot put it down either
                assert oracle.plan_kind(world.facts) is None
                continue
            for _ in range(20):
                if goal_holds(game["pddl_problem"], world.facts):
                    break
                step = oracle.plan_kind(world.facts)
                assert step is not None, path
                world.apply(*step)
            assert goal_holds(game["pddl_problem"], world.facts), path


def test_entity_names_follow_demangler_numbering():
    ids = [
        "Cabinet_bar__minus_00_dot_48_bar_x",
        "Cabinet_bar__plus_01_bar_x",
        "Sink_bar_1_bar_2",
        "Sink_bar_1_bar_2_bar_SinkBasin",
        "agent1",
    ]
    names = entity_names(ids)
    # sorted lowercase ids; the first sorted id of a class gets the highest number
    assert names["Cabinet_bar__minus_00_dot_48_bar_x"] == "cabinet 2"
    assert names["Cabinet_bar__plus_01_bar_x"] == "cabinet 1"
    assert names["Sink_bar_1_bar_2"] == "sink 1"
    assert names["Sink_bar_1_bar_2_bar_SinkBasin"] == "sinkbasin 1"


def test_bad_goal_gives_clear_error():
    with pytest.raises(OracleGoalError, match="goal"):
        ALFWorldOracle({"pddl_problem": "(define (problem x) (:domain alfred) (:init ))"})
    with pytest.raises(OracleGoalError, match="pddl_problem"):
        ALFWorldOracle({})


def _assert_no_oracle_warnings(record):
    msgs = [str(w.message) for w in record if "ALFWorldOracle" in str(w.message)]
    assert not msgs, msgs


def test_live_facts_match_problem_and_oracle_is_deterministic(alfworld_data_root):
    path = _one_per_type(_games(alfworld_data_root))[0]
    game = StockGame(path)
    game.reset()
    facts = game.facts()
    assert facts == parse_problem_facts(game.game["pddl_problem"])  # ids spelled as in the problem
    oracle = ALFWorldOracle(game.game)
    first = oracle.next_action(facts, game.admissible)
    assert first in game.admissible
    assert ALFWorldOracle(game.game).next_action(facts, list(reversed(game.admissible))) == first


def test_oracle_finishes_after_random_prefix_on_fast_env(alfworld_data_root):
    """From states reached by random admissible commands (maybe holding the wrong thing), the
    env's expert_action still wins (fast env, two real games)."""
    gym = _fast_env()
    sample = _one_per_type(_games(alfworld_data_root), offset=1)
    env = gym.make("ALFWorld-Text-v0", game_files=[str(sample[5]), str(sample[2])], expert=True, max_episode_steps=60)
    try:
        rng = random.Random(3)
        for task_id in env.unwrapped.task_ids:
            _, info = env.reset(options={"task_id": task_id})
            for _ in range(8):
                _, _, terminated, _, info = env.step(rng.choice(info["available_actions"]))
                assert not terminated or info["success"]
                if terminated:
                    break
            done = terminated
            while not done:
                assert info["expert_action"] in info["available_actions"]
                _, _, terminated, truncated, info = env.step(info["expert_action"])
                done = terminated or truncated
            assert info["success"], task_id
    finally:
        env.close()


def test_oracle_wins_old_put_grammar(alfworld_data_root):
    games = _games(alfworld_data_root)
    puts = 0
    for path in [_one_per_type(games, offset=2)[0]]:  # a pick_and_place_simple game
        game = to_put_grammar(json.loads(path.read_text()))
        run = play_oracle_stock(game, max_steps=30)
        assert run.won, (path, run.actions)
        assert not any(a.startswith("move ") for a in run.actions), run.actions
        puts += sum(a.startswith("put ") and " in/on " in a for a in run.actions)
    assert puts >= 1


@pytest.mark.extended
def test_oracle_wins_all_140_on_stock_engine(alfworld_data_root):
    """All 140 valid_seen games on the stock engine (~6 s each; ~15 min)."""
    failures = []
    for path in _games(alfworld_data_root):
        run = play_oracle_stock(path, max_steps=30)
        if not run.won:
            failures.append((str(path), run.actions))
    assert not failures, failures


def _fast_env():
    # only the missing third-party planner skips; an import error inside agent_gym fails the test
    pytest.importorskip("fast_downward", reason="fast_downward is not installed (pip install 'agent-gym[alfworld]')")
    import gymnasium as gym

    import agent_gym  # noqa: F401  (registers the ids)
    from agent_gym.alfworld import env as env_module  # noqa: F401

    return gym


def _play_expert(alfworld_data_root, pick):
    gym = _fast_env()
    env = gym.make("ALFWorld-Text-v0", data_dir=str(alfworld_data_root), split="valid_seen", expert=True)
    try:
        ids = list(env.unwrapped.task_ids)
        assert len(ids) == 140
        failures = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for task_id in pick(ids):
                _, info = env.reset(options={"task_id": task_id})
                done, steps = False, 0
                while not done:
                    _, _, terminated, truncated, info = env.step(info["expert_action"])
                    done, steps = terminated or truncated, steps + 1
                if not info["success"] or steps > 30:
                    failures.append((task_id, steps))
        assert not failures, failures
        _assert_no_oracle_warnings(caught)
    finally:
        env.close()


def test_oracle_wins_stratified_real_games_through_gym_make(alfworld_data_root):
    """6 real games (the last of each task type) through gym.make, expert_action only.

    tests/test_alfworld_env.py plays the first and middle game of each type and
    (slow) all 140; this adds games it does not cover (~4 s each on a cold cache).
    """

    def pick(ids):
        chosen = []
        for ttype in TASK_TYPES:
            of_type = [i for i in ids if str(i).startswith(ttype + "-")]
            assert of_type, (ttype, ids[:3])
            chosen.append(of_type[-1])
        return chosen

    _play_expert(alfworld_data_root, pick)


# ---------------------------------------------------------------- observation-only oracle (expert_knowledge="observed")
def _move_target_elsewhere(game: dict, oracle: ALFWorldOracle, facts: set) -> set | None:
    """Move every goal object to another receptacle that can hold it (None when there is none)."""
    goal = oracle.goal
    otype = goal.object_type
    obj_ids = {a[0] for p, a in facts if p == "objectType" and a[1] == otype}
    homes = {a[1] for p, a in facts if p == "inReceptacle" and a[0] in obj_ids}
    rtypes = {a[0]: a[1] for p, a in facts if p == "receptacleType"}
    holders = sorted(
        r
        for r, t in rtypes.items()
        if (t, otype) in {tuple(a) for p, a in facts if p == "canContain"}
        and r not in homes
        and ("receptacleAtLocation", r) in {(p, a[0]) for p, a in facts}
    )
    if not holders:
        return None
    moved = {f for f in facts if not (f[0] == "inReceptacle" and f[1][0] in obj_ids)}
    moved |= {("inReceptacle", (o, holders[-1])) for o in obj_ids}
    return moved


def test_observed_oracle_does_not_know_hidden_objects(alfworld_data_root):
    """Moving the goal objects to other unseen receptacles changes the full oracle's first step, never the observed one's."""
    changed_full = 0
    checked = 0
    for path in _one_per_type(_games(alfworld_data_root)) + _one_per_type(_games(alfworld_data_root), 3):
        game = json.loads(path.read_text())
        oracle = ALFWorldOracle(game)
        facts = set(parse_problem_facts(game["pddl_problem"]))
        moved = _move_target_elsewhere(game, oracle, facts)
        if moved is None:
            continue
        checked += 1
        assert oracle.plan_kind(facts, seen=frozenset()) == oracle.plan_kind(moved, seen=frozenset()), path
        changed_full += oracle.plan_kind(facts) != oracle.plan_kind(moved)
    assert checked >= 8
    assert changed_full >= checked // 2  # the full-knowledge oracle does walk to the hidden objects


def _follow_expert(env, obs, info, limit=60):
    """Take ``info["expert_action"]`` until the episode ends: ``(observations, actions, last info)``."""
    observations, actions = [obs], []
    for _ in range(limit):
        actions.append(info["expert_action"])
        obs, _, terminated, truncated, info = env.step(actions[-1])
        observations.append(obs)
        if terminated or truncated:
            break
    return observations, actions, info


def _play(env, task_id, limit=60):
    return _follow_expert(env, *env.reset(options={"task_id": task_id}), limit=limit)


def test_observed_oracle_wins_real_games_and_names_only_what_it_has_seen(alfworld_data_root):
    """Two real games per type: the observation-only oracle wins; every object it takes or uses was shown before."""
    import re

    gym = _fast_env()
    env = gym.make(
        "ALFWorld-Text-v0",
        data_dir=str(alfworld_data_root),
        split="valid_seen",
        expert=True,
        expert_knowledge="observed",
        max_episode_steps=60,
    )
    full = gym.make(
        "ALFWorld-Text-v0", data_dir=str(alfworld_data_root), split="valid_seen", expert=True, max_episode_steps=60
    )
    try:
        ids = list(env.unwrapped.task_ids)
        picked = []
        for ttype in TASK_TYPES:
            of_type = [i for i in ids if i.startswith(ttype + "-")]
            picked += [of_type[0], of_type[len(of_type) // 2]]
        longer, total, total_full = 0, 0, 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for task_id in picked:
                observations, actions, info = _play(env, task_id)
                assert info["success"], (task_id, actions)
                for t, action in enumerate(actions):
                    named = re.match(r"(?:take (.+?) from .+|use (.+))$", action)
                    if named:
                        thing = named.group(1) or named.group(2)
                        assert any(thing in o for o in observations[: t + 1]), (task_id, t, action)
                _, full_actions, _ = _play(full, task_id)
                total, total_full = total + len(actions), total_full + len(full_actions)
                longer += len(actions) > len(full_actions)
        _assert_no_oracle_warnings(caught)
        assert longer >= 3 and total > total_full  # it really searches (a lucky search order can be shorter)
    finally:
        env.close()
        full.close()


def test_observed_oracle_memory_follows_snapshot_and_restore(alfworld_data_root):
    gym = _fast_env()
    env = gym.make(
        "ALFWorld-Text-v0",
        data_dir=str(alfworld_data_root),
        split="valid_seen",
        expert=True,
        expert_knowledge="observed",
        max_episode_steps=60,
    )
    try:
        task_id = next(i for i in env.unwrapped.task_ids if i.startswith("pick_and_place_simple-"))
        _, reference, _ = _play(env, task_id)
        assert len(reference) >= 4
        obs, info = env.reset(options={"task_id": task_id})
        for action in reference[:3]:
            obs, _, _, _, info = env.step(action)
        base = env.unwrapped
        snap = base.snapshot()
        seen = base.seen_receptacles
        assert seen  # the first steps went to or opened something
        _, rest, _ = _follow_expert(env, obs, info)
        other = next(i for i in base.task_ids if i != task_id)
        env.reset(options={"task_id": other})
        assert base.seen_receptacles == frozenset()
        base.restore(snap)
        assert base.seen_receptacles == seen
        assert base._expert_action() == rest[0]
        assert reference[3:] == rest
    finally:
        env.close()


def test_expert_knowledge_is_checked():
    gym = _fast_env()
    with pytest.raises(ValueError, match="expert_knowledge"):
        gym.make("ALFWorld-Text-v0", expert_knowledge="psychic")
