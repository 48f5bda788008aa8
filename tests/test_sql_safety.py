"""Hostile agent input: every statement gets a clear observation within the time limit and the data never changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent_gym.errors import BackendUnavailableError
from agent_gym.sql.env import InterCodeSQLEnv
from agent_gym.sql.server import mariadb_available
from agent_gym.sql.tasks import ASSETS_DIR
from tests.markers import SQL_BACKENDS, mariadb_missing

TIMEOUT_S = 1.0
BACKENDS = SQL_BACKENDS

CROSS = "SELECT count(*) FROM loan a, loan b, loan c, loan d, loan e, loan f, loan g, loan h, loan i"
HOSTILE = [
    "DROP TABLE book",
    "DROP DATABASE library",
    "DELETE FROM book",
    "UPDATE book SET price = 0",
    "INSERT INTO book VALUES (99, 'x', 1, 'x', 1, 1, 1)",
    "REPLACE INTO member VALUES (1, 'x', 'x', 1)",
    "TRUNCATE TABLE loan",
    "ALTER TABLE book ADD COLUMN evil int",
    "CREATE TABLE evil (x int)",
    "CREATE TEMPORARY TABLE evil (x int)",
    "CREATE VIEW evil AS SELECT 1",
    "RENAME TABLE book TO gone",
    "GRANT ALL PRIVILEGES ON *.* TO CURRENT_USER",
    "CREATE USER 'evil'@'%' IDENTIFIED BY 'x'",
    "SELECT SLEEP(100)",
    "SELECT BENCHMARK(10000000000, MD5('x'))",
    CROSS,
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    "SELECT 1; DROP TABLE book",
    "SELECT 1;DELETE FROM book;",
    "SET SESSION max_statement_time = 0",
    "SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(100)",
    "/*!100000 SET STATEMENT max_statement_time=0 FOR */ SELECT SLEEP(100)",
    "SET SESSION sql_select_limit = 1",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM book INTO OUTFILE '/tmp/agent_gym_evil.txt'",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE book",
    "ATTACH DATABASE '/tmp/agent_gym_evil.db' AS evil",
    "PRAGMA writable_schema = 1",
    "SELECT load_extension('/tmp/evil.so')",
    "LOCK TABLES book WRITE",
    "FLUSH TABLES",
    "SHUTDOWN",
    "KILL CONNECTION_ID()",
    "SELECT REPEAT('a', 100000000)",
    "SELECT * FROM mysql.user",
    "SELECT " + "1+" * 15000 + "1",
    "SELECT '" + "\x00\x01\x02\xff" * 10 + "'",
    "SELECT '\udcff\udc80'",
    bytes(range(1, 256)).decode("latin-1"),
    "",
    "   ",
]


def _fingerprint(env) -> str:
    """Hash of every row of every table of the embedded databases, read on the env's trusted path."""
    h = hashlib.sha256()
    for db in ("library", "school", "shop"):
        for table in env.backend.table_names(db):
            res = env.backend.run_gold(db, f"SELECT * FROM {table}")
            assert res.error is None, res.error
            h.update(repr(sorted(map(repr, res.rows))).encode())
    return h.hexdigest()


@pytest.fixture(scope="module", params=BACKENDS)
def env(request):
    e = InterCodeSQLEnv(backend=request.param, statement_timeout_s=TIMEOUT_S)
    yield e
    e.close()


def test_hostile_corpus(env):
    before = _fingerprint(env)
    env.reset(options={"task_id": 0})
    for text in HOSTILE:
        start = time.monotonic()
        obs, reward, term, trunc, info = env.step(text)
        elapsed = time.monotonic() - start
        assert isinstance(obs, str) and obs, text
        assert elapsed < TIMEOUT_S + 2.5, f"{text[:60]!r} took {elapsed:.1f} s"
        assert "root:" not in obs  # no file contents leak
        if trunc:
            env.reset(options={"task_id": 0})
        # the session still works after each hostile statement
        env.reset(options={"task_id": 0})
        assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]", text
        env.reset(options={"task_id": 0})
    assert _fingerprint(env) == before
    assert not Path("/tmp/agent_gym_evil.txt").exists() and not Path("/tmp/agent_gym_evil.db").exists()


def test_clear_messages_for_the_classics(env):
    env.reset(options={"task_id": 0})
    obs = env.step("DROP TABLE book")[0]
    assert obs.startswith("Error executing query:") and ("denied" in obs or "read-only" in obs)
    obs = env.step("SELECT 1; DROP TABLE book")[0]
    assert "only one SQL statement per step" in obs
    start = time.monotonic()
    obs = env.step(CROSS)[0]
    assert time.monotonic() - start < TIMEOUT_S + 2.0
    assert "max_statement_time exceeded" in obs or "interrupted" in obs.lower()
    obs = env.step("SET SESSION max_statement_time = 0")[0]
    assert "time limit is not allowed" in obs


