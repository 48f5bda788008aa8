"""Database backends of ``InterCodeSQL-v0``: MySQL/MariaDB (:mod:`.mysql`) and SQLite (:mod:`.sqlite`)."""

from agent_gym.sql.backends.base import QueryResult, ServerSettings, SQLBackend, check_statement

__all__ = ["QueryResult", "SQLBackend", "ServerSettings", "check_statement"]
