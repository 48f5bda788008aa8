"""Damaged InterCode data: each fault is a one-line error naming the file, raised when the env is built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent_gym.errors import AgentGymError, GameLoadError
from agent_gym.sql.env import InterCodeSQLEnv
from agent_gym.sql.tasks import ASSETS_DIR, load_tasks
from tests.markers import SQL_BACKENDS

BACKENDS = SQL_BACKENDS
TASKS = json.loads((ASSETS_DIR / "tasks.json").read_text())


def _folder(tmp_path: Path, tasks: str | bytes | None = None, dump: str | bytes | None = None) -> str:
    for name, content, default in (
        ("ic_spider_dev.json", tasks, ASSETS_DIR / "tasks.json"),
        ("ic_spider_dbs.sql", dump, ASSETS_DIR / "dbs.sql"),
    ):
        target = tmp_path / name
        if content is None:
            shutil.copy(default, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return str(tmp_path)


def _one_line_error(data_dir: str, backend: str, file_name: str, match: str) -> str:
    with pytest.raises(AgentGymError) as info:
        InterCodeSQLEnv(data_dir=data_dir, backend=backend)
    message = str(info.value)
    assert "\n" not in message and str(Path(data_dir) / file_name) in message, message
    assert match in message, message
    return message


@pytest.mark.parametrize(
    "content,match",
    [
        ("", "holds no tasks"),
        ("[]", "holds no tasks"),
        ("\n\n", "holds no tasks"),
        ('{"db": "library"}', "lacks field(s) query, gold"),
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8"),
        ("[1, 2]", "is not a JSON object"),
        ('[{"db": "library"', "not valid JSON"),
    ],
)
def test_bad_task_file(tmp_path, content, match):
    _one_line_error(_folder(tmp_path, tasks=content), "sqlite", "ic_spider_dev.json", match)


@pytest.mark.parametrize("gold", [None, 42, "", "   "])
def test_task_without_a_usable_gold_query(tmp_path, gold):
    tasks = [dict(t) for t in TASKS]
    tasks[3]["gold"] = gold
    message = _one_line_error(_folder(tmp_path, tasks=json.dumps(tasks)), "sqlite", "ic_spider_dev.json", "task 3 in")
    assert "gold" in message
    tasks[3].pop("gold")
    with pytest.raises(GameLoadError, match="lacks field"):
        load_tasks(Path(_folder(tmp_path, tasks=json.dumps(tasks))) / "ic_spider_dev.json")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "dump,match",
    [
        ("", "holds no"),
        ("this is not a MySQL dump at all;\n\x01\x02 garbage", ""),
    ],
)
def test_empty_or_garbage_dump(tmp_path, backend, dump, match):
    _one_line_error(_folder(tmp_path, dump=dump), backend, "ic_spider_dbs.sql", match)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dump_without_a_task_database(tmp_path, backend):
    tasks = [dict(t) for t in TASKS]
    tasks[0]["db"] = "nowhere"
    data = _folder(tmp_path, tasks=json.dumps(tasks))
    message = _one_line_error(data, backend, "ic_spider_dbs.sql", "lacks database(s) nowhere")
    assert str(Path(data) / "ic_spider_dev.json") in message
