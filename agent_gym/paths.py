"""Where agent-gym finds its packaged files and keeps generated and cached data.

Files read at run time (the ReAct prompts, the run configs, the small SQL
benchmark) live in the repository's ``assets/`` folder. An installed
distribution ships that folder as the package ``agent_gym_assets``
(``pyproject.toml`` maps it), so they are found the same way whether the project
runs from a checkout or from a wheel installed anywhere:

* in a source checkout (``agent_gym`` imported from a folder whose parent holds
  ``pyproject.toml`` and ``assets/``) the checkout's ``assets/`` is used, so an
  edit there takes effect at once;
* otherwise through ``importlib.resources.files("agent_gym_assets")``.
"""

from __future__ import annotations

import importlib.resources
import os
from functools import lru_cache
from pathlib import Path

#: Name of the installed package that holds the repository's ``assets/`` folder.
ASSETS_PACKAGE = "agent_gym_assets"


@lru_cache(maxsize=1)
def assets_root() -> Path:
    """The folder holding ``prompts/``, ``configs/`` and ``sql/`` (see the module docstring)."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "assets" / "__init__.py").is_file():
        return checkout / "assets"
    try:
        root = importlib.resources.files(ASSETS_PACKAGE)
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"agent-gym's data files are missing: neither a source checkout's assets/ folder nor the installed "
            f"package {ASSETS_PACKAGE!r} was found; reinstall with `pip install agent-gym` (or `pip install .` in a checkout)"
        ) from None
    if not isinstance(root, Path):
        raise FileNotFoundError(
            f"agent-gym's data files are inside an archive ({root}); install the package as files (pip install)"
        )
    return root


def asset_path(*parts: str) -> Path:
    """``<assets>/<parts>``, e.g. ``asset_path("prompts", "sql.txt")``; the path may not exist."""
    return assets_root().joinpath(*parts)


def resolve_config(path: str | os.PathLike) -> Path:
    """``path`` when it exists, else the packaged config it names.

    ``assets/configs/hpl_tiny.yaml``, ``configs/hpl_tiny.yaml``, ``hpl_tiny.yaml`` and
    ``hpl_tiny`` all name the packaged ``hpl_tiny.yaml`` (likewise
    ``accelerate/zero3.yaml``), so the commands shown in the README work from any
    folder. A path that is neither is returned unchanged for the caller to report.
    """
    given = Path(path).expanduser()
    if given.exists() or given.is_absolute():
        return given
    parts = list(given.parts)
    for prefix in (["assets", "configs"], ["configs"]):
        if parts[: len(prefix)] == prefix:
            parts = parts[len(prefix) :]
            break
    if not parts:
        return given
    if not parts[-1].endswith((".yaml", ".yml")):
        parts[-1] += ".yaml"
    packaged = asset_path("configs", *parts)
    return packaged if packaged.is_file() else given


def cache_dir(*parts: str) -> Path:
    """``$AGENT_GYM_CACHE/<parts>`` (default ``~/.cache/agent_gym``), created if missing."""
    root = Path(os.environ.get("AGENT_GYM_CACHE") or Path.home() / ".cache" / "agent_gym")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["ASSETS_PACKAGE", "asset_path", "assets_root", "cache_dir", "resolve_config"]
