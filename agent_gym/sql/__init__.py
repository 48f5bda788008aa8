"""InterCode-SQL: Spider questions answered with SQL on MariaDB/MySQL or SQLite (``InterCodeSQL-v0``)."""
