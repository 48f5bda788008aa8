"""The fast ALFWorld engine equals the stock textworld engine, and fails cleanly on bad games."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

pytest.importorskip("textworld")
pytest.importorskip("fast_downward")

from agent_gym.alfworld import engine as E  # noqa: E402
from agent_gym.alfworld.data import TASK_TYPES as E_TASK_TYPES  # noqa: E402
from agent_gym.errors import GameLoadError  # noqa: E402

# A kitchen (slow on stock: few steps), a bedroom with a lamp, and a pick-two game
# played with the old ``put X in/on Y`` grammar to cover both wordings.
WALK_GAMES = (
    ("pick_clean_then_place_in_recep", 0, False, 10),
    ("look_at_obj_in_light", 3, False, 14),
    ("pick_two_obj_and_place", 0, True, 14),
)


def _games(root: Path, prefix: str) -> list[Path]:
    return sorted((root / "json_2.1.1" / "valid_seen").glob(f"{prefix}-*/*/game.tw-pddl"))


def old_grammar(game: dict) -> dict:
    """The same game worded like older releases: ``put X in/on Y``."""
    grammar = game["grammar"]
    assert 'template :: "move {o} to {r}";' in grammar
    grammar = grammar.replace('template :: "move {o} to {r}";', 'template :: "put {o} in/on {r}";')
    grammar = grammar.replace("You move the {o.name} to the {r.name}.", "You put the {o.name} in/on the {r.name}.")
    return dict(game, grammar=grammar)


def _stock_env(game_file: Path):
    """textworld's PddlEnv + alfworld's AlfredDemangler, as alfworld 0.4.2 plays games."""
    import textworld
    from textworld.envs.pddl import PddlEnv

    saved = os.environ.get("ALFWORLD_DATA")
    try:  # importing alfworld rewrites ALFWORLD_DATA; keep the test process clean
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    finally:
        if saved is None:
            os.environ.pop("ALFWORLD_DATA", None)
        else:
            os.environ["ALFWORLD_DATA"] = saved
    env = AlfredDemangler()(PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True)))
    env.load(str(game_file))
    return env


@pytest.mark.parametrize("prefix,index,old,steps", WALK_GAMES)
def test_fast_engine_equals_stock_on_random_walks(alfworld_data_root, tmp_path, prefix, index, old, steps):
    _compare_with_stock(alfworld_data_root, tmp_path, prefix, index, old, steps)


@pytest.mark.slow
@pytest.mark.parametrize("prefix", sorted(E_TASK_TYPES))
def test_fast_engine_equals_stock_longer_walks(alfworld_data_root, tmp_path, prefix):
    """Longer walks on one more game of every task type (~15-30 s each: the stock engine is slow)."""
    _compare_with_stock(alfworld_data_root, tmp_path, prefix, -1, prefix.startswith("pick_and"), 30)


def _compare_with_stock(alfworld_data_root, tmp_path, prefix, index, old, steps):
    src = _games(alfworld_data_root, prefix)[index]
    game_file = src
    if old:
        game_file = tmp_path / "old" / "game.tw-pddl"
        game_file.parent.mkdir()
        game_file.write_text(json.dumps(old_grammar(json.loads(src.read_text()))))

    stock = _stock_env(game_file)
    engine = E.ALFWorldEngine()
    engine.load(E.compile_game(game_file))
    try:
        state = stock.reset()
        assert engine.reset() == state.feedback
        assert engine.admissible_commands == state["admissible_commands"]
        if old:
            assert engine.game.actions["putobject"][0] == "put {o} in/on {r}"
        rng = random.Random(f"{prefix}-{index}-{old}")
        saw_invalid = saw_valid = 0
        for step in range(steps):
            admissible = engine.admissible_commands
            roll = rng.random()
            if step in (2, 6) or roll < 0.1:
                command = rng.choice(["look around", "go to the moon", admissible[0] + "x", ""])
            elif roll < 0.15:
                command = f"  {rng.choice(admissible)} "  # stock strips whitespace
            else:
                command = rng.choice(admissible)
            feedback, reward, done = engine.step(command)
            state, stock_reward, stock_done = stock.step(command)
            assert feedback == state.feedback, command
            assert (reward, done, engine.won) == (stock_reward, stock_done, state["won"])
            assert engine.admissible_commands == state["admissible_commands"]
            if feedback == E.NOTHING_HAPPENS:
                assert not engine.last_action_valid
                saw_invalid += 1
            else:
                assert engine.last_action_valid
                saw_valid += 1
            if done:
                break
        assert saw_valid > 5 and saw_invalid >= 2
    finally:
        engine.close()
        stock.close()


def test_engine_snapshot_restore_and_reset(alfworld_data_root):
    game = E.compile_game(_games(alfworld_data_root, "pick_cool_then_place_in_recep")[0])
    engine = E.ALFWorldEngine()
    engine.load(game)
    intro = engine.reset()
    rng = random.Random(0)
    for _ in range(4):
        engine.step(rng.choice(engine.admissible_commands))
    snap = engine.snapshot()
    plan = [rng.random() for _ in range(12)]

    def rollout():
        out = []
        for r in plan:
            adm = engine.admissible_commands
            out.append((engine.step(adm[int(r * len(adm))]), tuple(adm)))
        return out

    first = rollout()
    engine.restore(snap)
    assert rollout() == first
    # after a reset (and after loading another game) the snapshot still restores exactly
    assert engine.reset() == intro
    other = E.compile_game(_games(alfworld_data_root, "pick_and_place_simple")[0])
    engine.load(other)
    engine.reset()
    engine.restore(snap)
    assert rollout() == first
    engine.close()


def _alfworld_demangler():
    saved = os.environ.get("ALFWORLD_DATA")
    try:
        from alfworld.agents.utils.misc import Demangler
    finally:
        if saved is None:
            os.environ.pop("ALFWORLD_DATA", None)
        else:
            os.environ["ALFWORLD_DATA"] = saved
    return Demangler


def test_demangled_names_equal_alfworld_demangler(alfworld_data_root):
    from textworld.generator.game import EntityInfo

    game = E.compile_game(_games(alfworld_data_root, "pick_clean_then_place_in_recep")[0])
    engine = E.ALFWorldEngine()
    engine.load(game)
    engine.close()
    ids = sorted(game.entity_infos) + ["Drawer_bar__plus_01_dot_00", "Drawer_bar__plus_00_dot_50", "Lamp"]
    infos = {i: EntityInfo(i, "t") for i in ids}
    demangler = _alfworld_demangler()(game_infos=infos, shuffle=False)
    ours = E.demangle_names(ids)
    assert ours == {i: demangler.demangle_alfred_name(i) for i in ids}
    assert ours["Drawer_bar__plus_00_dot_50"] == "Drawer 2" and ours["Lamp"] == "Lamp "
    assert any(name.startswith("sinkbasin ") for name in ours.values())


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name / "game.tw-pddl"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    return path


def test_malformed_games_raise_game_load_error_naming_the_file(alfworld_data_root, tmp_path):
    real = json.loads(_games(alfworld_data_root, "pick_and_place_simple")[0].read_text())
    cases = {
        "not_json": "{ this is not json",
        "missing_keys": json.dumps({"grammar": real["grammar"]}),
        # a name declared twice makes fast-downward's translator call sys.exit
        "translator_exit": json.dumps(
            dict(
                real,
                pddl_problem=real["pddl_problem"].replace(
                    "(:objects", "(:objects\nFloorLamp - object\nFloorLamp - receptacle", 1
                ),
            )
        ),
        "truncated_pddl": json.dumps(dict(real, pddl_problem=real["pddl_problem"][:2000])),
        "bad_grammar": json.dumps(dict(real, grammar="action Nope {")),
    }
    for name, content in cases.items():
        path = _write(tmp_path, name, content)
        with pytest.raises(GameLoadError) as err:
            E.compile_game(path, use_cache=False)
        assert str(path) in str(err.value), name
    with pytest.raises(GameLoadError, match="not found"):
        E.compile_game(tmp_path / "nope" / "game.tw-pddl")


def test_translation_disk_cache(alfworld_data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_GYM_CACHE", str(tmp_path / "cache"))
    real = json.loads(_games(alfworld_data_root, "look_at_obj_in_light")[0].read_text())
    first = E.load_translation(real["pddl_domain"], real["pddl_problem"])
    files = list((tmp_path / "cache").rglob("*.json.gz"))
    assert len(files) == 1
    assert E.load_translation(real["pddl_domain"], real["pddl_problem"]) == first
    files[0].write_bytes(b"garbage")  # a corrupt entry is ignored and rewritten
    assert E.load_translation(real["pddl_domain"], real["pddl_problem"]) == first
    assert E.translation_key("a", "b") != E.translation_key("a", "c")


def test_many_envs_closed_and_reopened_exit_cleanly(tmp_path):
    """More envs than the planner pool used to keep: the process must exit with 0.

    Unloading a planner library copy (dlclose) made the other copies' static destructors
    crash at interpreter exit (SIGSEGV after all work was done).
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "many_envs.py"
    script.write_text(
        "import gymnasium as gym\n"
        "import agent_gym  # noqa: F401\n"
        "for rnd in range(2):\n"
        "    envs = [gym.make('ALFWorld-Text-v0', split='valid_seen') for _ in range(12)]\n"
        "    for i, e in enumerate(envs):\n"
        "        e.reset(seed=i)\n"
        "        e.step('look')\n"
        "    for e in envs:\n"
        "        e.close()\n"
        "print('ok')\n"
    )
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert res.returncode == 0 and "ok" in res.stdout, (res.returncode, res.stderr[-2000:])
