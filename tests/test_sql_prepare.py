"""``python -m scripts.prepare intercode`` (local copies; no network in tests)."""

from __future__ import annotations

import json

from agent_gym.sql.tasks import ASSETS_DIR, load_dataset
from scripts.prepare import main


def _fake_checkout(root):
    src = root / "intercode" / "data" / "sql" / "spider"
    src.mkdir(parents=True)
    (src / "ic_spider_dev.json").write_text((ASSETS_DIR / "tasks.json").read_text())
    (src / "ic_spider_dbs.sql").write_text((ASSETS_DIR / "dbs.sql").read_text())
    return root / "intercode"


def test_prepare_from_a_local_folder(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["intercode", "--from", str(_fake_checkout(tmp_path)), "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds.tasks) == len(json.loads((ASSETS_DIR / "tasks.json").read_text()))
    assert "36 tasks over 3 databases" in capsys.readouterr().out
    # existing files are kept unless --force
    (out / "ic_spider_dev.json").write_text("[]")
    assert main(["intercode", "--from", str(tmp_path / "intercode"), "--out", str(out)]) == 1  # [] is not a task file
    assert main(["intercode", "--from", str(tmp_path / "intercode"), "--out", str(out), "--force"]) == 0


def test_prepare_reports_missing_sources(tmp_path, capsys):
    assert main(["intercode", "--from", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["intercode", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 1
    assert "ic_spider_dev.json not found" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert main(["intercode", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "a_file" / "o")]) == 1
    assert "a_file" in capsys.readouterr().err  # an unwritable --out is a message, not a traceback


def test_prepare_then_check_on_sqlite(tmp_path):
    out = tmp_path / "data"
    assert (
        main(
            ["intercode", "--from", str(_fake_checkout(tmp_path)), "--out", str(out), "--check", "--backend", "sqlite"]
        )
        == 0
    )
