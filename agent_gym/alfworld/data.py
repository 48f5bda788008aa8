"""Where ALFWorld games live: data-dir resolution, split listing and task types.

The data root is the folder that holds ``json_2.1.1/<split>/<task>/<trial>/game.tw-pddl``
(what ``alfworld-download`` and ``python -m scripts.prepare alfworld`` produce).
It comes from ``data_dir=``, else the ``ALFWORLD_DATA`` environment variable,
else generated offline games (:func:`agent_gym.alfworld.generator.ensure_generated`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from agent_gym.errors import DataNotFoundError

#: The official splits (``valid_train`` is a subset of train used for evaluation).
SPLITS = ("train", "valid_seen", "valid_unseen", "valid_train")

#: The six ALFWorld task types, in alfworld's own order.
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

GAME_FILE = "game.tw-pddl"
PREPARE_HINT = "python -m scripts.prepare alfworld"
ENV_VAR = "ALFWORLD_DATA"

# Importing the alfworld package sets ALFWORLD_DATA to this folder (and creates
# it) when unset; an empty folder there is alfworld's doing, not the user's.
_ALFWORLD_DEFAULT = Path("~/.cache/alfworld").expanduser()


def env_data_root() -> Path | None:
    """The root named by ``ALFWORLD_DATA``, or None when unset.

    alfworld's own import sets the variable to ``~/.cache/alfworld`` behind the
    user's back; that value counts as unset unless the folder holds games.
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    if path.resolve() == _ALFWORLD_DEFAULT.resolve() and not (path / "json_2.1.1").is_dir():
        return None
    return path


def split_dir(root: str | os.PathLike, split: str) -> Path:
    """``<root>/json_2.1.1/<split>`` (``root`` may also be the ``json_2.1.1`` folder itself).

    Raises :class:`DataNotFoundError` naming the prepare command when it is
    missing or holds no games.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; use one of {', '.join(SPLITS)}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(
            f"ALFWorld data directory {root} does not exist; get the games with `{PREPARE_HINT} --data-dir {root}` "
            f"(or unpack an archive you have with `{PREPARE_HINT} --data-dir {root} --from ARCHIVE`)"
        )
    for candidate in (root / "json_2.1.1" / split, root / split):
        if candidate.is_dir():
            if next(candidate.rglob(GAME_FILE), None) is None:
                raise DataNotFoundError(
                    f"no {GAME_FILE} files under {candidate}; get the games with `{PREPARE_HINT} --data-dir {root}`"
                )
            return candidate
    raise DataNotFoundError(
        f"ALFWorld split {split!r} not found under {root} (expected {root / 'json_2.1.1' / split}); "
        f"get it with `{PREPARE_HINT} --data-dir {root} --splits {split}`"
    )


def list_games(folder: str | os.PathLike) -> dict[str, Path]:
    """Task id -> game file for every ``game.tw-pddl`` under a split folder, ids sorted.

    A task id is the game's folder relative to the split folder, with ``/``
    separators (``pick_and_place_simple-Book-None-SideTable-329/trial_T2019...``).
    """
    folder = Path(folder)
    games = {}
    for dirpath, _dirs, files in os.walk(folder, followlinks=True):
        if GAME_FILE in files:
            path = Path(dirpath) / GAME_FILE
            check_game_file(path)
            games[path.parent.relative_to(folder).as_posix()] = path
    return dict(sorted(games.items()))


def check_game_file(path: Path) -> None:
    """Raise :class:`DataNotFoundError` (one line, naming the file) unless ``path`` is a readable file.

    A dangling symlink would otherwise drop the game from the split without a word.
    """
    if path.is_file():
        return
    if path.is_symlink():
        raise DataNotFoundError(
            f"ALFWorld game {path} is a dangling symlink (to {os.readlink(path)}); "
            "restore its target or remove the link"
        )
    raise DataNotFoundError(f"ALFWorld game file {path} does not exist or is not a file")


def ids_for_files(files: Iterable[str | os.PathLike]) -> dict[str, Path]:
    """Task ids for an explicit list of game files.

    The id is ``<task folder>/<trial folder>`` (the official layout's last two
    folders) when those are unique in the list, else the game's absolute folder.
    """
    paths = [Path(f).expanduser() for f in files]
    if not paths:
        raise ValueError("game_files is empty; pass at least one game.tw-pddl path")
    for p in paths:
        check_game_file(p)
    short = ["/".join(p.resolve().parent.parts[-2:]) for p in paths]
    if len(set(short)) == len(short):
        ids = short
    else:
        ids = [p.resolve().parent.as_posix() for p in paths]
        if len(set(ids)) != len(ids):
            raise ValueError("game_files lists the same game twice")
    return dict(sorted(zip(ids, paths)))


def task_type_of(task_id: str) -> str | None:
    """The task type named by the first folder of a task id (None when it names none)."""
    head = task_id.split("/", 1)[0]
    for part in reversed(Path(task_id).parts):  # absolute ids: look at the task folder
        if any(part.startswith(t + "-") or part == t for t in TASK_TYPES):
            head = part
            break
    name = head.split("-", 1)[0]
    return name if name in TASK_TYPES else None
