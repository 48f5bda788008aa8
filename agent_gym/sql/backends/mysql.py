"""MySQL/MariaDB backend through ``mysql-connector-python``.

Containment of agent statements:

* a read-only account (``SELECT, SHOW VIEW`` on the benchmark databases) when
  the env owns the server, or the ``agent_user`` you pass for an external one;
* every statement is wrapped as ``SET STATEMENT max_statement_time=T,
  sql_select_limit=N+1 FOR <stmt>`` on MariaDB, so an agent's own ``SET SESSION``
  cannot lift the limit, and input mentioning ``max_statement_time`` is refused
  (a nested ``SET STATEMENT`` would override ours);
* multi-statements are disabled on the connection;
* a watchdog timer sends ``KILL QUERY`` from a separate connection if a
  statement outlives the limit by ``watchdog_grace_s``;
* rows beyond ``max_rows`` or beyond a printed-size budget are dropped (the
  connection is then replaced, so no unread rows leak into the next step);
* each episode starts with ``COM_RESET_CONNECTION`` (session variables, user
  variables, temporary tables and locks of the previous episode are gone) and
  ``USE <db>``.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from agent_gym.errors import BackendUnavailableError, GameLoadError, require
from agent_gym.sql.backends.base import MAX_RESULT_CHARS, QueryResult, SQLBackend

#: Client-side error numbers meaning the connection is gone.
_LOST = {2006, 2013, 2055, 2048, 2003, 1927, 2027}


class MySQLBackend(SQLBackend):
    """Run statements on a MySQL-compatible server (the env's private MariaDB, or one you point at)."""

    name = "mysql"

    def __init__(
        self,
        *,
        dump_path=None,
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        agent_user: str | None = None,
        agent_password: str | None = None,
        statement_timeout_s: float = 5.0,
        gold_timeout_s: float = 60.0,
        max_rows: int = 10_000,
        watchdog_grace_s: float = 1.0,
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
        if host is None and port is None:
            from agent_gym.sql.server import AGENT_USER, acquire_server

            self._server = acquire_server(dump_path)
            self.host, self.port = self._server.host, self._server.port
            self._admin = ("root", self._server.admin_password)
            self._agent = (AGENT_USER, self._server.agent_password)
            self.where = f"the private MariaDB server on 127.0.0.1:{self.port}"
        else:
            try:
                self.host, self.port = host or "127.0.0.1", int(port or 3306)
            except (TypeError, ValueError):
                raise ValueError(f"port must be an integer (e.g. 3306), got {port!r}") from None
            if user is None:
                raise BackendUnavailableError("backend='mysql' with host/port also needs user= and password=")
            self._admin = (user, password or "")
            self._agent = (agent_user, agent_password or "") if agent_user else self._admin
            self.where = f"the MySQL server at {self.host}:{self.port}"
        self._lock = threading.Lock()
        self._admin_cnx = self._connect(*self._admin)
        self.is_mariadb = "mariadb" in self._admin_cnx.get_server_info().lower()
        self._agent_cnx = self._connect(*self._agent)
        self._agent_thread_id = self._agent_cnx.connection_id
        self._kill_cnx = None
        if self._server is None and not agent_user:
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
                host=self.host, port=self.port, user=user, password=password, database=database,
                client_flags=self._no_multi, autocommit=True, connection_timeout=self.connect_timeout_s,
                charset="utf8mb4", collation="utf8mb4_general_ci", use_pure=True,
            )
        except self._mysql.Error as exc:
            raise BackendUnavailableError(self._unreachable(exc)) from exc
        return cnx

    def _unreachable(self, exc: Exception) -> str:
        hint = (
            "the private server has stopped; close this env and make a new one"
            if self._server is not None
            else "check that the server is running and that host/port/user/password are right"
        )
        tail = ""
        if self._server is not None and not self._server.alive():
            tail = f"\nserver log:\n{self._server.error_log_tail()}"
        return f"cannot reach {self.where}: {exc}; {hint}{tail}"

    def _reconnect_agent(self) -> None:
        old = self._agent_cnx
        try:
            old.shutdown()  # drop the socket without reading pending rows
        except Exception:
            pass
        self._agent_cnx = self._connect(*self._agent, database=self._db)
        self._agent_thread_id = self._agent_cnx.connection_id

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
        self._episode_db = db
        self._db = db
        try:
            self._agent_cnx.cmd_reset_connection()
            self._agent_cnx.cmd_init_db(db)
        except self._mysql.Error as exc:
            if getattr(exc, "errno", None) in (1049, 1044):
                raise GameLoadError(f"database {db!r} is not on {self.where}; load the task's dump into it") from exc
            try:
                self._reconnect_agent()
                self._agent_cnx.cmd_init_db(db)
            except self._mysql.Error as exc2:
                raise BackendUnavailableError(self._unreachable(exc2)) from exc2
        self._agent_thread_id = self._agent_cnx.connection_id

    def current_database(self) -> str | None:
        return self._db

    def _wrap(self, statement: str) -> str:
        if not self.is_mariadb:
            return statement
        t = max(self.statement_timeout_s, 0.001)
        return f"SET STATEMENT max_statement_time={t:g}, sql_select_limit={self.max_rows + 1}, big_tables=1 FOR {statement}"

    def execute(self, statement: str) -> QueryResult:
        start = time.perf_counter()
        timer = threading.Timer(self.statement_timeout_s + self.watchdog_grace_s, self._kill_running, args=(self._agent_thread_id,))
        timer.daemon = True
        result: QueryResult
        cur = None
        try:
            cur = self._agent_cnx.cursor()
            timer.start()
            cur.execute(self._wrap(statement))
            if cur.description is None:
                result = QueryResult(rows=None)
                self._track_use(statement)
            else:
                rows, truncated, pending = self._fetch(cur)
                result = QueryResult(rows=rows, truncated=truncated)
                if pending:
                    self._reconnect_agent()
                    cur = None
        except self._mysql.Error as exc:
            result = QueryResult(error=_message(exc))
            if getattr(exc, "errno", None) in _LOST or not self._agent_cnx.is_connected():
                try:
                    self._reconnect_agent()  # e.g. the agent ran KILL CONNECTION_ID()
                except BackendUnavailableError:
                    raise
                cur = None
        except (UnicodeError, ValueError, TypeError, OverflowError) as exc:
            result = QueryResult(error=f"{type(exc).__name__}: {exc}")
        finally:
            timer.cancel()
            if cur is not None:
                try:
                    cur.close()
                except Exception:
                    pass
        result.elapsed_s = time.perf_counter() - start
        return result

    def _fetch(self, cur) -> tuple[list[tuple[Any, ...]], bool, bool]:
        """Rows up to ``max_rows`` / the size budget; ``pending`` when unread rows remain on the wire."""
        rows: list[tuple[Any, ...]] = []
        size = 0
        while True:
            batch = cur.fetchmany(256)
            if not batch:
                return rows, False, False
            for row in batch:
                size += len(str(row))
                if size > MAX_RESULT_CHARS:
                    return rows, True, True
                if len(rows) >= self.max_rows:
                    if self.is_mariadb:  # sql_select_limit=max_rows+1: at most this row is left
                        cur.fetchall()
                        return rows, True, False
                    return rows, True, True
                rows.append(tuple(row))

    def _track_use(self, statement: str) -> None:
        if statement.lstrip()[:3].lower() == "use":
            try:
                self._db = self._agent_cnx.database
            except Exception:
                pass

    def _kill_running(self, thread_id: int) -> None:
        """Watchdog: stop a statement that outlived its time limit."""
        with self._lock:
            try:
                if self._kill_cnx is None or not self._kill_cnx.is_connected():
                    self._kill_cnx = self._connect(*self._admin)
                cur = self._kill_cnx.cursor()
                cur.execute(f"KILL QUERY {int(thread_id)}")
                cur.close()
            except Exception:
                pass

    def run_gold(self, db: str, query: str) -> QueryResult:
        start = time.perf_counter()
        cur = self._admin_cursor()
        try:
            cur.execute(f"USE `{db}`")
            sql = f"SET STATEMENT max_statement_time={self.gold_timeout_s:g}, big_tables=1 FOR {query}" if self.is_mariadb else query
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


def _message(exc: Exception) -> str:
    msg = getattr(exc, "msg", None) or str(exc)
    return str(msg)
