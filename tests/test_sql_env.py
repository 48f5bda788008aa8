"""InterCodeSQL-v0 on the embedded benchmark, on both backends (MariaDB tests skip without mariadbd)."""

from __future__ import annotations

import re

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agent_gym
from agent_gym.errors import InvalidTaskError
from agent_gym.sql.env import InterCodeSQLEnv
from agent_gym.sql.server import mariadb_available
from wrappers import restore, snapshot

BACKENDS = [
    "sqlite",
    pytest.param(
        "mysql",
        marks=[
            pytest.mark.mariadb,
            pytest.mark.skipif(
                not mariadb_available(), reason="mariadbd not installed (apt-get install mariadb-server-core)"
            ),
        ],
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def env(request):
    e = InterCodeSQLEnv(backend=request.param, expert=True, statement_timeout_s=2.0)
    yield e
    e.close()


def _task(env, db, needle):
    return next(t for t in env.tasks if t.db == db and needle in t.question)


def test_check_env(env):
    check_env(env, skip_render_check=True)


def test_reset_info_and_ids(env):
    assert env.task_ids[:3] == ["0", "1", "2"]
    obs, info = env.reset(options={"task_id": 1})
    assert obs == f"{env.tasks[1].question}\nDatabase: {env.tasks[1].db}"
    for key in agent_gym.COMMON_INFO_KEYS:
        assert key in info
    assert info["task_id"] == "1" and info["task_type"] == env.tasks[1].hardness
    assert info["db"] == env.tasks[1].db and info["expert_action"] == env.tasks[1].gold
    with pytest.raises(InvalidTaskError):
        env.reset(options={"task_id": "999"})


def test_expert_solves_every_embedded_task(env):
    for tid in env.task_ids:
        _, info = env.reset(options={"task_id": tid})
        steps = 0
        done = False
        while not done:
            _, reward, term, trunc, info = env.step(info["expert_action"])
            steps += 1
            done = term or trunc
        assert (reward, info["success"], steps) == (1.0, True, 2), tid


def test_observations_and_scoring(env):
    task = _task(env, "library", "poetry books")
    env.reset(options={"task_id": task.task_id})
    obs, r, term, trunc, info = env.step("SHOW TABLES")
    assert obs == "[('author',), ('book',), ('loan',), ('member',)]" and info["action_valid"]
    obs, *_, info = env.step("SELECT titel FROM book")
    assert obs.startswith("Error executing query: ") and not info["action_valid"]
    obs, *_ = env.step("DESC book")
    assert "('title'," in obs and "('book_id', 'int(11)'" in obs
    obs, *_ = env.step("select TITLE from BOOK where GENRE = 'POETRY'")  # case-insensitive, like MySQL
    assert obs == "[('Salt and Smoke',), ('Cedar Letters',)]"
    obs, r, term, trunc, info = env.step("submit")
    assert (r, term, trunc, info["success"]) == (1.0, True, False, True)
    assert info["reward_components"]["iou"] == 1.0


def test_partial_answer_and_reordered_answer(env):
    task = _task(env, "library", "born before 1970")  # ORDER BY birth_year: Dana, Ada, Farid
    env.reset(options={"task_id": task.task_id})
    env.step("SELECT name FROM author WHERE birth_year < 1965 ORDER BY birth_year")  # Dana, Ada: 2 of 3, same order
    _, r, *_, info = env.step("submit")
    assert r == pytest.approx(0.67) and info["reward_components"]["iou"] == pytest.approx(2 / 3)
    env.reset(options={"task_id": task.task_id})
    env.step("SELECT name FROM author WHERE birth_year < 1970 ORDER BY birth_year DESC")
    _, r, *_, info = env.step("submit")
    # InterCode's tau compares the rows' lexicographic ranks position by position
    # (kendalltau on the row strings), so a reversed answer is not simply tau = -1
    assert info["reward_components"]["kendall_tau"] == pytest.approx(1 / 3) and r == 0.33


def test_skip_error_submit_and_truncation(env):
    env.reset(options={"task_id": 0})
    _, r, term, *_ = env.step("skip")
    assert (r, term) == (0.0, True)
    env.reset(options={"task_id": 0})
    env.step("SELECT nonsense")
    _, r, term, _, info = env.step("submit")
    assert (r, term, info["success"]) == (0.0, True, False)
    env.reset(options={"task_id": 0})
    flags = [env.step("SELECT 1")[3] for _ in range(env.max_episode_steps)]
    assert flags == [False] * (env.max_episode_steps - 1) + [True]


def test_multi_statement_is_explained(env):
    env.reset(options={"task_id": 0})
    obs, *_, info = env.step("SELECT 1; SELECT 2")
    assert "only one SQL statement per step" in obs and not info["action_valid"]
    obs, *_ = env.step("SELECT count(*) FROM book;")  # one trailing ';' is fine
    assert obs == "[(12,)]"


def test_use_switches_database_and_reset_restores_it(env):
    env.reset(options={"task_id": 0})  # library
    env.step("USE school")
    obs, *_, info = env.step("SELECT count(*) FROM student")
    assert obs == "[(8,)]" and info["db"] == "school"
    _, info = env.reset(options={"task_id": 0})
    obs, *_ = env.step("SELECT count(*) FROM book")
    assert obs == "[(12,)]"


def test_snapshot_restore(env):
    task = _task(env, "shop", "home category")
    env.reset(options={"task_id": task.task_id})
    env.step("SELECT name FROM product WHERE category = 'home'")
    state = snapshot(env)
    env.step("SELECT 1")
    env.step("USE school")
    obs = restore(env, state)
    assert "Desk Lamp" in obs and env.elapsed_steps == 1
    obs2, *_ = env.step("SELECT count(*) FROM product")  # back on the shop database
    assert obs2 == "[(8,)]"
    restore(env, state)
    _, r, *_ = env.step("submit")
    assert r == 1.0


def test_gym_make_and_vector_env():
    env = gym.make("InterCodeSQL-v0", backend="sqlite", max_episode_steps=3)
    obs, info = env.reset(seed=0)
    assert isinstance(obs, str) and info["task_id"] in env.unwrapped.task_ids
    env.close()
    envs = gym.make_vec("InterCodeSQL-v0", num_envs=2, vectorization_mode="sync", backend="sqlite")
    _, infos = envs.reset(options={"task_id": 2})
    assert list(infos["task_id"]) == ["2", "2"]
    envs.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="backend must be one of"):
        InterCodeSQLEnv(backend="postgres")
    with pytest.raises(agent_gym.DataNotFoundError, match="scripts.prepare intercode"):
        InterCodeSQLEnv(data_dir="/nonexistent/intercode", backend="sqlite")
    pytest.importorskip("mysql.connector")
    with pytest.raises(ValueError, match="port must be an integer"):
        InterCodeSQLEnv(backend="mysql", host="127.0.0.1", port="abc", user="u")


@pytest.mark.parametrize("backend", BACKENDS)
def test_broken_dump_is_reported(tmp_path, backend):
    from agent_gym.errors import GameLoadError
    from agent_gym.sql.tasks import ASSETS_DIR

    (tmp_path / "ic_spider_dev.json").write_text((ASSETS_DIR / "tasks.json").read_text())
    dump = (ASSETS_DIR / "dbs.sql").read_text() + f"\n-- {tmp_path}\nINSERT INTO `orders` VALUES (1,2;\n"
    (tmp_path / "ic_spider_dbs.sql").write_text(dump)
    with pytest.raises(GameLoadError, match="ic_spider_dbs.sql"):
        InterCodeSQLEnv(data_dir=str(tmp_path), backend=backend)


def test_sqlite_emulates_mysql_commands():
    env = InterCodeSQLEnv(backend="sqlite")
    env.reset(options={"task_id": 0})  # library
    assert env.step("SHOW DATABASES")[0] == "[('information_schema',), ('library',), ('school',), ('shop',)]"
    assert env.step("SELECT DATABASE()")[0] == "[('library',)]"
    assert env.step("SHOW COLUMNS FROM book FROM library")[0].startswith(
        "[('book_id', 'int(11)', 'NO', 'PRI', None, '')"
    )
    assert env.step("SHOW CREATE TABLE member")[0].startswith("[('member', 'CREATE TABLE")
    assert env.step("SELECT count(*) FROM `library`.`book`")[0] == "[(12,)]"
    assert env.step("SELECT YEAR('2020-03-04'), MONTH('2020-03-04'), CONCAT('a', 'b')")[0] == "[(2020, 3, 'ab')]"
    assert env.step("SHOW TABLES FROM nowhere")[0] == "Error executing query: Unknown database 'nowhere'"
    assert "doesn't exist" in env.step("DESC nothing")[0]
    env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_schema_expert_looks_at_the_tables_the_gold_query_uses(backend):
    env = InterCodeSQLEnv(backend=backend, expert=True, expert_style="schema", statement_timeout_s=2.0)
    try:
        for tid in env.task_ids:
            _, info = env.reset(options={"task_id": tid})
            actions, done = [], False
            while not done:
                actions.append(info["expert_action"])
                _, reward, term, trunc, info = env.step(actions[-1])
                done = term or trunc
            gold = env.task.gold
            assert reward == 1.0, tid
            assert actions[0] == "SHOW TABLES" and actions[-2:] == [gold, "submit"], actions
            described = actions[1:-2]
            assert described and all(a.startswith("DESCRIBE ") for a in described), actions
            for a in described:  # only tables the gold query names, each once
                assert re.search(rf"\b{re.escape(a.split()[1])}\b", gold, re.IGNORECASE), (a, gold)
            assert len(set(described)) == len(described)
        # off the expert's path (an agent's own query) the plan goes on where it was; branching keeps it
        task = _task(env, "shop", "home category")
        _, info = env.reset(options={"task_id": task.task_id})
        _, *_, info = env.step("show tables;")
        assert info["expert_action"] == "DESCRIBE product"
        _, *_, info = env.step("SELECT 1")
        assert info["expert_action"] == "DESCRIBE product"
        state = snapshot(env)
        _, *_, info = env.step("DESCRIBE product")
        assert info["expert_action"] == task.gold
        restore(env, state)
        _, *_, info = env.step("SELECT 2")
        assert info["expert_action"] == "DESCRIBE product"
    finally:
        env.close()
    with pytest.raises(ValueError, match="expert_style must be one of"):
        InterCodeSQLEnv(backend="sqlite", expert=True, expert_style="teacher")