def test_row_cap_keeps_results_small():
    env = InterCodeSQLEnv(backend="sqlite", max_rows=50)
    env.reset(options={"task_id": 0})
    obs, *_, info = env.step("SELECT a.loan_id, b.loan_id FROM loan a, loan b")  # 196 rows
    assert info["truncated"] and "only the first 50 rows were kept" in obs
    assert len(env._last_result.rows) == 50
    env.close()


@pytest.mark.mariadb
@mariadb_missing
def test_mysql_row_cap_and_session_reset():
    env = InterCodeSQLEnv(backend="mysql", max_rows=50)
    env.reset(options={"task_id": 0})
    obs, *_, info = env.step("SELECT a.loan_id, b.loan_id FROM loan a, loan b")
    assert info["truncated"] and len(env._last_result.rows) == 50
    env.step("SET @leak = 42")
    env.step("SET SESSION sql_mode = 'ONLY_FULL_GROUP_BY'")
    env.reset(options={"task_id": 0})  # user variables and session settings do not survive an episode
    assert env.step("SELECT @leak")[0] == "[(None,)]"
    assert "ONLY_FULL_GROUP_BY" not in env.step("SELECT @@sql_mode")[0]
    env.close()


@pytest.mark.mariadb
@mariadb_missing
def test_watchdog_kills_queries_the_server_does_not_stop():
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=1.0)
    env.backend.is_mariadb = False  # as on a MySQL server: no SET STATEMENT wrapper, only the watchdog
    env.reset(options={"task_id": 0})
    start = time.monotonic()
    env.step("SELECT SLEEP(30)")
    assert time.monotonic() - start < 5.0
    assert env.step("SELECT 1")[0] == "[(1,)]"
    env.close()


@pytest.mark.mariadb
@mariadb_missing
def test_dead_server_gives_a_clear_error(tmp_path):
    # a separate dump path gets its own private server, so killing it affects no other test
    env = InterCodeSQLEnv(data_dir=_copy_assets(tmp_path), backend="mysql")
    env.reset(options={"task_id": 0})
    server = env.backend._server
    scratch = Path(server.scratch)
    server.process.kill()
    server.process.wait()
    with pytest.raises(BackendUnavailableError, match="cannot reach the private MariaDB server"):
        env.step("SELECT 1")
    env.close()
    assert not scratch.exists()


@pytest.mark.mariadb
@mariadb_missing
def test_server_is_stopped_on_close_and_when_the_process_dies(tmp_path):
    data = _copy_assets(tmp_path)  # its own server: other tests' envs hold the shared one
    env = InterCodeSQLEnv(backend="mysql", data_dir=data)
    env2 = InterCodeSQLEnv(backend="mysql", data_dir=data)
    server = env.backend._server
    assert env2.backend._server is server  # one shared server per process and dump
    env.close()
    assert server.alive()
    env2.close()
    assert not server.alive() and not Path(server.scratch).exists()
    # a process killed without any cleanup: the reaper stops its server
    code = (
        "import os, sys; sys.path.insert(0, os.getcwd())\n"
        "from agent_gym.sql.env import InterCodeSQLEnv\n"
        "e = InterCodeSQLEnv(backend='mysql'); s = e.backend._server\n"
        "print(s.process.pid, s.scratch, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120).stdout
    pid, scratch = out.split()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (_alive(int(pid)) or Path(scratch).exists()):
        time.sleep(0.1)
    assert not _alive(int(pid)) and not Path(scratch).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_external_server_connection():
    if not mariadb_available():
        pytest.skip("mariadbd not installed")
    owner = InterCodeSQLEnv(backend="mysql")
    s = owner.backend._server
    env = InterCodeSQLEnv(
        host="127.0.0.1",
        port=s.port,
        user="root",
        password=s.admin_password,
        agent_user="agent_ro",
        agent_password=s.agent_password,
    )
    assert env.backend_name == "mysql" and env.backend._server is None
    env.reset(options={"task_id": 0})
    assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    obs = env.step("DELETE FROM book")[0]
    assert "denied" in obs or "read-only" in obs
    env.close()
    assert s.alive()  # an external server is never stopped by the env
    owner.close()
    with pytest.raises(BackendUnavailableError, match="cannot reach the MySQL server at 127.0.0.1:1"):
        InterCodeSQLEnv(host="127.0.0.1", port=1, user="x", password="y")


def _copy_assets(folder: Path) -> str:
    shutil.copy(ASSETS_DIR / "tasks.json", folder / "ic_spider_dev.json")
    shutil.copy(ASSETS_DIR / "dbs.sql", folder / "ic_spider_dbs.sql")
    return str(folder)


def test_missing_server_binary_names_the_package(monkeypatch, tmp_path):
    import agent_gym.sql.server as server

    monkeypatch.setattr(server, "find_binary", lambda *names: None)
    with pytest.raises(BackendUnavailableError, match="apt-get install -y --no-install-recommends mariadb-server-core"):
        InterCodeSQLEnv(backend="mysql", data_dir=_copy_assets(tmp_path))
    assert not server.mariadb_available()
    env = InterCodeSQLEnv()  # auto falls back to SQLite
    assert env.backend_name == "sqlite"
    env.close()
