"""Smoke test of a NON-editable install, run from a folder outside the checkout.

    python tests/smoke_installed.py [--venv DIR] [--envs ID,ID] [--skip ID,ID] [--quick] [--offline-build]

Outside: copies the checkout to a scratch folder (so the build leaves nothing in
the checkout), builds a wheel as ``pip install .`` does, creates a virtual
environment with ``--system-site-packages`` (the heavy dependencies are reused;
the project itself is not) and installs the wheel there (``--no-index``: its
dependencies must already be installed). Then it reruns itself with the venv's Python
(``--inside``) in an empty scratch folder that also holds a decoy ``scripts/``
package, with ``PYTHONPATH`` unset. Inside, it checks that

* ``agent_gym``, ``wrappers``, ``trainers``, ``scripts`` and ``agent_gym_assets``
  are imported from the venv, not from the checkout;
* every file of the checkout's ``assets/`` ships, byte for byte, and
  ``agent_gym.paths`` finds it;
* every registered env id: ``gym.make`` + ``reset`` + one step on its embedded
  data (the ``--skip`` ids are not played, and named in the output);
* ``agent-gym --help``, ``agent-gym COMMAND --help`` for every command,
  ``python -m scripts.X --help``, ``agent-gym evaluate --policy random`` (ALFWorld-Text-v0,
  generated games), ``--policy oracle`` (InterCodeSQL-v0, embedded benchmark) and
  ``agent-gym hpl --config assets/configs/hpl_tiny.yaml --until demos`` (the packaged config) all succeed.

Exit status 0 when all checks pass; the first failure ends it with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent_gym", "wrappers", "trainers", "scripts", "agent_gym_assets")
#: make kwargs for a fast smoke of each id (embedded data)
ENV_KWARGS: dict[str, dict] = {
    "WebShop-Text-v0": {"num_products": 200},
    "WebShop-Browser-v0": {"num_products": 200},
}


#: written into the venv: the system site-packages (reused for the dependencies) may hold an
#: editable install of the checkout, whose import hook would serve files the wheel lacks
SITECUSTOMIZE = """\
# written by tests/smoke_installed.py: forget any editable install of agent-gym that the system
# site-packages brings in, so that this venv sees only the installed wheel
import os
import sys

sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable___agent_gym")]
sys.path[:] = [p for p in sys.path if "__editable__.agent_gym" not in p and os.path.realpath(p or ".") != {checkout!r}]
"""


class SmokeFailure(RuntimeError):
    pass


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise SmokeFailure(f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}:\n    " + "\n    ".join(tail))
    return proc.stdout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def build_and_install(venv: Path, scratch: Path, offline_build: bool = False) -> Path:
    """Build a wheel from a copy of the checkout and install it into a fresh ``venv``; returns the venv's python.

    The build runs in pip's isolated build environment (as ``pip install .`` does) unless
    ``offline_build``, which uses this interpreter's setuptools. The wheel's dependencies
    must already be installed (they come from the system site-packages; nothing is downloaded).
    """
    src = scratch / "src"
    shutil.copytree(
        CHECKOUT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "__pycache__", "*.pyc", "build", "dist", "*.egg-info", "runs", "outputs", ".venv", ".pytest_cache"
        ),
    )
    env = _clean_env()
    wheels = scratch / "wheels"
    isolation = ["--no-build-isolation"] if offline_build else []
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(wheels), str(src)], scratch, env
    )
    (wheel,) = wheels.glob("agent_gym-*.whl")
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], scratch, env)
    python = venv / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], scratch, env).strip()
    )
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(checkout=str(CHECKOUT)))
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--disable-pip-version-check", str(wheel)],
        scratch,
        env,
    )
    print(f"smoke: installed {wheel.name} into {venv}")
    return python


def outside(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="agent-gym-smoke-") as tmp:
        scratch = Path(tmp)
        venv = Path(args.venv).resolve() if args.venv else scratch / "venv"
        try:
            python = build_and_install(venv, scratch, args.offline_build)
            work = scratch / "elsewhere"
            decoy = work / "scripts"
            decoy.mkdir(parents=True)
            (decoy / "__init__.py").write_text(
                "raise ImportError('decoy scripts package of the current folder was imported')\n"
            )
            cmd = [
                str(python),
                str(Path(__file__).resolve()),
                "--inside",
                "--checkout",
                str(CHECKOUT),
                "--skip",
                ",".join(args.skip),
            ]
            if args.envs:
                cmd += ["--envs", ",".join(args.envs)]
            if args.quick:
                cmd.append("--quick")
            proc = subprocess.run(cmd, cwd=work, env=_clean_env(), timeout=1800)
            return proc.returncode
        except (SmokeFailure, subprocess.TimeoutExpired) as exc:
            print(f"smoke: FAILED: {exc}", file=sys.stderr)
            return 1


# ---------------------------------------------------------------- inside the venv
def check_locations(checkout: Path) -> None:
    import importlib

    for name in PACKAGES:
        mod = importlib.import_module(name)
        where = Path(mod.__file__).resolve()
        if not where.is_relative_to(Path(sys.prefix).resolve()) or where.is_relative_to(checkout):
            raise SmokeFailure(f"{name} was imported from {where}, not from the venv {sys.prefix}")
    print(f"smoke: packages import from {sys.prefix}")


def check_assets(checkout: Path) -> None:
    from agent_gym.paths import asset_path, assets_root

    root = assets_root()
    if not root.resolve().is_relative_to(Path(sys.prefix).resolve()):
        raise SmokeFailure(f"assets found at {root}, not in the venv")
    n = 0
    for f in sorted((checkout / "assets").rglob("*")):
        if f.is_dir() or "__pycache__" in f.parts or f.suffix == ".pyc":
            continue
        rel = f.relative_to(checkout / "assets")
        shipped = asset_path(*rel.parts)
        if not shipped.is_file():
            raise SmokeFailure(
                f"assets/{rel} is not in the installed package (add its pattern to "
                "[tool.setuptools.package-data] agent_gym_assets in pyproject.toml)"
            )
        if shipped.read_bytes() != f.read_bytes():
            raise SmokeFailure(f"installed {shipped} differs from assets/{rel}")
        n += 1
    print(f"smoke: all {n} asset files ship in {root}")


def check_envs(only: list[str], skip: list[str]) -> None:
    import gymnasium as gym

    import agent_gym

    ids = only or list(agent_gym.ENV_IDS)
    for env_id in ids:
        if env_id in skip:
            print(f"smoke: {env_id}: skipped (--skip)")
            continue
        t0 = time.perf_counter()
        env = gym.make(env_id, expert=True, **ENV_KWARGS.get(env_id, {}))
        try:
            obs, info = env.reset(seed=0)
            action = info.get("expert_action") or (info.get("available_actions") or ["look"])[0]
            obs2, reward, terminated, truncated, info2 = env.step(action)
        finally:
            env.close()
        if not isinstance(obs, str) or not isinstance(obs2, str) or not info2.get("action_valid", True):
            raise SmokeFailure(f"{env_id}: unexpected reset/step result for action {action!r}: {obs2[:200]!r}")
        fps = env.unwrapped.metadata.get("render_fps")
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise SmokeFailure(f"{env_id}: metadata lacks a positive render_fps: {env.unwrapped.metadata}")
        print(f"smoke: {env_id}: reset + step({action!r}) ok in {time.perf_counter() - t0:.1f}s")


def check_commands(quick: bool) -> None:
    from scripts.cli import available_commands

    bindir = Path(sys.executable).parent
    exe = shutil.which("agent-gym", path=str(bindir))
    if exe is None:
        raise SmokeFailure(f"the agent-gym console script is not in {bindir}")
    here, env = Path.cwd(), _clean_env()
    if "decoy" not in (here / "scripts" / "__init__.py").read_text():
        raise SmokeFailure("run the inside check from the scratch folder with the decoy scripts/ package")
    out = _run([exe, "--help"], here, env)
    cmds = available_commands()
    missing = [c for c in cmds if c not in out]
    if missing:
        raise SmokeFailure(f"agent-gym --help does not list {missing}")
    for name in cmds:
        out = _run([exe, name, "--help"], here, env)
        if f"agent-gym {name}" not in out:
            raise SmokeFailure(f"agent-gym {name} --help does not show its usage:\n{out[:300]}")
    print(f"smoke: agent-gym --help and COMMAND --help for {', '.join(cmds)} (from a folder with its own scripts/)")
    # python -m scripts.X from a folder without its own scripts/ package
    plain = here / "plain"
    plain.mkdir(exist_ok=True)
    for module, _ in [] if quick else cmds.values():
        _run([sys.executable, "-m", f"scripts.{module}", "--help"], plain, env)
    if not quick:
        print("smoke: python -m scripts.X --help ok for every command")
    for env_id, policy in (("ALFWorld-Text-v0", "random"), ("InterCodeSQL-v0", "oracle")):
        out_json = here / "eval" / f"{env_id}_{policy}.json"
        _run(
            [
                exe,
                "evaluate",
                "--env",
                env_id,
                "--policy",
                policy,
                "--episodes",
                "3",
                "--num-envs",
                "1",
                "--quiet",
                "--out",
                str(out_json),
            ],
            here,
            env,
        )
        report = json.loads(out_json.read_text())
        if report.get("episodes") != 3:
            raise SmokeFailure(
                f"agent-gym evaluate --env {env_id} --policy {policy} reported {report.get('episodes')} episodes, not 3"
            )
        print(
            f"smoke: agent-gym evaluate --env {env_id} --policy {policy}: {report['episodes']} episodes, "
            f"success rate {report['success_rate']:.2f}"
        )
    run_dir = here / "runs" / "hpl_tiny"
    _run(
        [
            exe,
            "hpl",
            "--config",
            "assets/configs/hpl_tiny.yaml",
            "--until",
            "demos",
            "--run-dir",
            str(run_dir),
            "--quiet",
        ],
        here,
        env,
    )
    demos = (run_dir / "demos" / "expert_conversations.jsonl").read_text().splitlines()
    if not demos:
        raise SmokeFailure("agent-gym hpl --until demos wrote no demonstrations")
    print(
        f"smoke: agent-gym hpl --config assets/configs/hpl_tiny.yaml (the packaged config) --until demos: {len(demos)} demonstrations"
    )


def inside(args: argparse.Namespace) -> int:
    checkout = Path(args.checkout).resolve()
    try:
        if any(Path(p or ".").resolve() == checkout for p in sys.path):
            raise SmokeFailure(f"the checkout {checkout} is on sys.path")
        check_locations(checkout)
        check_assets(checkout)
        check_envs(args.envs, args.skip)
        check_commands(args.quick)
        strays = sorted(
            name
            for name, mod in list(sys.modules.items())
            if getattr(mod, "__file__", None)
            and Path(mod.__file__).resolve().is_relative_to(checkout)
            and Path(mod.__file__).resolve() != Path(__file__).resolve()
        )
        if strays:
            raise SmokeFailure(f"modules were imported from the checkout: {strays[:5]}")
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print("smoke: installed package OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    def ids(text: str) -> list[str]:
        return [s for s in text.split(",") if s]

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", help="where to create the virtual environment (default: a scratch folder, removed after)")
    p.add_argument("--envs", type=ids, default=[], help="comma-separated env ids to play (default: all registered)")
    p.add_argument("--skip", type=ids, default=[], help="comma-separated env ids not to play (default: none)")
    p.add_argument("--quick", action="store_true", help="skip the python -m scripts.X --help runs")
    p.add_argument(
        "--offline-build",
        action="store_true",
        help="build with this interpreter's setuptools instead of pip's isolated build (no download)",
    )
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--checkout", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return inside(args) if args.inside else outside(args)


if __name__ == "__main__":
    sys.exit(main())
