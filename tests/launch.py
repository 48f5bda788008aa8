"""Run a command under ``accelerate launch`` from a test (several CPU processes over gloo)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from trainers.distributed import launch_command

REPO = Path(__file__).resolve().parents[1]


def launch_env(**extra: str) -> dict[str, str]:
    """This environment, with one thread per process, the repository importable, no downloads, plus ``extra``."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def launch(
    args: Sequence[str],
    *,
    processes: int = 2,
    config_file: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run ``args`` (a script or ``-m module`` and its arguments) under ``accelerate launch`` from the
    repository root (:func:`trainers.distributed.launch_command`); the launcher gets its own process
    group, so a hang past ``timeout`` is killed with its workers (and ``TimeoutExpired`` raised)."""
    cmd = launch_command(args, processes=processes, config_file=config_file)
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env if env is not None else launch_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def hgpo_launch_args(run_dir: str | os.PathLike, *more: str) -> list[str]:
    """``scripts.hgpo`` arguments of a two-iteration run of the tiny CPU config through accelerate
    (no evaluation) into ``run_dir``, then ``more``."""
    return [
        "-m",
        "scripts.hgpo",
        "--config",
        str(REPO / "assets/configs/hgpo_tiny_cpu.yaml"),
        "--set",
        "use_accelerate=true",
        "--set",
        "eval_every=0",
        "--iterations",
        "2",
        "--run-dir",
        str(run_dir),
        *more,
    ]
