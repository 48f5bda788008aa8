"""``InterCodeSQL-v0``: answer a question about a database by sending SQL, then ``submit``.

The first observation is the question and the database name
(``"<question>\\nDatabase: <db>"``). Each step is one SQL statement; the
observation is its result as Python prints a list of tuples (``[('people',), ('poker_player',)]``, cut to
``max_observation_chars``) or ``Error executing query: <message>``. ``submit``
scores the last result against the gold query's result (see
:mod:`agent_gym.sql.reward`); ``skip`` ends with reward 0. The episode is
truncated after ``max_episode_steps`` (10) steps without a submit (reward 0).
"""

from __future__ import annotations

import re
from typing import Any

from agent_gym.core import StepResult, TextEnv
from agent_gym.errors import GameLoadError
from agent_gym.sql.backends.base import MAX_STATEMENT_CHARS, QueryResult, SQLBackend, check_statement
from agent_gym.sql.render import render_result, task_prompt
from agent_gym.sql.reward import gold_has_order_by, score
from agent_gym.sql.tasks import SQLDataset, SQLTask, load_dataset

SUBMIT = "submit"
SKIP = "skip"
BACKENDS = ("auto", "mysql", "sqlite")
#: ``expert_style``: ``"gold"`` runs the gold query then submits; ``"schema"`` first looks at the
#: schema as an agent without the gold query must (``SHOW TABLES``, then ``DESCRIBE`` each table
#: the gold query uses), then runs the gold query and submits.
EXPERT_STYLES = ("gold", "schema")
#: at most this many tables are described by the ``schema`` expert (in the gold query's order)
SCHEMA_EXPERT_MAX_TABLES = 4


