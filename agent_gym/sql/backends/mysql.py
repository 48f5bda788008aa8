"""MySQL/MariaDB backend through ``mysql-connector-python``.

Containment of agent statements (the step budget is in ``docs/intercode_sql.md``):

* a read-only account (``SELECT, SHOW VIEW`` on the benchmark databases) on a
  server started ``--read-only`` when the env owns it (so not even ``SET
  PASSWORD`` or ``XA PREPARE`` can leave anything behind), or the
  ``agent_user`` you pass for an external one;
* :func:`~agent_gym.sql.backends.base.check_statement` refuses several
  statements, compound statements, prepared statements, ``SET STATEMENT``,
  ``KILL`` and changes of ``sql_mode``/character set, reading executable
  comments ``/*! */`` as the server does;
* every statement is wrapped as ``SET STATEMENT max_statement_time=T,
  sql_select_limit=N+1, big_tables=1, tmp_disk_table_size=256M FOR <stmt>``
  on MariaDB;
* multi-statements are disabled on the connection;
* the client stops reading at ``max_rows`` rows, at the result-size budget
  and at the time limit, whatever the server sends; unread rows are dropped
  with the connection (a fresh one replaces it);
* a watchdog sends ``KILL QUERY`` from a separate connection when a statement
  outlives the limit by ``watchdog_grace_s``, and ``KILL CONNECTION`` one
  more ``watchdog_grace_s`` later (compound statements ignore ``KILL QUERY``);
  the env then reconnects;
* each episode starts with ``COM_RESET_CONNECTION`` (session variables, user
  variables, temporary tables, transactions and locks of the previous episode
  are gone) and ``USE <db>``; a connection that was lost or killed is replaced
  by a new one first, and a statement that finds its connection already gone
  (killed while idle, ``wait_timeout``) is retried once on a new one.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from agent_gym.errors import BackendUnavailableError, GameLoadError, require
from agent_gym.sql.backends.base import MAX_RESULT_CHARS, QueryResult, ServerSettings, SQLBackend, row_chars
from agent_gym.sql.sqltext import first_keyword, server_version_id

#: Largest server-side temporary table one agent statement may build (the server's tmpdir is in RAM).
MAX_TMP_TABLE_BYTES = 256 << 20
#: Client-side error numbers meaning the connection is gone.
_LOST = {2006, 2013, 2055, 2048, 2003, 1927, 2027}


class MySQLBackend(SQLBackend):
    """Run statements on a MySQL-compatible server (the env's private MariaDB, or one you point at)."""

    name = "mysql"

    def __init__(
        self,
        *,
        dump_path=None,
        server: ServerSettings | None = None,
        statement_timeout_s: float = 5.0,
        gold_timeout_s: float = 60.0,
        max_rows: int = 10_000,
        watchdog_grace_s: float = 0.5,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self._mysql = require("mysql.connector", "sql")
        from mysql.connector.constants import ClientFlag

        self._no_multi = [-ClientFlag.MULTI_STATEMENTS]
        self.statement_timeout_s = float(statement_timeout_s)
        self.gold_timeout_s = float(gold_timeout_s)
        self.max_rows = int(max_rows)
        self.watchdog_grace_s = float(watchdog_grace_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self._server = None
        server = server or ServerSettings()
        if not server.external:
            from agent_gym.sql.server import AGENT_USER, acquire_server

            self._server = acquire_server(dump_path)
            self.host, self.port = self._server.host, self._server.port
            self._admin = ("root", self._server.admin_password)
            self._agent = (AGENT_USER, self._server.agent_password)
            self.where = f"the private MariaDB server on 127.0.0.1:{self.port}"
        else:
            try:
                self.host, self.port = server.host or "127.0.0.1", int(server.port or 3306)
            except (TypeError, ValueError):
                raise ValueError(f"port must be an integer (e.g. 3306), got {server.port!r}") from None
            if server.user is None:
                raise BackendUnavailableError("backend='mysql' with host/port also needs user= and password=")
            self._admin = (server.user, server.password or "")
            self._agent = (server.agent_user, server.agent_password or "") if server.agent_user else self._admin
            self.where = f"the MySQL server at {self.host}:{self.port}"
        self._lock = threading.Lock()
        self._admin_cnx = self._connect(*self._admin)
        self.is_mariadb = "mariadb" in self._admin_cnx.get_server_info().lower()
        if self.is_mariadb:
            self.exec_version = server_version_id(self._admin_cnx.get_server_info())
        self._agent_cnx = self._connect(*self._agent)
        self._agent_thread_id = self._agent_cnx.connection_id
        self._agent_dead = False  # set when the agent connection was killed or dropped
        self._kill_cnx: Any | None = None  # admin connection for KILL, opened on first use
        if self._server is None and not server.agent_user:
            warnings.warn(
                "InterCodeSQLEnv: agent statements run with the admin account you passed; give a read-only "
                "account as agent_user=/agent_password= so agents cannot change the data",
                stacklevel=3,
            )
        self._db: str | None = None
        self._episode_db: str | None = None
        self._tables: dict[str, list[str]] = {}
        self._dbs: list[str] | None = None

    # ------------------------------------------------------------------ connections
    def _connect(self, user: str, password: str, database: str | None = None):
        try:
            cnx = self._mysql.connect(
                host=self.host,
                port=self.port,
                user=user,
                password=password,
                database=database,
                client_flags=self._no_multi,
                autocommit=True,
                connection_timeout=self.connect_timeout_s,
                charset="utf8mb4",
                collation="utf8mb4_general_ci",
                use_pure=True,
            )
        except self._mysql.Error as exc:
            raise BackendUnavailableError(self._unreachable(exc)) from exc
        return cnx

    def _unreachable(self, exc: Exception) -> str:
        if self._server is None:
            hint = "check that the server is running and that host/port/user/password are right"
        elif self._server.alive():
            hint = "the private server is running but refused the connection; close this env and make a new one"
        else:
            hint = "the private server has stopped; close this env and make a new one"
        tail = ""
        if self._server is not None and not self._server.alive():
            tail = f"\nserver log:\n{self._server.error_log_tail()}"
        return f"cannot reach {self.where}: {exc}; {hint}{tail}"

    def _reconnect_agent(self, database: str | None = None) -> None:
        """Replace the agent connection by a new one on ``database`` (default: the current one)."""
        old = self._agent_cnx
        try:
            old.shutdown()  # drop the socket without reading pending rows
        except Exception:
            pass
        self._agent_cnx = self._connect(*self._agent, database=database or self._db)
        self._agent_thread_id = self._agent_cnx.connection_id
        self._agent_dead = False

    def _admin_cursor(self):
        if not self._admin_cnx.is_connected():
            try:
                self._admin_cnx.reconnect(attempts=1)
            except self._mysql.Error as exc:
                raise BackendUnavailableError(self._unreachable(exc)) from exc
        return self._admin_cnx.cursor()

    # ------------------------------------------------------------------ API
    def databases(self) -> list[str]:
        if self._dbs is None:
            cur = self._admin_cursor()
            cur.execute("SHOW DATABASES")
            self._dbs = [r[0].lower() for r in cur.fetchall()]
            cur.close()
        return self._dbs

    def begin_episode(self, db: str) -> None:
        """Reset the agent session (or open a new one if it was lost) and ``USE db``."""
        self._episode_db = db
        self._db = db
        try:
            if self._agent_dead:
                raise self._mysql.errors.OperationalError("the agent connection was closed")
            self._agent_cnx.cmd_reset_connection()
            self._agent_cnx.cmd_init_db(db)
        except self._mysql.Error as exc:
            if getattr(exc, "errno", None) in (1049, 1044):
                raise GameLoadError(f"database {db!r} is not on {self.where}; load the task's dump into it") from exc
            self._reconnect_agent(db)
        self._agent_thread_id = self._agent_cnx.connection_id

    def current_database(self) -> str | None:
        return self._db

    def _wrap(self, statement: str, seconds: float) -> str:
        if not self.is_mariadb:
            return statement
        t = max(seconds, 0.001)
        return (
            f"SET STATEMENT max_statement_time={t:.3f}, sql_select_limit={self.max_rows + 1}, big_tables=1, "
            f"tmp_disk_table_size={MAX_TMP_TABLE_BYTES} FOR {statement}"
        )

    def execute(self, statement: str) -> QueryResult:
        """Run one checked agent statement within the step budget (time limit including fetching,
        ``max_rows`` rows, :data:`MAX_RESULT_CHARS` characters)."""
        start = time.monotonic()
        deadline = start + self.statement_timeout_s
        if self._agent_dead:
            self._reconnect_agent()
        result, lost, gone = self._run_once(statement, deadline)
        if gone and deadline - time.monotonic() > 0.05:
            # the connection was gone (killed while idle, wait_timeout): once more on a new one
            self._reconnect_agent()
            result, lost, gone = self._run_once(statement, deadline)
        if lost:
            self._reconnect_agent()
        result.elapsed_s = time.monotonic() - start
        return result

    def _run_once(self, statement: str, deadline: float) -> tuple[QueryResult, bool, bool]:
        """``(result, lost, gone)``: ``lost`` when the connection must be replaced, ``gone`` when it
        broke by itself (not dropped by us or the watchdog)."""
        dog = _Watchdog(self, self._agent_thread_id, deadline + self.watchdog_grace_s, self.watchdog_grace_s)
        cur = None
        lost = gone = False
        try:
            cur = self._agent_cnx.cursor()
            dog.start()
            cur.execute(self._wrap(statement, deadline - time.monotonic()))
            if cur.description is None:
                result = QueryResult(rows=None)
                self._track_use(statement)
            else:
                rows, cut, pending = self._fetch(cur, deadline)
                if cut == "time":
                    result = QueryResult(error=_TIME_MESSAGE)
                else:
                    result = QueryResult(rows=rows, truncated=cut is not None, cut=cut)
                if pending:  # unread rows on the wire: stop the server side and drop the connection
                    dog.stop()
                    self._kill(self._agent_thread_id, "CONNECTION")
                    lost, cur = True, None
        except self._mysql.Error as exc:
            errno = getattr(exc, "errno", None)
            result = QueryResult(error=_message(exc))
            if errno in _LOST or errno == -1 or not self._agent_cnx.is_connected():
                lost = gone = True
                cur = None
        except (UnicodeError, ValueError, TypeError, OverflowError) as exc:
            result = QueryResult(error=f"{type(exc).__name__}: {exc}")
        finally:
            dog.stop()
            if cur is not None:
                try:
                    cur.close()
                except Exception:
                    lost = True
        if dog.fired:
            gone = False
            lost = lost or dog.fired == "CONNECTION"
            result = QueryResult(error=_TIME_MESSAGE)
        return result, lost, gone

    def _fetch(self, cur, deadline: float) -> tuple[list[tuple[Any, ...]], str | None, bool]:
        """``(rows, cut, pending)``: rows up to ``max_rows`` / the size budget / the deadline, read one
        at a time; ``cut`` is ``"rows"``, ``"size"``, ``"time"`` or ``None``; ``pending`` when unread
        rows remain on the wire."""
        rows: list[tuple[Any, ...]] = []
        size = 2
        while True:
            if time.monotonic() > deadline:
                return rows, "time", True
            row = cur.fetchone()
            if row is None:
                return rows, None, False
            if len(rows) >= self.max_rows:
                # sql_select_limit=max_rows+1 normally makes this the last row; a statement that
                # lifted it (LIMIT, a nested SET STATEMENT) leaves more, which are dropped unread
                return rows, "rows", cur.fetchone() is not None
            size += row_chars(row)
            if size > MAX_RESULT_CHARS:
                return rows, "size", True
            rows.append(tuple(row))

    def _track_use(self, statement: str) -> None:
        if first_keyword(statement, self.exec_version) == "USE":
            try:
                self._db = self._agent_cnx.database
            except Exception:
                pass

    def _kill(self, thread_id: int, what: str = "QUERY") -> None:
        """``KILL QUERY`` / ``KILL CONNECTION`` ``thread_id`` from the admin side (best effort)."""
        with self._lock:
            try:
                if self._kill_cnx is None or not self._kill_cnx.is_connected():
                    self._kill_cnx = self._connect(*self._admin)
                cur = self._kill_cnx.cursor()
                cur.execute(f"KILL {what} {int(thread_id)}")
                cur.close()
            except Exception:
                pass
        if what == "CONNECTION" and thread_id == self._agent_thread_id:
            self._agent_dead = True

    def run_gold(self, db: str, query: str) -> QueryResult:
        start = time.perf_counter()
        cur = self._admin_cursor()
        try:
            cur.execute(f"USE `{db}`")
            sql = (
                f"SET STATEMENT max_statement_time={self.gold_timeout_s:g}, big_tables=1 FOR {query}"
                if self.is_mariadb
                else query
            )
            cur.execute(sql)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description is not None else None
            return QueryResult(rows=rows, elapsed_s=time.perf_counter() - start)
        except self._mysql.Error as exc:
            if getattr(exc, "errno", None) in _LOST:
                raise BackendUnavailableError(self._unreachable(exc)) from exc
            return QueryResult(error=_message(exc), elapsed_s=time.perf_counter() - start)
        finally:
            try:
                cur.close()
            except Exception:
                pass

    def table_names(self, db: str) -> list[str]:
        key = db.lower()
        if key not in self._tables:
            cur = self._admin_cursor()
            cur.execute(f"SHOW TABLES FROM `{db}`")
            self._tables[key] = [r[0] for r in cur.fetchall()]
            cur.close()
        return self._tables[key]

    def ping(self) -> None:
        """Raise :class:`BackendUnavailableError` when the server is gone."""
        try:
            cur = self._admin_cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
            cur.close()
        except self._mysql.Error as exc:
            raise BackendUnavailableError(self._unreachable(exc)) from exc

    def close(self) -> None:
        for cnx in (self._agent_cnx, self._admin_cnx, self._kill_cnx):
            if cnx is not None:
                try:
                    cnx.close()
                except Exception:
                    try:
                        cnx.shutdown()
                    except Exception:
                        pass
        self._kill_cnx = None
        server, self._server = self._server, None
        if server is not None:
            from agent_gym.sql.server import release_server

            release_server(server)


_TIME_MESSAGE = "Query execution was interrupted (max_statement_time exceeded)"


class _Watchdog:
    """Stops a statement that outlives its deadline: ``KILL QUERY`` at ``first``, ``KILL CONNECTION``
    ``grace`` seconds later (compound statements and handlers ignore ``KILL QUERY``)."""

    def __init__(self, backend: MySQLBackend, thread_id: int, first: float, grace: float) -> None:
        self.backend, self.thread_id, self.first, self.grace = backend, thread_id, first, grace
        self.fired: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="agent-gym-sql-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._done.wait(max(0.0, self.first - time.monotonic())):
            return
        self.fired = "QUERY"
        self.backend._kill(self.thread_id, "QUERY")
        if self._done.wait(self.grace):
            return
        self.fired = "CONNECTION"
        self.backend._kill(self.thread_id, "CONNECTION")

    def stop(self) -> None:
        self._done.set()


def _message(exc: Exception) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return str(msg)
