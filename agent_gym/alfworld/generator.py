"""Offline procedural ALFWorld games, built only from files the ``alfworld`` wheel ships.

A game is a room from ``alfworld/gen/layouts`` (receptacles at their recorded
poses; receptacle classes without a recorded pose get a navigable point),
filled with object instances of the classes that scene holds, placed where
``alfworld.gen.constants`` says they fit, and a goal from
``alfworld.gen.goal_library`` for one of the six task types. It is written in
the official ``game.tw-pddl`` format (the wheel's ``alfred.pddl`` and
``alfred.twl2``), with the oracle's solution as ``walkthrough``.

Generated worlds are NOT the official ALFWorld splits; scores on them are not
comparable to published numbers.

    python -m agent_gym.alfworld.generator --out DIR --num-games 60 --seed 0 --split valid_seen
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agent_gym.alfworld.facts import Fact, parse_problem_facts
from agent_gym.alfworld.gen_scene import Layout, layout, room_of, scenes, wheel
from agent_gym.alfworld.gen_simulate import ActionFailed, FactWorld, goal_holds
from agent_gym.alfworld.oracle import AGENT, TASK_TYPES, ALFWorldOracle, entity_names

#: Bump when generated content changes (part of the cache folder name).
GENERATOR_VERSION = "v1"
#: Steps the oracle may use on a kept game.
MAX_ORACLE_STEPS = 30
#: Default number of games per split for :func:`ensure_generated`.
DEFAULT_SPLIT_SIZES = {"train": 300, "valid_seen": 60, "valid_unseen": 60, "valid_train": 60}
#: Disjoint seed ranges per split.
SPLIT_SEED_BASE = {"train": 1_000_000, "valid_seen": 2_000_000, "valid_unseen": 3_000_000, "valid_train": 4_000_000}

_PROCESS_TOOL = {
    "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
    "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
    "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
}
_LAMP = "DeskLamp"
_LAMP_HOLDERS = ("Desk", "SideTable", "Dresser", "Shelf", "Nightstand", "CoffeeTable", "DiningTable")
_VERB = {
    "goto": "go to {0}",
    "open": "open {0}",
    "take": "take {0} from {1}",
    "put": "move {0} to {1}",
    "clean": "clean {0} with {1}",
    "heat": "heat {0} with {1}",
    "cool": "cool {0} with {1}",
    "use": "use {0}",
}


class GenerationError(ValueError):
    """No valid game could be generated for the requested seed/type/floor plan."""


class _Retry(Exception):
    pass


# ---------------------------------------------------------------------------- ids
def escape_id(raw: str) -> str:
    """ALFRED id -> PDDL id: ``Apple|-00.14|+00.96`` -> ``Apple_bar__minus_00_dot_14_bar__plus_00_dot_96``."""
    return (
        raw.replace("|", "_bar_")
        .replace("-", "_minus_")
        .replace("+", "_plus_")
        .replace(".", "_dot_")
        .replace(",", "_comma_")
    )


def _loc_id(x: float, z: float, rot: int, horizon: int) -> str:
    return escape_id(f"loc|{round(x / 0.25)}|{round(z / 0.25)}|{int(rot) // 90 % 4}|{int(horizon)}")


def _coord_id(cls: str, x: float, y: float, z: float) -> str:
    return f"{cls}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"


def _coords(raw: str) -> tuple[float, float, float]:
    parts = raw.split("|")
    try:
        return float(parts[1]), float(parts[2]), float(parts[3])
    except (IndexError, ValueError):
        return 0.0, 0.0, 0.0


def _parse_floorplan(floorplan: str | int | None) -> int | None:
    if floorplan is None:
        return None
    text = str(floorplan).strip()
    if text.lower().startswith("floorplan"):
        text = text[len("floorplan") :]
    try:
        return int(text)
    except ValueError:
        raise GenerationError(f"floorplan must look like 'FloorPlan8' or '8', got {floorplan!r}") from None


# ---------------------------------------------------------------------------- scene building
class _Room:
    """Receptacle instances of one floor plan."""

    def __init__(self, lay: Layout, rng: random.Random):
        w = wheel()
        static = {c for c in w.receptacle_objects if c not in w.movable_receptacles}
        self.rec_class: dict[str, str] = {}  # raw id -> class
        self.rec_loc: dict[str, str] = {}  # raw id -> loc id
        self.fixtures: list[tuple[str, str, str]] = []  # (raw id, class, loc) of non-receptacle fixtures (Sink)
        for raw, (x, z, rot, hor) in lay.receptacle_poses.items():
            parts = raw.split("|")
            cls = parts[-1] if len(parts) == 5 else parts[0]  # Sink|x|y|z|SinkBasin -> SinkBasin
            if cls not in static:
                continue
            loc = _loc_id(x, z, rot, hor)
            self.rec_class[raw] = cls
            self.rec_loc[raw] = loc
            if len(parts) == 5 and parts[0] in lay.classes:
                self.fixtures.append(("|".join(parts[:4]), parts[0], loc))
        have = set(self.rec_class.values())
        points = list(lay.points)
        for cls in sorted(lay.classes & static - have):
            if not points:
                break
            x, z = points[rng.randrange(len(points))]
            rot, hor = rng.randrange(4) * 90, rng.choice((0, 30, 60))
            count = rng.randint(2, 4) if cls == "StoveBurner" else 1
            for k in range(count):
                raw = _coord_id(cls, x + 0.3 * (k % 2) - 0.15, rng.uniform(0.5, 1.0), z + 0.3 * (k // 2) - 0.15)
                self.rec_class[raw] = cls
                self.rec_loc[raw] = _loc_id(x, z, rot, hor)
        self.points = points

    def of_class(self, cls: str) -> list[str]:
        return sorted(r for r, c in self.rec_class.items() if c == cls)

    def containers(self, obj_cls: str, exclude: Iterable[str] = ()) -> list[str]:
        ro = wheel().receptacle_objects
        banned = set(exclude)
        return sorted(r for r, c in self.rec_class.items() if obj_cls in ro.get(c, ()) and c not in banned)


def _pickupable_classes(lay: Layout, room: _Room) -> list[str]:
    w = wheel()
    containable = set().union(*w.receptacle_objects.values())
    rec_classes = set(room.rec_class.values())
    return sorted(
        c
        for c in lay.classes
        if c in containable
        and c in w.object_classes
        and c not in rec_classes
        and c != _LAMP
        and "Lamp" not in c
        and room.containers(c)
    )


def _choose_task(task_type: str, lay: Layout, room: _Room, rng: random.Random) -> tuple[str, str | None]:
    """Pick (object class, receptacle class) for ``task_type`` in this room, or raise _Retry."""
    w = wheel()
    objs = _pickupable_classes(lay, room)
    if task_type == "look_at_obj_in_light":
        if _LAMP not in lay.classes or not any(room.of_class(h) for h in _LAMP_HOLDERS):
            raise _Retry
        if not objs:
            raise _Retry
        return rng.choice(objs), None
    banned: set[str] = set()
    if task_type in _PROCESS_TOOL:
        ability, tool = _PROCESS_TOOL[task_type]
        if not room.of_class(tool):
            raise _Retry
        objs = [o for o in objs if o in w.action_objects[ability]]
        banned = {tool}
    rng.shuffle(objs)
    for obj in objs:
        recs = sorted(
            {c for c in room.rec_class.values() if obj in w.receptacle_objects.get(c, ()) and c not in banned}
        )
        rng.shuffle(recs)
        for rec in recs:
            # the objects must start somewhere that is not a goal receptacle
            if room.containers(obj, exclude={rec}):
                return obj, rec
    raise _Retry


def _build(seed: int, task_type: str, scene: int, rng: random.Random) -> dict[str, Any]:
    w = wheel()
    lay = layout(scene)
    room = _Room(lay, rng)
    if not room.rec_class:
        raise _Retry
    obj_cls, rec_cls = _choose_task(task_type, lay, room, rng)

    objects: dict[str, tuple[str, str]] = {}  # raw id -> (class, receptacle raw id)

    def place(cls: str, choices: list[str]) -> None:
        rec = choices[rng.randrange(len(choices))]
        x, y, z = _coords(rec)
        for _ in range(20):
            raw = _coord_id(cls, x + rng.uniform(-0.6, 0.6), y + rng.uniform(0.0, 0.3), z + rng.uniform(-0.6, 0.6))
            if raw not in objects:
                objects[raw] = (cls, rec)
                return

    low, high = (2, 3) if task_type == "pick_two_obj_and_place" else (1, 3)
    target_homes = room.containers(obj_cls, exclude={rec_cls} if rec_cls else ())
    for _ in range(rng.randint(low, high)):
        place(obj_cls, target_homes)
    for cls in _pickupable_classes(lay, room):
        if cls == obj_cls or rng.random() > 0.7:
            continue
        homes = room.containers(cls)
        for _ in range(rng.randint(1, 2)):
            place(cls, homes)
    lamps: list[str] = []
    if _LAMP in lay.classes:
        holders = [r for h in _LAMP_HOLDERS for r in room.of_class(h)]
        if holders:
            place(_LAMP, holders)
            lamps = [o for o, (c, _) in objects.items() if c == _LAMP]
    if task_type == "look_at_obj_in_light" and not lamps:
        raise _Retry

    # ---- facts
    pid = {raw: escape_id(raw) for raw in list(room.rec_class) + list(objects) + [f[0] for f in room.fixtures]}
    facts: set[Fact] = set()
    used_otypes: set[str] = set()
    used_rtypes: set[str] = set()
    for raw, cls in room.rec_class.items():
        facts.add(("receptacleType", (pid[raw], f"{cls}Type")))
        facts.add(("receptacleAtLocation", (pid[raw], room.rec_loc[raw])))
        if cls in w.openable_classes:
            facts.add(("openable", (pid[raw],)))
        used_rtypes.add(cls)
    for raw, cls, loc in room.fixtures:
        facts.add(("objectType", (pid[raw], f"{cls}Type")))
        facts.add(("objectAtLocation", (pid[raw], loc)))
        used_otypes.add(cls)
    ability_fact = {
        "Cleanable": "cleanable",
        "Heatable": "heatable",
        "Coolable": "coolable",
        "Sliceable": "sliceable",
        "Toggleable": "toggleable",
    }
    for raw, (cls, rec) in objects.items():
        o = pid[raw]
        facts.add(("objectType", (o, f"{cls}Type")))
        facts.add(("inReceptacle", (o, pid[rec])))
        facts.add(("objectAtLocation", (o, room.rec_loc[rec])))
        if cls != _LAMP:
            facts.add(("pickupable", (o,)))
        if cls in w.movable_receptacles:
            facts.add(("isReceptacleObject", (o,)))
        for ability, pred in ability_fact.items():
            if cls in w.action_objects.get(ability, ()):
                facts.add((pred, (o,)))
        used_otypes.add(cls)
    used_otypes.add(obj_cls)
    if rec_cls:
        used_rtypes.add(rec_cls)
    for rcls in sorted(used_rtypes):
        for ocls in sorted(used_otypes):
            if ocls in w.receptacle_objects.get(rcls, ()):
                facts.add(("canContain", (f"{rcls}Type", f"{ocls}Type")))
    x, z = room.points[rng.randrange(len(room.points))] if room.points else (0.0, 0.0)
    start = _loc_id(x, z, rng.randrange(4) * 90, 30)
    facts.add(("atLocation", (AGENT, start)))

    # ---- problem text
    locations = sorted(
        {args[1] for p, args in facts if p in ("receptacleAtLocation", "objectAtLocation", "atLocation")}
    )
    toggle = _LAMP if task_type == "look_at_obj_in_light" else "None"
    goal = (
        w.goals[task_type]["pddl"]
        .replace("#", "-")
        .format(obj=obj_cls, recep=rec_cls or "None", toggle=toggle, mrecep="None")
    )
    lines = [f"(define (problem plan_trial_gen_{seed})", "(:domain alfred)", "(:objects", "agent1 - agent"]
    lines += [f"        {c}Type - otype" for c in sorted(used_otypes | {_LAMP} if toggle != "None" else used_otypes)]
    lines += [f"        {c}Type - rtype" for c in sorted(used_rtypes)]
    lines += [f"        {pid[r]} - object" for r in sorted(list(objects) + [f[0] for f in room.fixtures])]
    lines += [f"        {pid[r]} - receptacle" for r in sorted(room.rec_class)]
    lines += [f"        {loc} - location" for loc in locations]
    lines += ["        )", "", "(:init", ""]
    order = {
        "receptacleType": 0,
        "objectType": 1,
        "canContain": 2,
        "pickupable": 3,
        "isReceptacleObject": 4,
        "openable": 5,
        "atLocation": 6,
        "cleanable": 7,
        "heatable": 8,
        "coolable": 9,
        "sliceable": 10,
        "toggleable": 11,
        "inReceptacle": 12,
        "receptacleAtLocation": 13,
        "objectAtLocation": 14,
    }
    for pred, args in sorted(facts, key=lambda f: (order.get(f[0], 99), f)):
        lines.append(f"        ({pred} {' '.join(args)})")
    lines += ["        )", goal]
    problem = "\n".join(lines) + "\n"

    init = parse_problem_facts(problem)
    if init != frozenset(facts):
        raise RuntimeError("generator bug: problem text does not round-trip its facts")
    if goal_holds(problem, init):
        raise _Retry  # already solved at reset
    walkthrough = _oracle_walkthrough(problem, init)
    if walkthrough is None:
        raise _Retry
    template = rng.choice(w.goals[task_type]["templates"])
    sentence = template.format(obj=obj_cls.lower(), recep=(rec_cls or "").lower(), toggle=toggle.lower(), mrecep="")
    return {
        "pddl_domain": w.domain,
        "grammar": w.grammar.replace("UNKNOWN GOAL", sentence),
        "pddl_problem": problem,
        "solvable": True,
        "walkthrough": walkthrough,
        "agent_gym": {
            "generator": GENERATOR_VERSION,
            "seed": seed,
            "task_type": task_type,
            "scene": scene,
            "object": obj_cls,
            "receptacle": rec_cls,
            "toggle": toggle if toggle != "None" else None,
            "task": sentence,
        },
    }


def _oracle_walkthrough(problem: str, init: frozenset[Fact]) -> list[str] | None:
    """The oracle's command list on the fact-level model, or None if it does not win in time."""
    oracle = ALFWorldOracle({"pddl_problem": problem})
    world = FactWorld(init)
    names = entity_names({a for _, args in init for a in args})
    commands: list[str] = []
    for _ in range(MAX_ORACLE_STEPS):
        step = oracle.plan_kind(world.facts)
        if step is None:
            return None
        kind, args = step
        try:
            world.apply(kind, args)
        except ActionFailed:
            return None
        commands.append(_VERB[kind].format(*(names[a] for a in args)))
        if goal_holds(problem, world.facts):
            return commands
    return None