def make_backend(
    backend: str,
    dataset: SQLDataset,
    *,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    agent_user: str | None = None,
    agent_password: str | None = None,
    statement_timeout_s: float = 5.0,
    max_rows: int = 10_000,
) -> SQLBackend:
    """Build the backend named by ``backend`` (``auto``: MariaDB if installed or host given, else SQLite)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        from agent_gym.sql.server import mariadb_available

        backend = "mysql" if (host is not None or port is not None or mariadb_available()) else "sqlite"
    if backend == "mysql":
        from agent_gym.sql.backends.mysql import MySQLBackend

        return MySQLBackend(
            dump_path=dataset.dump_path,
            host=host,
            port=port,
            user=user,
            password=password,
            agent_user=agent_user,
            agent_password=agent_password,
            statement_timeout_s=statement_timeout_s,
            max_rows=max_rows,
        )
    if host is not None or port is not None:
        raise ValueError("host/port are only used with backend='mysql'")
    from agent_gym.sql.backends.sqlite import SQLiteBackend

    return SQLiteBackend(dump_path=dataset.dump_path, statement_timeout_s=statement_timeout_s, max_rows=max_rows)


class InterCodeSQLEnv(TextEnv):
    """InterCode-SQL (Spider dev) on a contained MySQL-compatible server, or on SQLite.

    Args:
        data_dir: folder with ``ic_spider_dev.json`` and ``ic_spider_dbs.sql``;
            ``None`` plays the project's small embedded benchmark (``assets/sql``).
        split: task file (``dev``).
        backend: ``"auto"`` (default: the private MariaDB server when
            ``mariadbd`` is installed or ``host``/``port`` are given, else
            SQLite), ``"mysql"`` or ``"sqlite"``.
        host, port, user, password: an existing MySQL/MariaDB server that
            already holds the databases (else a private server is started).
        agent_user, agent_password: a read-only account on that server for
            agent statements (recommended; else the admin account is used).
        statement_timeout_s: per-statement time limit for agent statements.
        max_rows: rows kept per result (the rest is dropped and the
            observation says so); large enough for every dev gold result.
        max_observation_chars: observation length before it is cut.
        order_only_with_order_by: score row order only when the gold query
            has ``ORDER BY`` (InterCode always scores it).
        clip_negative_reward: clip the reward at 0 (InterCode's can be < 0).
        expert_style: with ``expert=True``, what ``info["expert_action"]`` plays:
            ``"gold"`` (the gold query, then ``submit``) or ``"schema"``
            (``SHOW TABLES``, ``DESCRIBE`` of each table the gold query uses,
            the gold query, ``submit``: demonstrations that only use what an
            agent can see).
    """

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        split: str = "dev",
        backend: str = "auto",
        host: str | None = None,
        port: int | None = None,
        user: str | None = None,
        password: str | None = None,
        agent_user: str | None = None,
        agent_password: str | None = None,
        max_episode_steps: int | None | str = "default",
        expert: bool = False,
        expert_style: str = "gold",
        statement_timeout_s: float = 5.0,
        max_rows: int = 10_000,
        max_observation_chars: int = 2000,
        max_statement_chars: int = MAX_STATEMENT_CHARS,
        order_only_with_order_by: bool = False,
        clip_negative_reward: bool = True,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(max_episode_steps=max_episode_steps, expert=expert, render_mode=render_mode)
        self._closed = True  # nothing to close until the backend exists
        if expert_style not in EXPERT_STYLES:
            raise ValueError(f"expert_style must be one of {EXPERT_STYLES}, got {expert_style!r}")
        self.expert_style = expert_style
        if not statement_timeout_s > 0 or int(max_rows) < 1 or int(max_observation_chars) < 1:
            raise ValueError("statement_timeout_s, max_rows and max_observation_chars must be positive")
        self.dataset = load_dataset(data_dir, split)
        self.tasks: list[SQLTask] = self.dataset.tasks
        self._ids = [t.task_id for t in self.tasks]
        self.backend: SQLBackend = make_backend(
            backend,
            self.dataset,
            host=host,
            port=port,
            user=user,
            password=password,
            agent_user=agent_user,
            agent_password=agent_password,
            statement_timeout_s=statement_timeout_s,
            max_rows=max_rows,
        )
        self.backend_name = self.backend.name
        have = set(self.backend.databases())
        missing = sorted({t.db.lower() for t in self.tasks} - have)
        if missing:
            self.backend.close()
            raise GameLoadError(
                f"the dump {self.dataset.dump_path} lacks database(s) {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''} used by tasks in {self.dataset.tasks_path}; "
                "check that the two files belong together"
            )
        self.max_rows = int(max_rows)
        self.max_observation_chars = int(max_observation_chars)
        self.max_statement_chars = int(max_statement_chars)
        self.order_only_with_order_by = bool(order_only_with_order_by)
        self.clip_negative_reward = bool(clip_negative_reward)
        self._gold_cache: dict[tuple[str, str], QueryResult] = {}
        self._tables: dict[str, list[str]] = {}  # per database, for the schema expert
        self._executed: set[str] = set()  # normalized statements of this episode (schema expert)
        self.task: SQLTask | None = None
        self._last_result: QueryResult | None = None
        self._last_action: str | None = None
        self._closed = False

    # ------------------------------------------------------------------ TextEnv hooks
    @property
    def task_ids(self) -> list[str]:
        return self._ids

    def _load_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        self.task = self.tasks[int(task_id)]
        self.backend.begin_episode(self.task.db)
        self._last_result = None
        self._last_action = None
        self._executed = set()
        return task_prompt(self.task.question, self.task.db), {"db": self.task.db}

    def _task_type(self) -> str:
        return self.task.hardness if self.task is not None else ""

    def _expert_action(self) -> str | None:
        if self.task is None:
            return None
        if self._last_action is not None and self._last_action.strip() == self.task.gold.strip():
            return SUBMIT
        if self.expert_style == "schema":
            for statement in self._schema_plan():
                if _normalized(statement) not in self._executed:
                    return statement
        return self.task.gold

    def _schema_plan(self) -> list[str]:
        """``SHOW TABLES`` and a ``DESCRIBE`` of each table the gold query names (the schema expert)."""
        assert self.task is not None
        db = self.task.db.lower()
        if db not in self._tables:
            listed = self.backend.execute("SHOW TABLES")
            self._tables[db] = [str(r[0]) for r in (listed.rows or [])]
        used = []
        gold = self.task.gold
        for name in self._tables[db]:
            m = re.search(rf"(?<![\w.`]){re.escape(name)}(?![\w`])", gold, flags=re.IGNORECASE)
            if m:
                used.append((m.start(), name))
        tables = [name for _, name in sorted(used)][:SCHEMA_EXPERT_MAX_TABLES]
        return ["SHOW TABLES", *(f"DESCRIBE {name}" for name in tables)]

    def _step(self, action: str) -> StepResult:
        assert self.task is not None
        word = action.strip().rstrip(";").strip().lower()
        if word == SUBMIT:
            return self._submit()
        if word == SKIP:
            return StepResult("Skipped.", 0.0, True, True, False, {"db": self.backend.current_database()})
        self._last_action = action
        self._executed.add(_normalized(action))
        statement, problem = check_statement(action, self.max_statement_chars, self.backend.exec_version)
        if problem is not None:
            result = QueryResult(error=problem)
        else:
            assert statement is not None  # check_statement returns one of the two
            result = self.backend.execute(statement)
        self._last_result = result
        obs = render_result(
            result.rows,
            result.error,
            max_chars=self.max_observation_chars,
            truncated=result.truncated,
            max_rows=self.max_rows,
            cut=result.cut,
        )
        extra = {"db": self.backend.current_database(), "truncated": result.truncated}
        return StepResult(obs, 0.0, False, result.ok, False, extra)

    def _submit(self) -> StepResult:
        assert self.task is not None
        gold = self.gold_result(self.task)
        if gold.error is not None:
            obs = "Submitted. This task cannot be scored: its gold query fails on this backend."
            return StepResult(obs, 0.0, True, True, False, {"gold_error": gold.error, "reward_components": None})
        last = self._last_result
        agent_rows = last.rows if last is not None and last.error is None else None
        order = gold_has_order_by(self.task.gold) if self.order_only_with_order_by else True
        res = score(agent_rows, gold.rows or [], order_scored=order, clip_negative=self.clip_negative_reward)
        success = res.reward == 1.0
        return StepResult(
            f"Submitted. Reward: {res.reward:g}",
            res.reward,
            True,
            True,
            success,
            {"reward_components": res.components()},
        )

    def _snapshot(self) -> Any:
        return (self.backend.current_database(), self._last_result, self._last_action, frozenset(self._executed))

    def _restore(self, state: Any) -> None:
        db, last, action, executed = state
        self.backend.begin_episode(db or (self.task.db if self.task else ""))
        self._last_result, self._last_action = last, action
        self._executed = set(executed)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.backend.close()

    # ------------------------------------------------------------------ extras
    def gold_result(self, task: SQLTask | str | int) -> QueryResult:
        """The gold query's result for ``task`` (a task, id or index), cached."""
        if not isinstance(task, SQLTask):
            task = self.tasks[int(self.resolve_task_id(task))]
        key = (task.db.lower(), task.gold)
        if key not in self._gold_cache:
            self._gold_cache[key] = self.backend.run_gold(task.db, task.gold)
        return self._gold_cache[key]

    def __del__(self) -> None:  # best effort; servers are also stopped at exit
        try:
            self._close()
        except Exception:
            pass


__all__ = ["InterCodeSQLEnv", "make_backend"]


def _normalized(statement: str) -> str:
    """A statement compared case- and space-insensitively, without a final ``;``."""
    return " ".join(statement.strip().rstrip(";").split()).lower()
