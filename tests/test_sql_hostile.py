"""A hostile corpus by category, on both backends, checked against the step budget.

Categories: writes, files, privileges, settings, cross-database, resources,
multi-statements, encodings. Every statement must give an observation within
the step budget (``statement_timeout_s`` + 2 s, plus slack for a shared CI
machine), keep its result within ``max_rows`` and the size budget, leave the
env working (the next episode starts on the task's database with a pristine
session), and leave every table unchanged. Each entry also says what it must
give: ``REFUSED`` (the env refuses it before it reaches the database, with
:func:`check_statement`'s message), ``ERROR`` (the database refuses it) or
``ANY`` (it may run: harmless).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from agent_gym.sql.backends.base import MAX_RESULT_CHARS, check_statement, row_chars
from agent_gym.sql.env import InterCodeSQLEnv
from agent_gym.sql.render import ERROR_PREFIX
from tests.markers import SQL_BACKENDS, mariadb_missing
from tests.test_sql_safety import _fingerprint

TIMEOUT_S = 1.0
BUDGET_S = TIMEOUT_S + 2.0 + 1.0  # documented budget + slack for a loaded CI machine
BACKENDS = SQL_BACKENDS
REFUSED, ERROR, ANY = "refused", "error", "any"
EVIL = "/tmp/agent_gym_hostile"
X3 = "loan a, loan b, loan c"

CORPUS: dict[str, list[tuple[str, str]]] = {
    "writes": [
        ("DELETE FROM book", ERROR),
        ("UPDATE book SET price = 0", ERROR),
        ("INSERT INTO loan VALUES (99, 1, 1, 2020, 'no')", ERROR),
        ("REPLACE INTO member VALUES (1, 'x', 'x', 1)", ERROR),
        ("DROP TABLE book", ERROR),
        ("DROP DATABASE library", ERROR),
        ("TRUNCATE TABLE loan", ERROR),
        ("ALTER TABLE book ADD COLUMN evil int", ERROR),
        ("RENAME TABLE book TO gone", ERROR),
        ("CREATE TABLE evil (x int)", ERROR),
        ("CREATE TEMPORARY TABLE evil (x int)", ERROR),
        ("CREATE TABLE evil AS SELECT * FROM book", ERROR),
        ("CREATE VIEW evil AS SELECT 1", ERROR),
        ("CREATE INDEX evil ON book (price)", ERROR),
        ("CREATE TRIGGER evil BEFORE INSERT ON book FOR EACH ROW SET NEW.price = 0", ERROR),
        ("CREATE PROCEDURE evil() SELECT 1", ERROR),
        ("CREATE SEQUENCE evil", ERROR),
        ("/*!40000 DELETE FROM book */", ANY),  # MariaDB: denied; SQLite: only a comment
        ("SELECT * FROM book FOR UPDATE", ANY),
        ("OPTIMIZE TABLE book", ANY),
        ("ANALYZE TABLE book", ANY),
        ("LOCK TABLES book WRITE", ERROR),
        ("HANDLER book OPEN", ANY),
    ],
    "files": [
        ("SELECT LOAD_FILE('/etc/passwd')", ANY),
        (f"SELECT * FROM book INTO OUTFILE '{EVIL}_out.txt'", ERROR),
        (f"SELECT title FROM book LIMIT 1 INTO DUMPFILE '{EVIL}_dump.bin'", ERROR),
        ("LOAD DATA INFILE '/etc/passwd' INTO TABLE book", ERROR),
        ("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE book", ERROR),
        (f"ATTACH DATABASE '{EVIL}.db' AS evil", ERROR),
        (f"VACUUM INTO '{EVIL}_vacuum.db'", ERROR),
        ("SELECT load_extension('/tmp/evil.so')", ERROR),
        ("SELECT readfile('/etc/passwd')", ERROR),
        ("INSTALL SONAME 'ha_connect'", ERROR),
        ("PRAGMA writable_schema = 1", ERROR),
        ("SELECT * FROM pragma_database_list", ANY),
        ("BACKUP STAGE START", ERROR),
    ],
    "privileges": [
        ("SET PASSWORD = PASSWORD('x')", REFUSED),
        ("/*!SET*/ PASSWORD FOR CURRENT_USER() = PASSWORD('x')", REFUSED),
        ("ALTER USER CURRENT_USER() IDENTIFIED BY 'x'", REFUSED),
        ("GRANT ALL PRIVILEGES ON *.* TO CURRENT_USER", ERROR),
        ("CREATE USER 'evil'@'%' IDENTIFIED BY 'x'", ERROR),
        ("DROP USER agent_ro", ERROR),
        ("CREATE ROLE evil", ERROR),
        ("SET DEFAULT ROLE NONE", REFUSED),
        ("SET ROLE NONE", ANY),
        ("SET GLOBAL read_only = 0", ERROR),
        ("SET GLOBAL max_connections = 1", ANY),
        ("FLUSH PRIVILEGES", ERROR),
        ("SHUTDOWN", ERROR),
        ("KILL CONNECTION_ID()", REFUSED),
        ("KILL QUERY 1", REFUSED),
        ("XA START 'evil'", REFUSED),
        ("SELECT user, password FROM mysql.user", ERROR),
        ("SELECT * FROM mysql.global_priv", ERROR),
        ("SHOW GRANTS", ANY),
    ],
    "settings": [
        ("SET SESSION max_statement_time = 0", REFUSED),
        ("SET @@max_statement_time = 0", REFUSED),
        ("SET STATEMENT max_statement_time=0 FOR SELECT SLEEP(100)", REFUSED),
        ("SET STATEMENT sql_select_limit=DEFAULT FOR SELECT a.loan_id FROM loan a, loan b, loan c, loan d", REFUSED),
        ("/*!SET STATEMENT*/ sql_select_limit=DEFAULT FOR SELECT 1", REFUSED),
        ("/*!100000 SET STATEMENT max_statement_time=0 FOR */ SELECT SLEEP(100)", REFUSED),
        ("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", REFUSED),
        ("SET `sql_mode` = 'ANSI_QUOTES'", REFUSED),
        ("SET @@session.sql_mode = 'ORACLE'", REFUSED),
        ("SET NAMES gbk", REFUSED),
        ("SET CHARACTER SET gbk", REFUSED),
        ("SET character_set_client = 'gbk'", REFUSED),
        ("SET @names = 1, @sql_mode = 2", ANY),
        ("SET SESSION sql_select_limit = 1", ANY),
        ("SET SESSION big_tables = 0", ANY),
        ("SET SESSION tmp_disk_table_size = 1024", ANY),
        ("SET autocommit = 0", ANY),
        ("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", ANY),
        ("SET lc_messages = 'de_DE'", ANY),
        ("SET @x = REPEAT('a', 60000)", ANY),
        ("DO GET_LOCK('agent_gym', 0)", ANY),
    ],
    "cross-database": [
        ("USE school", ANY),
        ("/* c */ /*!USE*/ shop", ANY),
        ("SELECT count(*) FROM school.student", ANY),
        ("SHOW DATABASES", ANY),
        ("USE mysql", ERROR),
        ("SELECT * FROM mysql.db", ERROR),
        ("SELECT * FROM information_schema.user_privileges", ANY),
        ("SELECT table_schema, count(*) FROM information_schema.tables GROUP BY table_schema", ANY),
        ("SELECT * FROM performance_schema.threads", ANY),
        ("SHOW PROCESSLIST", ANY),
        ("SELECT name, sql FROM sqlite_master", ANY),
        ("SELECT * FROM sqlite_temp_master", ANY),
    ],
    "resources": [
        ("SELECT SLEEP(100)", ANY),
        ("SELECT BENCHMARK(10000000000, MD5('x'))", ANY),
        ("SELECT count(*) FROM loan a, loan b, loan c, loan d, loan e, loan f, loan g, loan h, loan i", ANY),
        ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", ANY),
        ("SELECT a.loan_id FROM loan a, loan b, loan c, loan d, loan e LIMIT 100000000", ANY),
        ("SELECT REPEAT('a', 100000000)", ANY),
        (f"SELECT REPEAT('a', 60000) x FROM {X3} ORDER BY x", ANY),
        ("SELECT " + ", ".join(["REPEAT('a', 65536)"] * 1000), ANY),
        (f"SELECT randomblob(1000000000) FROM {X3}", ANY),
        (f"SELECT zeroblob(60000) FROM {X3}", ANY),
        ("SELECT " + ", ".join(["randomblob(65536)"] * 1000), ANY),
        (f"SELECT hex(randomblob(30000)) FROM {X3}", ANY),
        (f"SELECT replace(replace(hex(zeroblob(30000)), '0', 'aa'), 'a', 'bb') FROM {X3}", ANY),
        (f"SELECT group_concat(hex(randomblob(1000))) FROM {X3}", ANY),
        (f"SELECT group_concat(REPEAT('a', 1000)) FROM {X3}", ANY),
        ("SELECT GET_LOCK('agent_gym_x', 100)", ANY),
        (
            "SELECT DISTINCT REPEAT(a.loan_id, 6000) x, b.loan_id, c.loan_id, d.loan_id, e.loan_id FROM loan a, loan b, loan c, loan d, loan e",
            ANY,
        ),
    ],
    "multi-statements": [
        ("SELECT 1; SELECT 2", REFUSED),
        ("SELECT 1;DELETE FROM book;", REFUSED),
        ("SELECT 1 /*! ; SELECT SLEEP(100) */", REFUSED),
        ("/*M!100000 SELECT 1; */ SELECT 2", REFUSED),
        ("BEGIN NOT ATOMIC /*! SELECT 1; SELECT 2; */ END", REFUSED),
        ("BEGIN NOT ATOMIC /*! LOOP DO SLEEP(1); END LOOP; */ END", REFUSED),
        (
            "BEGIN NOT ATOMIC DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; LOOP DO SLEEP(1); END LOOP; END",
            REFUSED,
        ),
        ("SELECT 1 /*!999999 ' */ ; SELECT SLEEP(100) -- '", REFUSED),
        ("SELECT 1 --\x0b '\n; SELECT SLEEP(100) -- '", REFUSED),
        ("SELECT 1 -- ;\n; SELECT 2", REFUSED),
        ("LOOP DO SLEEP(1); END LOOP", REFUSED),
        ("WHILE 1 DO SELECT 1; END WHILE", REFUSED),
        ("lbl: LOOP ITERATE lbl; END LOOP", REFUSED),
        ("IF 1 THEN SELECT 1; END IF", REFUSED),
        ("EXECUTE IMMEDIATE 'BEGIN NOT ATOMIC LOOP DO SLEEP(1); END LOOP; END'", REFUSED),
        ("PREPARE s FROM 'SELECT SLEEP(100)'", REFUSED),
        ("SELECT count(*) FROM book;", "ok"),
        ("SELECT count(*) FROM book ; -- trailing", "ok"),
        ("SELECT count(*) FROM book /* ; */", "ok"),
        ("SELECT count(*) FROM book WHERE title <> 'a;b'", "ok"),
        ("SELECT count(*) FROM book /*!999999 ; */", ANY),  # MariaDB: a comment; SQLite backend: refused (cannot tell)
    ],
    "encodings": [
        ("SELECT 'é', '日本', '🙂'", "ok"),
        ("SELECT N'ß', _utf8mb4'ü' COLLATE utf8mb4_bin", ANY),
        ("SELECT '\udcff\udc80'", REFUSED),
        ("SELECT '\x00'", REFUSED),
        ("SELECT '\ufeff\u202e x'", ANY),
        ("SELECT '€\\' ; SELECT SLEEP(100) -- '", ANY),  # gbk-style trick: one literal here, and SET NAMES is refused
        ("SELECT CONVERT('x' USING gbk)", ANY),
        ("SELECT x'FF', 0xC0AF, CHAR(255)", ANY),
        ("SELECT CAST(x'C0AF' AS CHAR)", ANY),
        ("SELECT `🙂` FROM book", ANY),  # MariaDB: unknown column; SQLite reads an unknown quoted name as a string
        ("SELECT '" + "🙂" * 19_990 + "'", ANY),
        ("SELECT " + "1+" * 15_000 + "1", ANY),
        ("SELECT '" + "a" * 20_000 + "'", REFUSED),
        (bytes(range(1, 256)).decode("latin-1"), ANY),
        ("", REFUSED),
        ("  -- only a comment", REFUSED),
    ],
}


@pytest.fixture(scope="module", params=BACKENDS)
def env(request):
    e = InterCodeSQLEnv(backend=request.param, statement_timeout_s=TIMEOUT_S)
    e.fingerprint = _fingerprint(e)
    yield e
    e.close()


@pytest.mark.parametrize("category", list(CORPUS))
def test_hostile_corpus(env, category):
    for text, expect in CORPUS[category]:
        env.reset(options={"task_id": 0})  # library
        start = time.monotonic()
        obs, reward, term, trunc, info = env.step(text)
        elapsed = time.monotonic() - start
        where = f"[{env.backend_name}/{category}] {text[:70]!r}"
        assert isinstance(obs, str) and obs, where
        assert elapsed < BUDGET_S, f"{where} took {elapsed:.1f} s"
        assert "root:" not in obs, where  # no file contents leak
        last = env._last_result
        if last is not None and last.rows is not None:
            assert len(last.rows) <= env.max_rows and sum(map(row_chars, last.rows)) <= MAX_RESULT_CHARS, where
        refusal = check_statement(text, env.max_statement_chars, env.backend.exec_version)[1]
        if expect == REFUSED:
            assert refusal is not None and obs == ERROR_PREFIX + refusal, f"{where}: {obs[:200]}"
        elif expect == ERROR:
            assert obs.startswith(ERROR_PREFIX), f"{where}: {obs[:200]}"
        elif expect == "ok":
            assert not obs.startswith(ERROR_PREFIX), f"{where}: {obs[:200]}"
        # the next episode starts pristine, on the task's database, and works
        _, info = env.reset(options={"task_id": 0})
        assert info["db"] == "library"
        assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]", where
        assert env.step("SELECT count(*) FROM loan")[0] == "[(14,)]", where
    assert _fingerprint(env) == env.fingerprint
    assert not list(Path("/tmp").glob(Path(EVIL).name + "*"))


def test_settings_do_not_lift_the_limits(env):
    env.reset(options={"task_id": 0})
    env.step("SET SESSION sql_select_limit = 1")
    assert env.step("SELECT count(*) FROM loan a, loan b")[0] == "[(196,)]"
    obs, *_, info = env.step("SELECT a.loan_id FROM loan a, loan b")
    assert "only" not in obs and len(env._last_result.rows) == 196  # the env's own limit applies, not the agent's


@pytest.mark.mariadb
@mariadb_missing
def test_session_state_and_account_do_not_outlive_the_episode():
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=TIMEOUT_S)
    env.reset(options={"task_id": 0})
    assert "account is not allowed" in env.step("SET PASSWORD = PASSWORD('x')")[0]
    for sql in ("SET PASSWORD = PASSWORD('x')", "SET PASSWORD FOR CURRENT_USER() = PASSWORD('x')"):
        res = env.backend.execute(sql)  # past the env's check, the read-only server still refuses it
        assert res.error is not None and "read-only" in res.error
    env.step("SET @leak = 42")
    env.step("SET autocommit = 0")
    env.step("SELECT * FROM book FOR UPDATE")
    env.step("DO GET_LOCK('agent_gym_lock', 0)")
    env.step("USE school")
    _, info = env.reset(options={"task_id": 0})
    assert info["db"] == "library"
    assert env.step("SELECT @leak, @@autocommit, IS_USED_LOCK('agent_gym_lock') IS NULL")[0] == "[(None, 1, 1)]"
    other = InterCodeSQLEnv(backend="mysql")  # a new env on the same server: the agent account still logs in
    other.reset(options={"task_id": 0})
    assert other.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    other.close()
    env.close()


@pytest.mark.mariadb
@mariadb_missing
def test_a_killed_connection_is_replaced_transparently():
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=TIMEOUT_S)
    backend = env.backend
    env.reset(options={"task_id": 0})
    # the agent kills its own connection (the env refuses KILL; the backend is called directly here)
    res = backend.execute("KILL CONNECTION_ID()")
    assert res.error is not None and "killed" in res.error.lower()
    assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    # killed from outside while idle: the step does not even notice
    env.step("/* hidden */ USE school")
    backend._kill(backend._agent_thread_id, "CONNECTION")
    obs, *_, info = env.step("SELECT count(*) FROM student")
    assert obs == "[(8,)]" and info["db"] == "school"
    backend._agent_cnx.shutdown()  # a dead socket at reset
    _, info = env.reset(options={"task_id": 0})
    assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    env.close()


@pytest.mark.mariadb
@mariadb_missing
@pytest.mark.parametrize(
    "statement",
    [
        "EXECUTE IMMEDIATE 'BEGIN NOT ATOMIC LOOP DO SLEEP(1); END LOOP; END'",
        "EXECUTE IMMEDIATE 'BEGIN NOT ATOMIC DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; LOOP DO SLEEP(0.2); END LOOP; END'",
    ],
)
def test_watchdog_kills_what_kill_query_cannot_stop(statement):
    # compound statements ignore max_statement_time and KILL QUERY; the env refuses them, and if one
    # got through anyway (here: the backend is called directly) the watchdog kills the connection
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=TIMEOUT_S)
    env.reset(options={"task_id": 0})
    start = time.monotonic()
    res = env.backend.execute(statement)
    assert time.monotonic() - start < BUDGET_S
    assert res.error is not None and "max_statement_time" in res.error
    assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    cur = env.backend._admin_cursor()
    cur.execute("SELECT count(*) FROM information_schema.processlist WHERE user = 'agent_ro' AND info LIKE '%SLEEP%'")
    assert cur.fetchall() == [(0,)]  # nothing left running on the server
    cur.close()
    env.close()


@pytest.mark.mariadb
@mariadb_missing
def test_row_cap_holds_when_the_server_sends_more():
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=5.0, max_rows=50)
    env.reset(options={"task_id": 0})
    for sql in (
        "SET STATEMENT sql_select_limit=DEFAULT FOR SELECT a.loan_id FROM loan a, loan b, loan c, loan d, loan e",
        "SELECT a.loan_id FROM loan a, loan b, loan c, loan d, loan e LIMIT 100000000",
    ):
        start = time.monotonic()
        res = env.backend.execute(sql)  # the nested SET STATEMENT is refused by the env; sent directly here
        assert time.monotonic() - start < 1.5
        assert res.truncated and res.cut == "rows" and len(res.rows) == 50
        assert env.step("SELECT count(*) FROM book")[0] == "[(12,)]"
    env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncation_note_says_what_was_cut(backend):
    env = InterCodeSQLEnv(backend=backend, max_rows=50)
    env.reset(options={"task_id": 0})
    obs, *_, info = env.step("SELECT a.loan_id, b.loan_id FROM loan a, loan b")
    assert info["truncated"] and "[only the first 50 rows were kept: the row limit is 50]" in obs
    big = "hex(zeroblob(30000))" if backend == "sqlite" else "REPEAT('ab', 30000)"
    obs, *_, info = env.step(f"SELECT {big} FROM loan a, loan b")
    kept = len(env._last_result.rows)
    assert info["truncated"] and 0 < kept < 50
    assert (
        f"only the first {kept} rows were kept: the result passed the size limit of {MAX_RESULT_CHARS:,} characters"
        in obs
    )
    env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_of_a_step_stays_bounded(backend):
    """Heavy statements in a fresh process: its peak memory grows by well under the 2.5-4.5 GB once seen."""
    statements = [text for text, _ in CORPUS["resources"] if "SLEEP" not in text and "BENCHMARK" not in text]
    code = textwrap.dedent(f"""
        import resource, sys
        from agent_gym.sql.env import InterCodeSQLEnv
        env = InterCodeSQLEnv(backend={backend!r}, statement_timeout_s=2.0)
        env.reset(options={{"task_id": 0}})
        env.step("SELECT 1")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for text in {statements!r}:
            env.step(text)
            env.reset(options={{"task_id": 0}})
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
        env.close()
    """)
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(repo)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    grown_mb = int(out.stdout.split()[-1])
    assert grown_mb < 300, f"peak memory grew by {grown_mb} MB"


def test_lexer_rules_without_a_server():
    from agent_gym.sql.sqltext import NO_EXEC_COMMENTS, code_words, split_statements

    v = 101119  # MariaDB 10.11.19
    assert len(split_statements("BEGIN NOT ATOMIC /*! SELECT 1; SELECT 2; */ END", v)) == 3  # /*! */ is code
    assert len(split_statements("SELECT 1 /*!999999 ; */", v)) == 1  # a version the server skips is a comment
    assert len(split_statements("SELECT 1 /*!999999 ' */ ; SELECT 2 -- '", v)) == 2
    assert len(split_statements("SELECT 1 /*!50700 ; */", v)) == 1  # MySQL 5.7+ versions: skipped by MariaDB
    assert len(split_statements("SELECT 1 /*M!50700 ; */", v)) == 2  # ... unless /*M!
    assert len(split_statements("SELECT 1 --\x0b ;\nSELECT 2", v)) == 1  # '--' + control character: a comment
    assert len(split_statements("SELECT 1 --x ;\nSELECT 2", v)) == 2
    assert len(split_statements("SELECT 1 /*! ; */", NO_EXEC_COMMENTS)) == 1
    assert code_words("SET /*!STATEMENT*/ `sql_mode`='x' # c", v) == "set statement sql_mode = ''"
    for text in ("SELECT 1 /*!999999 ' */ ; SELECT 2 -- '", "SELECT 1 /*! ; SELECT 2 */"):  # either reading splits
        assert "only one SQL statement" in check_statement(text)[1]


@pytest.mark.mariadb
@mariadb_missing
def test_server_temporary_tables_are_capped(monkeypatch):
    import agent_gym.sql.backends.mysql as mysql_backend

    monkeypatch.setattr(mysql_backend, "MAX_TMP_TABLE_BYTES", 1 << 20)  # 256 MB in use; 1 MB to be quick here
    env = InterCodeSQLEnv(backend="mysql", statement_timeout_s=5.0)
    env.reset(options={"task_id": 0})
    obs = env.step(
        "SELECT count(*) FROM (SELECT DISTINCT REPEAT(a.loan_id, 2000) x, b.loan_id b, c.loan_id c "
        "FROM loan a, loan b, loan c) t"
    )[0]
    assert obs == "Error executing query: The table '(temporary)' is full"
    env.close()
