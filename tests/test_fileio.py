"""``agent_gym.fileio``: atomic writes leave the old file or the whole new one, never a temp file."""

from __future__ import annotations

import json

import pytest

from agent_gym.fileio import atomic_dir, atomic_path, atomic_write_json, atomic_write_jsonl


def test_atomic_writes_replace_and_clean_up(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"x": "é"}, ensure_ascii=False)
    assert json.loads(target.read_text(encoding="utf-8")) == {"x": "é"}
    atomic_write_jsonl(tmp_path / "rows.jsonl", [{"i": 0}, {"i": 1}])
    assert (tmp_path / "rows.jsonl").read_text().splitlines() == ['{"i": 0}', '{"i": 1}']
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path  # savefig picks the format from the suffix
        tmp.write_bytes(b"png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "rows.jsonl", "sub"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    final = tmp_path / "ckpt"
    (final).mkdir()
    (final / "stale").write_text("x")
    with atomic_dir(final) as tmp:
        assert not tmp.name.startswith("ckpt")  # hidden while incomplete
        (tmp / "model").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["model"]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # the old folder, set aside, is gone too
    with pytest.raises(ValueError):
        with atomic_dir(final) as tmp:
            (tmp / "model").write_text("broken")
            raise ValueError
    assert (final / "model").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_atomic_dir_without_replace_keeps_a_full_folder(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "mine").write_text("keep")
    with pytest.raises(OSError):
        with atomic_dir(final, replace=False) as tmp:
            (tmp / "config.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["mine"] and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_written_files_get_the_usual_mode(tmp_path):
    """mkstemp makes 0600 files; results must get the mode open() would give them."""
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    atomic_write_json(tmp_path / "r.json", {"a": 1})
    atomic_write_jsonl(tmp_path / "r.jsonl", [{"a": 1}])
    for name in ("r.json", "r.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask
    with atomic_dir(tmp_path / "d") as d:
        (d / "x").write_text("1")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask
