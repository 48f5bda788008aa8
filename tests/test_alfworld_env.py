"""ALFWorld-Text-v0 on the official valid_seen games (../shared/data/alfworld)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("textworld")
pytest.importorskip("fast_downward")

import agent_gym  # noqa: E402,F401
from agent_gym.alfworld.data import TASK_TYPES  # noqa: E402
from agent_gym.alfworld.env import ALFWorldTextEnv  # noqa: E402
from agent_gym.errors import DataNotFoundError, GameLoadError, InvalidTaskError  # noqa: E402
from wrappers import HistoryWrapper, restore, snapshot  # noqa: E402

ENV_ID = "ALFWorld-Text-v0"
SHARED_ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alfworld" / "json_2.1.1-train.tar.xz"


@pytest.fixture(scope="module")
def env(alfworld_data_root):
    env = ALFWorldTextEnv(data_dir=alfworld_data_root, expert=True)
    yield env
    env.close()


def test_check_env_and_task_ids(alfworld_data_root):
    env = gym.make(ENV_ID, data_dir=alfworld_data_root)
    ids = env.unwrapped.task_ids
    assert len(ids) == 140 and ids == sorted(ids)
    assert ids[0].count("/") == 1 and ids[0].split("-", 1)[0] in TASK_TYPES
    # check_env resets on seeded random tasks: give it two games to keep first-play costs low
    small = ALFWorldTextEnv(game_files=[env.unwrapped.game_file(i) for i in (5, 6)], render_mode="ansi")
    check_env(small, skip_render_check=True)
    assert small.render() == small._last_obs
    small.close()
    env.close()


def test_reset_info_and_invalid_action(env):
    task = "pick_and_place_simple-Book-None-SideTable-329"
    tid = next(t for t in env.task_ids if t.startswith(task))
    obs, info = env.reset(options={"task_id": tid})
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.")
    assert "Your task is to: " in obs
    for key in agent_gym.COMMON_INFO_KEYS + ("elapsed_steps", "expert_action"):
        assert key in info
    assert info["task_id"] == tid and info["task_type"] == "pick_and_place_simple"
    assert info["available_actions"] == sorted(info["available_actions"]) and "look" in info["available_actions"]
    assert info["expert_action"] in info["available_actions"]
    before = list(info["available_actions"])
    obs, reward, terminated, truncated, info = env.step("fly to the moon")
    assert (obs, reward, terminated, truncated) == ("Nothing happens.", 0.0, False, False)
    assert info["action_valid"] is False and info["available_actions"] == before
    obs, *_, info = env.step("look")
    assert info["action_valid"] is True and obs != "Nothing happens."
    assert env.reset(options={"task_id": env.task_ids.index(tid)})[1]["task_id"] == tid
    with pytest.raises(InvalidTaskError):
        env.reset(options={"task_id": "no/such-task"})


def test_truncation_at_step_limit(alfworld_data_root):
    env = gym.make(ENV_ID, data_dir=alfworld_data_root, max_episode_steps=3)
    env.reset(options={"task_id": 5})
    flags = [env.step("look")[3] for _ in range(3)]
    assert flags == [False, False, True]
    env.close()


def _walk(env, rng, n):
    out = []
    for _ in range(n):
        adm = env.unwrapped.engine.admissible_commands
        action = rng.choice(adm) if rng.random() < 0.9 else "jump"
        obs, reward, term, trunc, info = env.step(action)
        out.append((action, obs, reward, term, trunc, tuple(info["available_actions"]), info["action_valid"]))
        if term or trunc:
            break
    return out


def test_snapshot_restore_reproducible(alfworld_data_root):
    env = HistoryWrapper(gym.make(ENV_ID, data_dir=alfworld_data_root, max_episode_steps=40), max_k=2)
    env.reset(options={"task_id": 60})
    rng = random.Random(1)
    _walk(env, rng, 3)
    early = snapshot(env)
    middle = _walk(env, random.Random(2), 10)
    late = snapshot(env)
    branch = _walk(env, random.Random(3), 12)
    # restore the later state: same future under the same actions; info as step gave it (admissible actions)
    obs, info = restore(env, late)
    assert info["available_actions"] == list(env.unwrapped.engine.admissible_commands) and info["elapsed_steps"] == 13
    assert info["context_hashes"] == env.current_context_hashes() and obs == env.observations[-1]
    assert _walk(env, random.Random(3), 12) == branch
    # restore across many steps, and across a reset into another task
    env.reset(options={"task_id": 100})
    restore(env, early)
    assert _walk(env, random.Random(2), 10) == middle
    assert env.unwrapped.elapsed_steps == 13
    restore(env, late)
    assert _walk(env, random.Random(3), 12) == branch
    # timing: restore is a state-id switch plus a copy of the Python-side facts
    state = env.unwrapped.snapshot()
    t = time.perf_counter()
    for _ in range(50):
        env.unwrapped.restore(state)
    assert (time.perf_counter() - t) / 50 < 0.01
    env.close()


def _expert_wins(alfworld_data_root, indices=None):
    pytest.importorskip("agent_gym.alfworld.oracle")
    env = gym.make(ENV_ID, data_dir=alfworld_data_root, expert=True)
    ids = env.unwrapped.task_ids
    indices = range(len(ids)) if indices is None else indices
    # first plays are dominated by PDDL translation (cached on disk): do it up front on all CPUs
    assert env.unwrapped.warm_cache([ids[i] for i in indices], progress=False) == {}
    failures = []
    for index in indices:
        obs, info = env.reset(options={"task_id": index})
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            done = terminated or truncated
        if not (info["success"] and reward == 1.0 and terminated):
            failures.append((info["task_id"], info["elapsed_steps"], obs))
    env.close()
    assert not failures, failures[:5]
    return len(indices)


@pytest.mark.slow
def test_expert_wins_all_valid_seen_games(alfworld_data_root):
    """The fact-reading oracle wins every official valid_seen game within 30 steps through gym.make.

    ~21 s with a warm translation cache; cold, add ~1.3-2.5 CPU-s of PDDL translation per game.
    """
    assert _expert_wins(alfworld_data_root) == 140


def test_expert_wins_two_games_of_each_task_type(alfworld_data_root):
    """The always-on subset of the 140-game test: two games of each of the six task types."""
    ids = ALFWorldTextEnv(data_dir=alfworld_data_root).task_ids
    picks = []
    for task_type in TASK_TYPES:
        of_type = [i for i, t in enumerate(ids) if t.startswith(task_type + "-")]
        picks += [of_type[0], of_type[len(of_type) // 2]]
    assert _expert_wins(alfworld_data_root, picks) == 12


def test_both_grammars_load_and_are_won(alfworld_data_root, tmp_path):
    pytest.importorskip("agent_gym.alfworld.oracle")
    src = sorted((alfworld_data_root / "json_2.1.1" / "valid_seen").glob("pick_and_place_simple-*/*/game.tw-pddl"))[0]
    game = json.loads(src.read_text())
    files = []
    for name, grammar in (
        ("new", game["grammar"]),
        (
            "old",
            game["grammar"]
            .replace('"move {o} to {r}"', '"put {o} in/on {r}"')
            .replace("You move the {o.name} to the {r.name}.", "You put the {o.name} in/on the {r.name}."),
        ),
    ):
        path = tmp_path / name / "pick_and_place_simple-X-None-Y-1" / "trial_0" / "game.tw-pddl"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(dict(game, grammar=grammar)))
        files.append(path)
    env = ALFWorldTextEnv(game_files=[str(f) for f in files], expert=True)
    assert len(env.task_ids) == 2 and all(t.startswith("/") for t in env.task_ids)  # same short ids -> full paths
    actions = {}
    for tid in env.task_ids:
        obs, info = env.reset(options={"task_id": tid})
        done, trace = False, []
        while not done:
            trace.append(info["expert_action"])
            obs, reward, terminated, truncated, info = env.step(info["expert_action"])
            done = terminated or truncated
        assert info["success"], (tid, trace)
        actions["old" if "/old/" in tid else "new"] = trace
    assert any(a.startswith("move ") for a in actions["new"])
    assert any(a.startswith("put ") and " in/on " in a for a in actions["old"])
    env.close()


def test_malformed_game_in_env_raises_game_load_error(alfworld_data_root, tmp_path):
    bad = tmp_path / "pick_and_place_simple-A-None-B-1" / "trial_1" / "game.tw-pddl"
    bad.parent.mkdir(parents=True)
    bad.write_text("{}")
    # a grammar that parses but cannot render the intro fails at reset, naming the file
    src = sorted((alfworld_data_root / "json_2.1.1" / "valid_seen").glob("look_at_obj_in_light-*/*/game.tw-pddl"))[0]
    game = json.loads(src.read_text())
    assert "#look.feedback#" in game["grammar"]
    unrenderable = tmp_path / "look_at_obj_in_light-A-None-B-2" / "trial_2" / "game.tw-pddl"
    unrenderable.parent.mkdir(parents=True)
    unrenderable.write_text(
        json.dumps(dict(game, grammar=game["grammar"].replace("#look.feedback#", "#no.such.rule#")))
    )
    env = ALFWorldTextEnv(game_files=[bad, unrenderable])
    with pytest.raises(GameLoadError, match=str(bad)):
        env.reset(options={"task_id": "pick_and_place_simple-A-None-B-1/trial_1"})
    with pytest.raises(GameLoadError, match=str(unrenderable)):
        env.reset(options={"task_id": "look_at_obj_in_light-A-None-B-2/trial_2"})
    env.close()


def test_dangling_game_symlink_is_a_one_line_error_when_the_env_is_built(alfworld_data_root, tmp_path):
    """Issue 14.13: a game given as a dangling symlink is named when the env is built, not left out of the split."""
    src = sorted((alfworld_data_root / "json_2.1.1" / "valid_seen").glob("look_at_obj_in_light-*/*/game.tw-pddl"))[0]
    split = tmp_path / "data" / "json_2.1.1" / "valid_seen"
    good = split / "look_at_obj_in_light-A-None-B-1" / "trial_1" / "game.tw-pddl"
    dangling = split / "look_at_obj_in_light-A-None-B-2" / "trial_2" / "game.tw-pddl"
    for path in (good, dangling):
        path.parent.mkdir(parents=True)
    good.symlink_to(src)
    dangling.symlink_to(tmp_path / "gone" / "game.tw-pddl")
    with pytest.raises(DataNotFoundError) as err:
        ALFWorldTextEnv(data_dir=tmp_path / "data")
    assert str(dangling) in str(err.value) and "dangling symlink" in str(err.value)
    assert len(str(err.value).splitlines()) == 1
    with pytest.raises(DataNotFoundError, match="dangling symlink"):
        ALFWorldTextEnv(game_files=[good, dangling])
    with pytest.raises(DataNotFoundError, match="does not exist"):
        ALFWorldTextEnv(game_files=[good, tmp_path / "missing" / "game.tw-pddl"])
    dangling.unlink()
    assert ALFWorldTextEnv(data_dir=tmp_path / "data").task_ids == ["look_at_obj_in_light-A-None-B-1/trial_1"]


def test_bad_grammar_message_is_one_line_naming_the_file(alfworld_data_root, tmp_path):
    src = sorted((alfworld_data_root / "json_2.1.1" / "valid_seen").glob("look_at_obj_in_light-*/*/game.tw-pddl"))[0]
    game = json.loads(src.read_text())
    bad = tmp_path / "look_at_obj_in_light-A-None-B-1" / "trial_1" / "game.tw-pddl"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps(dict(game, grammar=game["grammar"][:200] + " ((( garbage")))
    env = ALFWorldTextEnv(game_files=[bad])
    with pytest.raises(GameLoadError) as err:
        env.reset(options={"task_id": 0})
    env.close()
    msg = str(err.value)
    assert msg.startswith(f"cannot parse the grammar of ALFWorld game {bad}: ") and len(msg.splitlines()) == 1, msg


def test_missing_data_names_prepare_command(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="python -m scripts.prepare alfworld"):
        ALFWorldTextEnv(data_dir=tmp_path / "nothing-here")
    (tmp_path / "empty" / "json_2.1.1" / "valid_seen").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="python -m scripts.prepare alfworld"):
        ALFWorldTextEnv(data_dir=tmp_path / "empty")
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError, match="python -m scripts.prepare alfworld"):
        ALFWorldTextEnv()
    with pytest.raises(ValueError, match="split"):
        ALFWorldTextEnv(data_dir=tmp_path, split="test")


def test_env_var_and_generated_default(alfworld_data_root, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(alfworld_data_root))
    assert len(ALFWorldTextEnv().task_ids) == 140
    monkeypatch.delenv("ALFWORLD_DATA")
    import agent_gym.alfworld.generator as generator

    calls = []

    def fake_ensure_generated(split, num_games=None):
        calls.append((split, num_games))
        return alfworld_data_root

    monkeypatch.setattr(generator, "ensure_generated", fake_ensure_generated)
    env = ALFWorldTextEnv(split="valid_seen")
    assert calls == [("valid_seen", None)] and env.generated and len(env.task_ids) == 140
    ALFWorldTextEnv(split="valid_seen", generated_games=90)
    assert calls[-1] == ("valid_seen", 90)
    with pytest.raises(ValueError, match="generated_games"):
        ALFWorldTextEnv(data_dir=alfworld_data_root, generated_games=90)


def test_prepare_unpacks_archive_subset(tmp_path):
    if not SHARED_ARCHIVE.exists():
        pytest.skip(f"{SHARED_ARCHIVE} not found")
    from scripts.prepare import main

    rc = main(
        [
            "alfworld",
            "--data-dir",
            str(tmp_path),
            "--from",
            str(SHARED_ARCHIVE),
            "--splits",
            "train",
            "--include",
            "pick_cool_then_place_in_recep-Apple-None-Microwave-*",
        ]
    )
    assert rc == 0
    env = ALFWorldTextEnv(data_dir=tmp_path, split="train", expert=True)
    assert 0 < len(env.task_ids) < 20
    obs, info = env.reset(options={"task_id": 0})
    assert info["task_type"] == "pick_cool_then_place_in_recep"
    env.close()
    assert main(["alfworld", "--data-dir", str(tmp_path / "x"), "--from", str(tmp_path / "missing.zip")]) == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_with_per_env_tasks(alfworld_data_root, mode):
    from agent_gym.vector import reset_tasks

    envs = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode=mode, data_dir=str(alfworld_data_root))
    try:
        obs, infos = reset_tasks(envs, [3, 77])
        ids = [ALFWorldTextEnv(data_dir=alfworld_data_root).task_ids[i] for i in (3, 77)]
        assert list(infos["task_id"]) == ids
        assert all(o.startswith("-= Welcome to TextWorld") for o in obs)
        obs, rewards, terms, truncs, infos = envs.step(["look", "inventory"])
        assert list(infos["action_valid"]) == [True, True]
        assert "You are not carrying anything." in obs[1] or "You are carrying" in obs[1]
    finally:
        envs.close()
