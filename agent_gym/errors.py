"""Exceptions with messages that tell the user what to do."""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class of every error agent-gym raises on purpose."""


class DataNotFoundError(AgentGymError, FileNotFoundError):
    """A benchmark's data directory or file is missing (the message names the ``prepare`` command)."""


class InvalidTaskError(AgentGymError, KeyError, ValueError):
    """An unknown task id or index was asked for."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class GameLoadError(AgentGymError, RuntimeError):
    """A game/task file could not be loaded (the message names the file)."""


class BackendUnavailableError(AgentGymError, RuntimeError):
    """A server, browser or other backend cannot be reached or started."""


class MissingDependencyError(AgentGymError, ImportError):
    """An optional dependency is not installed (the message names the pip extra)."""


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``pip install agent-gym[extra]``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError(
            f"{module!r} is not installed; install it with: pip install 'agent-gym[{extra}]'"
        ) from exc
