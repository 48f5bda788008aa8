"""Packaging: the wheel ships assets/ as agent_gym_assets, the agent-gym command, the metadata.

The full check of a NON-editable install (a fresh venv, every env and command run from
another folder) is ``tests/smoke_installed.py``, which ``.ci/run`` runs before pytest.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
from packaging.specifiers import SpecifierSet

import agent_gym
from agent_gym.paths import asset_path, assets_root, resolve_config
from scripts import cli

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _asset_files() -> list[Path]:
    return sorted(
        p.relative_to(REPO / "assets")
        for p in (REPO / "assets").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built (offline, with the installed setuptools) from a copy of the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(
        REPO, src, ignore=shutil.ignore_patterns(".git", "__pycache__", "build", "dist", "*.egg-info", "runs")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp / "out"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp / "out").glob("agent_gym-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_every_package_is_listed():
    """pyproject lists packages by hand (assets/ is mapped); a new subpackage must not be left out."""
    from setuptools import find_packages

    found = set(find_packages(str(REPO), include=["agent_gym*", "wrappers*", "trainers*", "scripts*"]))
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert found - listed == set(), "add these packages to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"agent_gym_assets"}
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"agent_gym_assets": "assets"}


def test_wheel_ships_every_asset_and_the_command(wheel):
    names = set(wheel.namelist())
    for rel in _asset_files():
        name = f"agent_gym_assets/{rel.as_posix()}"
        assert name in names, f"{name} is missing from the wheel"
        assert wheel.read(name) == (REPO / "assets" / rel).read_bytes()
    assert not any(n.startswith("assets/") for n in names)  # no top-level 'assets' package in site-packages
    assert "agent_gym/webshop/data/splits.json" in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "agent-gym = scripts.cli:main" in entry_points
    meta = email.message_from_bytes(wheel.read(f"{dist_info}/METADATA"))
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert "Programming Language :: Python :: 3.11" in meta.get_all("Classifier")


def test_python_classifiers_match_the_tested_range():
    """requires-python is the range CI tests (this interpreter), and the classifiers name exactly its versions."""
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert here in spec, f"the tests run on Python {here}, outside requires-python {spec}"
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    allowed = {f"3.{m}" for m in range(8, 20) if f"3.{m}" in spec}
    assert classified == allowed


def test_assets_are_found_through_agent_gym_paths():
    root = assets_root()
    assert root == REPO / "assets"  # a checkout reads its own assets/, so edits take effect at once
    for rel in _asset_files():
        assert asset_path(*rel.parts).read_bytes() == (REPO / "assets" / rel).read_bytes()
    from agent_gym.sql.tasks import ASSETS_DIR
    from wrappers.prompting import PROMPT_DIR

    assert ASSETS_DIR == root / "sql" and PROMPT_DIR == root / "prompts"


def test_config_names_resolve_to_the_packaged_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a folder with no assets/ of its own
    tiny = asset_path("configs", "hpl_tiny.yaml")
    for name in ("assets/configs/hpl_tiny.yaml", "configs/hpl_tiny.yaml", "hpl_tiny.yaml", "hpl_tiny"):
        assert resolve_config(name) == tiny
    assert resolve_config("accelerate/zero3.yaml") == asset_path("configs", "accelerate", "zero3.yaml")
    (tmp_path / "hpl_tiny.yaml").write_text("method: sft\n")  # a file of the user's wins
    assert resolve_config("hpl_tiny.yaml") == Path("hpl_tiny.yaml")
    assert resolve_config("nope.yaml") == Path("nope.yaml")

    from trainers.hgpo.config import load_config as load_hgpo
    from trainers.hpl.config import load_config as load_hpl

    assert load_hpl("assets/configs/hpl_tiny.yaml").env.env_id == "ALFWorld-Text-v0"
    assert load_hgpo("hgpo_tiny_cpu").run_dir == "runs/hgpo_tiny_cpu"
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_hpl("nope.yaml")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_hgpo("nope.yaml")


def test_render_fps_in_every_env_metadata():
    for env_id in agent_gym.ENV_IDS:
        cls = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
        fps = cls.metadata.get("render_fps")
        assert isinstance(fps, int) and fps > 0, env_id
        assert "ansi" in cls.metadata["render_modes"]


# ---------------------------------------------------------------- the agent-gym command
def test_agent_gym_help_lists_the_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("evaluate", "hpl", "hgpo", "prepare", "serve-webshop", "make-tiny-model"):
        assert f"  {name} " in out
    assert cli.main([]) == 2  # no command: the same text, failure status


@pytest.mark.parametrize("name", sorted(cli.available_commands()))
def test_every_command_has_help_under_its_agent_gym_name(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: agent-gym {name}")
    # the same parser run as `python -m scripts.X` keeps that name
    module = __import__(f"scripts.{cli.COMMANDS[name][0]}", fromlist=["main"])
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert capsys.readouterr().out.startswith(f"usage: python -m scripts.{cli.COMMANDS[name][0]}")


def test_unknown_command_is_one_line(capsys):
    assert cli.main(["evalute"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown command 'evalute'" in err and "evaluate" in err


def test_a_command_is_offered_only_when_its_module_exists(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "get-model", ("no_such_module", "download a model"))
    assert "get-model" not in cli.available_commands() and "evaluate" in cli.available_commands()
    assert cli.main(["get-model", "--help"]) == 2
    assert "unknown command 'get-model'" in capsys.readouterr().err


def test_commands_run_through_the_cli(tmp_path, capsys):
    """`agent-gym evaluate` runs the real script: the oracle on the embedded SQL benchmark."""
    out = tmp_path / "sql_oracle.json"
    assert (
        cli.main(
            [
                "evaluate",
                "--env",
                "InterCodeSQL-v0",
                "--policy",
                "oracle",
                "--episodes",
                "2",
                "--num-envs",
                "1",
                "--env-arg",
                "backend=sqlite",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert '"success_rate": 1.0' in out.read_text()


def test_python_m_scripts_runs_the_cli(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scripts", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "make-tiny-model" in proc.stdout
