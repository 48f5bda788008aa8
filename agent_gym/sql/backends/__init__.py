"""Database backends of ``InterCodeSQL-v0``: MySQL/MariaDB (:mod:`.mysql`) and SQLite (:mod:`.sqlite`)."""

from agent_gym.sql.backends.base import QueryResult, SQLBackend, check_statement

__all__ = ["QueryResult", "SQLBackend", "check_statement"]