# ---------------------------------------------------------------------------- public API
def _scenes_for(task_type: str, pool: Sequence[int] | None = None) -> list[int]:
    rooms = wheel().goal_rooms.get(task_type, frozenset())
    return [s for s in (pool if pool is not None else scenes()) if room_of(s) in rooms]


def generate_game(
    seed: int,
    task_type: str | None = None,
    floorplan: str | int | None = None,
    *,
    scene_pool: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Build one game (official ``game.tw-pddl`` dict) deterministically from ``seed``.

    ``task_type`` is one of the six ALFWorld types (drawn from ``seed`` when None);
    ``floorplan`` ("FloorPlan8" or 8) fixes the room; ``scene_pool`` restricts the
    rooms drawn from. Raises :class:`GenerationError` when nothing valid exists.
    """
    rng = random.Random(f"agent_gym-alfworld-{GENERATOR_VERSION}-{int(seed)}")
    if task_type is None:
        task_type = rng.choice(TASK_TYPES)
    if task_type not in TASK_TYPES:
        raise GenerationError(f"unknown task_type {task_type!r}; use one of {', '.join(TASK_TYPES)}")
    fixed = _parse_floorplan(floorplan)
    if fixed is not None:
        if fixed not in scenes():
            raise GenerationError(f"FloorPlan{fixed} is not shipped by the alfworld wheel")
        candidates = [fixed]
    else:
        candidates = _scenes_for(task_type, scene_pool) or _scenes_for(task_type)
    for _ in range(60):
        scene = candidates[rng.randrange(len(candidates))]
        try:
            return _build(int(seed), task_type, scene, rng)
        except _Retry:
            continue
        except SystemExit:  # never let a library exit kill the caller
            continue
    where = f"FloorPlan{fixed}" if fixed is not None else "any shipped floor plan"
    raise GenerationError(f"could not generate a {task_type} game in {where} from seed {seed}")


def game_folder_name(game: dict[str, Any]) -> str:
    """``<task_type>-<Obj>-<Mobj>-<Recep>-<scene>`` like the official data."""
    meta = game.get("agent_gym", {})
    recep = meta.get("receptacle") or meta.get("toggle") or "None"
    return f"{meta['task_type']}-{meta['object']}-None-{recep}-{meta['scene']}"


def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify_game(path: Path, method: str = "auto") -> bool:
    """Whether the oracle wins the game file within 30 steps.

    ``method``: ``"fast"`` (agent-gym's fast engine), ``"stock"`` (the
    unmodified textworld engine, seconds per game), ``"facts"`` (the fact-level
    model only, already checked at generation) or ``"auto"`` (fast when
    available, else facts).
    """
    if method in ("auto", "fast"):
        result = _verify_fast(path)
        if result is not None:
            return result
        if method == "fast":
            raise RuntimeError(
                "the fast ALFWorld engine is not available for verification: pip install 'agent-gym[alfworld]'"
            )
        method = "facts"
    if method == "stock":
        from agent_gym.alfworld.gen_stock import play_oracle_stock

        try:
            return play_oracle_stock(path, max_steps=MAX_ORACLE_STEPS).won
        except Exception:  # noqa: BLE001 - a game the engine cannot play is rejected
            return False
    if method == "facts":
        game = json.loads(Path(path).read_text())
        return _oracle_walkthrough(game["pddl_problem"], parse_problem_facts(game["pddl_problem"])) is not None
    raise ValueError(f"unknown verification method {method!r}")


def _verify_fast(path: Path) -> bool | None:
    """Play the oracle on the fast engine; None when that engine is not installed here."""
    from agent_gym.alfworld.gen_play import FastGame, play_oracle

    try:
        game = FastGame(path)
    except ImportError:  # textworld / fast-downward missing (MissingDependencyError)
        return None
    except Exception:  # noqa: BLE001 - a game the engine cannot load is rejected
        return False
    try:
        return play_oracle(game, max_steps=MAX_ORACLE_STEPS).won
    except Exception:  # noqa: BLE001 - a game the engine cannot play is rejected
        return False
    finally:
        game.close()


def generate_games(
    out_dir: Path,
    num_games: int,
    seed: int = 0,
    task_types: Sequence[str] | None = None,
    verify: bool | str = True,
    progress: bool = True,
    *,
    split: str = "valid_seen",
    scene_pool: Sequence[int] | None = None,
) -> list[Path]:
    """Write ``num_games`` games under ``<out_dir>/json_2.1.1/<split>/.../trial_gen_<seed>/game.tw-pddl``.

    Task types cycle through ``task_types`` (default: the six types, balanced).
    Game ``i`` uses seed ``seed + i`` (a rejected seed moves on to
    ``seed + i + k * 100_000_007``). Existing game files are kept, so an
    interrupted run resumes; writes are atomic. With ``verify`` the oracle must
    win every kept game within 30 steps on the engine (``True``/``"auto"``: the
    fast env when available, else the fact-level model; or ``"stock"``/``"facts"``).
    """
    types = list(task_types or TASK_TYPES)
    bad = [t for t in types if t not in TASK_TYPES]
    if bad:
        raise GenerationError(f"unknown task types {bad}; use some of {', '.join(TASK_TYPES)}")
    method = "auto" if verify is True else (verify or None)
    root = Path(out_dir) / "json_2.1.1" / split
    root.mkdir(parents=True, exist_ok=True)
    existing = {p.parent.name: p for p in root.glob("*/trial_gen_*/game.tw-pddl")}
    iterator: Iterable[int] = range(int(num_games))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"generating ALFWorld {split}", unit="game")
    paths: list[Path] = []
    for i in iterator:
        ttype = types[i % len(types)]
        path = None
        for k in range(20):
            game_seed = int(seed) + i + k * 100_000_007
            trial = f"trial_gen_{game_seed}"
            if trial in existing:
                path = existing[trial]
                break
            try:
                game = generate_game(game_seed, ttype, scene_pool=scene_pool)
            except GenerationError:
                continue
            candidate = root / game_folder_name(game) / trial / "game.tw-pddl"
            _atomic_write_json(candidate, game)
            # "facts" was already checked by generate_game (the walkthrough is the oracle's winning run)
            if method and method != "facts" and not verify_game(candidate, method):
                candidate.unlink(missing_ok=True)
                _remove_empty(candidate.parent, root)
                continue
            path = candidate
            break
        if path is None:
            warnings.warn(f"no valid {ttype} game for index {i} (seed {seed + i})", RuntimeWarning, stacklevel=2)
            continue
        paths.append(path)
    return paths


def _remove_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.exists() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _heldout_scenes() -> list[int]:
    """Floor plans reserved for ``valid_unseen`` (scene number ending in 5)."""
    return [s for s in scenes() if s % 10 == 5]


def split_scene_pool(split: str) -> list[int]:
    """Rooms a split draws from: ``valid_unseen`` uses held-out floor plans, the others the rest."""
    held = set(_heldout_scenes())
    if split == "valid_unseen":
        return sorted(held)
    return [s for s in scenes() if s not in held]


def ensure_generated(split: str = "valid_seen", num_games: int | None = None) -> Path:
    """Root folder (holding ``json_2.1.1/<split>``) of generated games, made on first use.

    Lives in ``agent_gym.paths.cache_dir("alfworld-generated", "v1")`` for the
    default sizes (:data:`DEFAULT_SPLIT_SIZES`) and in ``.../v1/n<num_games>``
    otherwise (a split folder always holds exactly the requested games);
    deterministic (fixed seeds per split, disjoint between splits), balanced
    over the six task types.
    """
    from agent_gym.paths import cache_dir

    if split not in SPLIT_SEED_BASE:
        raise GenerationError(f"unknown split {split!r}; use one of {', '.join(SPLIT_SEED_BASE)}")
    n = int(num_games if num_games is not None else DEFAULT_SPLIT_SIZES[split])
    if n < 1:
        raise GenerationError(f"num_games must be >= 1, got {n}")
    # the env lists every game of a split folder, so a non-default size gets its own root
    parts = ("alfworld-generated", GENERATOR_VERSION) + (() if n == DEFAULT_SPLIT_SIZES[split] else (f"n{n}",))
    root = cache_dir(*parts)
    marker = root / "json_2.1.1" / split / f".complete-{n}.json"
    if marker.exists():
        return root
    paths = generate_games(
        root,
        n,
        seed=SPLIT_SEED_BASE[split],
        verify="facts",
        progress=sys.stderr.isatty(),
        split=split,
        scene_pool=split_scene_pool(split),
    )
    _atomic_write_json(marker, [str(p.relative_to(root)) for p in paths])
    return root


# ---------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent_gym.alfworld.generator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="root folder; games go to OUT/json_2.1.1/SPLIT/...")
    parser.add_argument("--num-games", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="valid_seen")
    parser.add_argument("--task-types", nargs="*", choices=TASK_TYPES, default=None)
    parser.add_argument("--verify", choices=("auto", "fast", "stock", "facts", "none"), default="auto")
    args = parser.parse_args(argv)
    verify: bool | str = False if args.verify == "none" else args.verify
    paths = generate_games(
        args.out, args.num_games, seed=args.seed, task_types=args.task_types, verify=verify, split=args.split
    )
    print(f"{len(paths)} games under {args.out / 'json_2.1.1' / args.split}")
    return 0 if len(paths) == args.num_games else 1


if __name__ == "__main__":
    raise SystemExit(main())
