"""Experiment tracking for every trainer: TensorBoard, Weights & Biases or trackio, through Accelerate's trackers.

``report_to`` (a config key of HPL and HGPO) names the trackers: ``none`` (default), one name,
several (a list, or comma-separated), or ``all`` (every supported tracker that is installed). :class:`Tracker` opens them
with Accelerate's tracker classes (``accelerate.tracking``), stores the run's config once and
logs each metric row with its step number; it does nothing when ``report_to`` is empty and on
processes other than the main one. HPL's SFT stage goes through TRL's own ``report_to``
(:func:`trl_tracking`), writing TensorBoard events to the same folder layout:
``<run_dir>/tracking/<stage>``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

#: supported trackers -> the package that provides each
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}


def resolve_report_to(value: str | Sequence[str] | None) -> list[str]:
    """The tracker names of a ``report_to`` value; unknown or uninstalled ones raise ``ValueError``."""
    if value is None:
        return []
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    if names in ([], ["none"]):
        return []
    if names == ["all"]:
        return [n for n, pkg in TRACKERS.items() if importlib.util.find_spec(pkg) is not None]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise ValueError(f"report_to: unknown tracker(s) {unknown}; use none, all or any of {sorted(TRACKERS)}")
    missing = [n for n in names if importlib.util.find_spec(TRACKERS[n]) is None]
    if missing:
        raise ValueError(f"report_to {missing} needs: pip install {' '.join(TRACKERS[n] for n in missing)}")
    return names


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"a.b": scalar}`` (lists and other values as strings), what trackers store."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_config(value, f"{name}."))
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[name] = value if value is not None else "null"
        else:
            out[name] = str(value)
    return out


class Tracker:
    """Metric rows to the trackers named by ``report_to``.

    Args:
        report_to: see :func:`resolve_report_to`.
        logging_dir: where file-based trackers (TensorBoard) write; e.g. ``<run_dir>/tracking/<stage>``.
        run_name: the run's name in the dashboard.
        config: the run's settings, stored once (flattened).
        is_main: only the main process of a multi-process run writes.
    """

    def __init__(
        self,
        report_to: str | Sequence[str] | None,
        logging_dir: str | os.PathLike,
        run_name: str,
        config: Mapping[str, Any] | None = None,
        is_main: bool = True,
    ):
        self.names = resolve_report_to(report_to) if is_main else []
        self.trackers: list[Any] = []
        if not self.names:
            return
        from accelerate.tracking import LOGGER_TYPE_TO_CLASS

        Path(logging_dir).mkdir(parents=True, exist_ok=True)
        for name in self.names:
            cls = LOGGER_TYPE_TO_CLASS[name]
            tracker = cls(run_name, str(logging_dir)) if cls.requires_logging_directory else cls(run_name)
            tracker.start()
            if config is not None:
                tracker.store_init_configuration(flat_config(config))
            self.trackers.append(tracker)

    @property
    def active(self) -> bool:
        return bool(self.trackers)

    def log(self, row: Mapping[str, Any], step: int) -> None:
        """Log the numeric values of ``row`` at ``step`` (a global step: optimizer step or iteration)."""
        if not self.trackers:
            return
        values = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for tracker in self.trackers:
            tracker.log(values, step=int(step))

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


@contextlib.contextmanager
def trl_tracking(report_to: str | Sequence[str] | None, logging_dir: str | os.PathLike) -> Iterator[list[str]]:
    """The ``report_to`` list for TRL's ``SFTConfig``, with TensorBoard pointed at ``logging_dir``.

    transformers' TensorBoard callback reads ``TENSORBOARD_LOGGING_DIR`` (else it writes inside the
    trainer's output folder, which is temporary here); it is set for the duration of the block.
    """
    names = resolve_report_to(report_to)
    old = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if "tensorboard" in names:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(logging_dir)
    try:
        yield names
    finally:
        if "tensorboard" in names:
            if old is None:
                os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
            else:
                os.environ["TENSORBOARD_LOGGING_DIR"] = old


__all__ = ["TRACKERS", "Tracker", "flat_config", "resolve_report_to", "trl_tracking"]
