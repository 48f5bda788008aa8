"""Scene material that the ``alfworld`` wheel ships, read once and cached.

``alfworld/gen/layouts/FloorPlanN-objects.json`` (object classes present in a
scene), ``FloorPlanN-openable.json`` (receptacle ids and the agent pose to
interact with them), ``FloorPlanN-layout.npy`` (navigable points),
``alfworld/gen/constants.py`` (what each receptacle may contain, which objects
are cleanable/heatable/coolable...), ``alfworld/gen/goal_library.py`` (goal PDDL
and task sentences) and ``alfworld/data/alfred.{pddl,twl2}`` (domain, grammar).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from agent_gym.errors import require

#: scene number ranges per room type (as in alfworld.gen.constants.SCENE_TYPE)
ROOM_OF_RANGE = {
    "Kitchen": range(1, 31),
    "LivingRoom": range(201, 231),
    "Bedroom": range(301, 331),
    "Bathroom": range(401, 431),
}


@dataclass(frozen=True)
class Wheel:
    """Everything the generator reads from the installed ``alfworld`` package."""

    layouts: Path
    domain: str
    grammar: str
    goals: dict  #: goal_library.gdict
    receptacle_objects: dict[str, frozenset[str]]  #: VAL_RECEPTACLE_OBJECTS
    action_objects: dict[str, frozenset[str]]  #: VAL_ACTION_OBJECTS
    openable_classes: frozenset[str]
    movable_receptacles: frozenset[str]
    goal_rooms: dict[str, frozenset[str]]  #: GOALS_VALID
    object_classes: tuple[str, ...]  #: OBJECTS


@functools.lru_cache(maxsize=1)
def wheel() -> Wheel:
    """Load the wheel's generation files (raises MissingDependencyError without alfworld)."""
    alfworld = require("alfworld", "alfworld")
    constants = require("alfworld.gen.constants", "alfworld")
    goal_library = require("alfworld.gen.goal_library", "alfworld")
    root = Path(alfworld.__file__).resolve().parent
    return Wheel(
        layouts=root / "gen" / "layouts",
        domain=(root / "data" / "alfred.pddl").read_text(),
        grammar=(root / "data" / "alfred.twl2").read_text(),
        goals=dict(goal_library.gdict),
        receptacle_objects={k: frozenset(v) for k, v in constants.VAL_RECEPTACLE_OBJECTS.items()},
        action_objects={k: frozenset(v) for k, v in constants.VAL_ACTION_OBJECTS.items()},
        openable_classes=frozenset(constants.OPENABLE_CLASS_LIST),
        movable_receptacles=frozenset(constants.MOVABLE_RECEPTACLES),
        goal_rooms={k: frozenset(v) for k, v in constants.GOALS_VALID.items()},
        object_classes=tuple(o for o in constants.OBJECTS if "Sliced" not in o),
    )


def room_of(scene: int) -> str:
    for room, numbers in ROOM_OF_RANGE.items():
        if scene in numbers:
            return room
    raise ValueError(f"scene {scene} is not an ALFRED floor plan number")


@dataclass(frozen=True)
class Layout:
    """One floor plan: classes present, receptacle poses, navigable points."""

    scene: int
    classes: frozenset[str]
    receptacle_poses: dict[
        str, tuple[float, float, int, int]
    ]  #: "Cabinet|+00.68|+00.50|-02.20" -> (x, z, rot, horizon)
    points: tuple[tuple[float, float], ...]


@functools.cache
def layout(scene: int) -> Layout:
    """Read ``FloorPlan<scene>-*`` from the wheel."""
    import numpy as np

    base = wheel().layouts / f"FloorPlan{scene}"
    try:
        classes = frozenset(json.loads(Path(f"{base}-objects.json").read_text()))
        poses = json.loads(Path(f"{base}-openable.json").read_text())
        points = np.load(f"{base}-layout.npy")
    except FileNotFoundError as exc:
        raise ValueError(f"FloorPlan{scene} is not shipped by the alfworld wheel ({exc.filename})") from None
    return Layout(
        scene=scene,
        classes=classes,
        receptacle_poses={k: (float(v[0]), float(v[1]), int(v[2]), int(v[3])) for k, v in sorted(poses.items())},
        points=tuple((float(x), float(z)) for x, z in points.tolist()),
    )


@functools.lru_cache(maxsize=1)
def scenes() -> tuple[int, ...]:
    """Floor plan numbers that have all three layout files."""
    out = []
    for path in sorted(wheel().layouts.glob("FloorPlan*-objects.json")):
        num = int(path.name[len("FloorPlan") :].split("-")[0])
        if (wheel().layouts / f"FloorPlan{num}-openable.json").exists() and (
            wheel().layouts / f"FloorPlan{num}-layout.npy"
        ).exists():
            out.append(num)
    return tuple(sorted(out))
