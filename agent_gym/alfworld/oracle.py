"""A deterministic oracle expert for ALFWorld that plans from the live PDDL facts.

The oracle reads the goal of a game from its ``pddl_problem`` (so it works on
official and generated games alike), looks at where every object is in the
current state (the facts from :func:`agent_gym.alfworld.facts.live_facts`) and
returns the next command: fetch a matching object (going there and opening its
receptacle first), clean/heat/cool it if the goal asks, and put it in a target
receptacle (twice for ``pick_two_obj_and_place``), or pick the object up and
turn on a lamp for ``look_at_obj_in_light``. Every step costs at most a few
commands, so a solvable game is won in well under 30 steps.

Commands are chosen by matching the admissible commands (``move X to Y`` in the
current grammar, ``put X in/on Y`` in older ones), never by assuming wording.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent_gym.alfworld.facts import Fact

AGENT = "agent1"

from agent_gym.alfworld.data import TASK_TYPES  # noqa: E402,F401  (re-exported: the six types this oracle plans for)

#: goal state predicate -> (receptacle types that produce it, command verb)
_PROCESS = {
    "isClean": (("SinkBasinType", "SinkType"), "clean"),
    "isHot": (("MicrowaveType",), "heat"),
    "isCool": (("FridgeType",), "cool"),
}


class OracleGoalError(ValueError):
    """The game's goal is not one of the six ALFWorld task types."""


# ---------------------------------------------------------------------------- goal parsing
def parse_sexpr(text: str) -> list[Any]:
    """Parse PDDL text into nested lists of tokens."""
    tokens = re.findall(r"\(|\)|[^\s()]+", re.sub(r";[^\n]*", "", text))
    stack: list[list[Any]] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise ValueError("unbalanced parentheses in PDDL")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise ValueError("unbalanced parentheses in PDDL")
    return stack[0]


def _goal_literals(node: Any, out: list[tuple[str, tuple[str, ...]]]) -> None:
    """Collect positive atoms of an and/exists goal tree (skips ``not`` and ``=``)."""
    if not isinstance(node, list) or not node:
        return
    head = node[0]
    if head == "and":
        for child in node[1:]:
            _goal_literals(child, out)
    elif head in ("exists", "forall"):
        for child in node[2:]:
            _goal_literals(child, out)
    elif head in ("not", "=", "or", "when", "imply"):
        return
    elif isinstance(head, str) and all(isinstance(a, str) for a in node[1:]):
        out.append((head, tuple(node[1:])))
    else:
        for child in node:
            _goal_literals(child, out)


@dataclass(frozen=True)
class Goal:
    """What a game asks for, read from its PDDL goal."""

    task_type: str
    object_type: str  #: e.g. ``AppleType``
    receptacle_type: str | None = None  #: e.g. ``DiningTableType`` (None for look_at)
    states: tuple[str, ...] = ()  #: required ``isClean``/``isHot``/``isCool`` of the object
    count: int = 1  #: how many objects must end up in one receptacle
    light_type: str | None = None  #: ``DeskLampType``/``FloorLampType`` for look_at


def goal_text(pddl_problem: str) -> str:
    """The balanced ``(:goal ...)`` expression of a ``pddl_problem`` text."""
    start = pddl_problem.find("(:goal")
    if start < 0:
        raise OracleGoalError("pddl_problem has no (:goal ...) section")
    depth = 0
    for i in range(start, len(pddl_problem)):
        ch = pddl_problem[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pddl_problem[start : i + 1]
    raise OracleGoalError("unbalanced (:goal ...) section in pddl_problem")


def parse_goal(pddl_problem: str) -> Goal:
    """Read the task from the ``(:goal ...)`` of a ``pddl_problem`` text."""
    tree = parse_sexpr(goal_text(pddl_problem))[0]
    literals: list[tuple[str, tuple[str, ...]]] = []
    _goal_literals(tree[1:], literals)

    var_type: dict[str, str] = {}
    for pred, args in literals:
        if pred in ("objectType", "receptacleType") and len(args) == 2:
            var_type[args[0]] = args[1]

    if any(p == "isToggled" for p, _ in literals):
        lamp_vars = {a[0] for p, a in literals if p in ("isToggled", "toggleable")}
        held = [a[1] for p, a in literals if p == "holds" and len(a) == 2]
        if not lamp_vars or not held:
            raise OracleGoalError("look-at goal without a lamp or a held object")
        light = var_type.get(next(iter(sorted(lamp_vars))))
        obj = var_type.get(held[0])
        if light is None or obj is None:
            raise OracleGoalError("look-at goal without object types")
        return Goal("look_at_obj_in_light", obj, light_type=light)

    placed = [(a[0], a[1]) for p, a in literals if p == "inReceptacle" and len(a) == 2]
    if not placed:
        raise OracleGoalError("goal has no inReceptacle condition: not one of the six ALFWorld task types")
    obj_vars = sorted({o for o, _ in placed})
    rec_vars = {r for _, r in placed}
    if len(rec_vars) != 1:
        raise OracleGoalError("goal places objects in more than one receptacle")
    rtype = var_type.get(next(iter(rec_vars)))
    otypes = {var_type[o] for o in obj_vars if o in var_type}
    if rtype is None or any(o not in var_type for o in obj_vars) or len(otypes) != 1:
        raise OracleGoalError("goal objects/receptacle lack a single objectType/receptacleType")
    if not rtype.endswith("Type") or any(o.startswith("?") for o in otypes):
        raise OracleGoalError("unexpected goal types")
    # a movable receptacle (pick_and_place_with_movable_recep) appears as an object holding another
    if any(p == "inReceptacleObject" for p, _ in literals):
        raise OracleGoalError("pick_and_place_with_movable_recep is not one of the six ALFWorld text task types")
    states = tuple(sorted({p for p, a in literals if p in _PROCESS and a and a[0] in obj_vars}))
    otype = otypes.pop()
    if len(obj_vars) >= 2:
        return Goal("pick_two_obj_and_place", otype, rtype, states, count=len(obj_vars))
    kind = {
        (): "pick_and_place_simple",
        ("isClean",): "pick_clean_then_place_in_recep",
        ("isHot",): "pick_heat_then_place_in_recep",
        ("isCool",): "pick_cool_then_place_in_recep",
    }.get(states)
    if kind is None:
        raise OracleGoalError(f"unsupported combination of object states in goal: {states}")
    return Goal(kind, otype, rtype, states)


# ---------------------------------------------------------------------------- names
def entity_names(ids: Iterable[str]) -> dict[str, str]:
    """Display names (``cabinet 3``) of PDDL ids, numbered like alfworld's ``AlfredDemangler``.

    Names are numbered within a class in descending order of the sorted
    lowercase ids (the translator lowercases every id), so ``Cabinet`` ids
    sorted first get the highest number.
    """
    lower = {i: i.lower() for i in ids}
    ordered = sorted(set(lower.values()))

    def base(low: str) -> str | None:
        parts = low.split("_bar_", 1)
        if len(parts) == 1:
            return None
        return parts[0] + ("basin" if "basin" in low else "")

    counts: Counter[str] = Counter(b for b in map(base, ordered) if b is not None)
    remaining = {name: count for name, count in counts.items()}
    by_lower: dict[str, str] = {}
    for low in ordered:
        b = base(low)
        if b is None:
            by_lower[low] = low
        else:
            by_lower[low] = f"{b} {remaining[b]}"
            remaining[b] -= 1
    return {orig: by_lower[low] for orig, low in lower.items()}


# ---------------------------------------------------------------------------- world view
class _World:
    """Indexes over one set of facts.

    With ``seen`` (receptacle ids whose contents the agent has observed), objects
    in receptacles the agent has not looked into are unknown: they are left out
    of ``obj_recs`` (so out of every plan), as they are absent from its
    observations.
    """

    def __init__(self, facts: Iterable[Fact], seen: Collection[str] | None = None):
        self.by_pred: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for pred, args in facts:
            self.by_pred[pred].append(args)
        self.seen = None if seen is None else frozenset(seen)
        self.agent_loc = next((a[1] for a in self.by_pred["atLocation"] if a[0] == AGENT), None)
        held = [a[1] for a in self.by_pred["holds"] if a[0] == AGENT]
        self.held = sorted(held)[0] if held else None
        self.rec_loc = {rec: loc for rec, loc in sorted(self.by_pred["receptacleAtLocation"])}
        #: object -> every (known) receptacle it is in (an object can rest on two stove burners at once)
        self.obj_recs: dict[str, list[str]] = defaultdict(list)
        for o, r in sorted(self.by_pred["inReceptacle"]):
            if self.seen is None or r in self.seen:
                self.obj_recs[o].append(r)
        self.otype = {o: t for o, t in self.by_pred["objectType"]}
        self.rtype = {r: t for r, t in self.by_pred["receptacleType"]}
        self.can_contain = {(rt, ot) for rt, ot in self.by_pred["canContain"]}
        self.flags: dict[str, set[str]] = {
            p: {a[0] for a in self.by_pred[p]}
            for p in ("openable", "opened", "pickupable", "isClean", "isHot", "isCool", "isToggled", "toggleable")
        }
        #: object -> the receptacle to reach it through (cheapest reachable one)
        self.obj_in = _Homes(self)

    def has(self, pred: str, obj: str) -> bool:
        return obj in self.flags.get(pred, ())

    def closed(self, rec: str) -> bool:
        return self.has("openable", rec) and not self.has("opened", rec)

    def reach_cost(self, rec: str) -> int:
        """Commands needed before one can take from / put into ``rec``."""
        return (0 if self.rec_loc.get(rec) == self.agent_loc else 1) + (1 if self.closed(rec) else 0)

    def receptacles_of(self, rtype: str) -> list[str]:
        return sorted(r for r, t in self.rtype.items() if t == rtype and r in self.rec_loc)


class _Homes(dict):
    """Lazy ``object -> receptacle to reach it through`` (cheapest reachable one)."""

    def __init__(self, world: _World):
        super().__init__()
        self._world = world

    def __missing__(self, obj: str) -> str:
        recs = self._world.obj_recs.get(obj)
        if not recs:
            raise KeyError(obj)
        reachable = [r for r in recs if r in self._world.rec_loc] or recs
        home = min(reachable, key=lambda r: (self._world.reach_cost(r), r))
        self[obj] = home
        return home

    def get(self, obj: str, default: Any = None) -> Any:  # noqa: D102
        try:
            return self[obj]
        except KeyError:
            return default


# ---------------------------------------------------------------------------- oracle
class ALFWorldOracle:
    """Plans the next command of an ALFWorld game from its live facts.

    ``game`` is the parsed ``game.tw-pddl`` JSON (only ``pddl_problem`` is read).
    :meth:`next_action` is deterministic: the same facts and admissible commands
    give the same command.
    """

    def __init__(self, game: Mapping[str, Any]):
        problem = game.get("pddl_problem") if isinstance(game, Mapping) else None
        if not isinstance(problem, str):
            raise OracleGoalError("ALFWorldOracle needs the game JSON with a 'pddl_problem' string")
        self.goal = parse_goal(problem)
        self._names: dict[str, str] | None = None
        self._name_ids: frozenset[str] = frozenset()

    @property
    def task_type(self) -> str:
        """One of :data:`TASK_TYPES`, read from the goal."""
        return self.goal.task_type

    # ------------------------------------------------------------------ public
    def next_action(
        self, facts: Iterable[Fact], admissible_commands: Sequence[str], seen: Collection[str] | None = None
    ) -> str:
        """The next command (one of ``admissible_commands``) towards the goal from ``facts``.

        ``seen=None`` plans with the full state (the object locations are known,
        like ALFWorld's planner expert). With ``seen`` (the receptacle ids whose
        contents the agent has observed so far) the oracle knows only what the
        agent could know: a needed object that is in no seen receptacle is
        searched for, visiting (and opening) the unseen receptacles that can hold
        its type in name order (``cabinet 1``, ``cabinet 2``, ..., ``drawer 1``...).
        """
        facts = frozenset(facts)
        world = _World(facts, seen)
        names = self._entity_names(facts)
        admissible = list(admissible_commands)
        plan = self._plan(world, names)
        if plan is None:
            return self._fallback(admissible, "the goal already holds or no plan exists from this state")
        kind, args = plan
        command = self._match(kind, [names.get(a, a) for a in args], admissible)
        if command is None:
            return self._fallback(admissible, f"planned {kind} {args} but no admissible command matches")
        return command

    def plan_kind(
        self, facts: Iterable[Fact], seen: Collection[str] | None = None
    ) -> tuple[str, tuple[str, ...]] | None:
        """The next step as ``(kind, pddl_ids)`` (``goto``, ``open``, ``take``, ``put``, ``clean``...)."""
        facts = frozenset(facts)
        return self._plan(_World(facts, seen), self._entity_names(facts))

    # ------------------------------------------------------------------ naming / matching
    def _entity_names(self, facts: frozenset[Fact]) -> dict[str, str]:
        ids = frozenset(a for _, args in facts for a in args)
        if self._names is None or not ids <= self._name_ids:
            self._name_ids = ids | self._name_ids
            self._names = entity_names(self._name_ids)
        return self._names

    @staticmethod
    def _match(kind: str, names: list[str], admissible: Sequence[str]) -> str | None:
        esc = [re.escape(n) for n in names]
        patterns = {
            "goto": [rf"go to {esc[0]}"],
            "open": [rf"open {esc[0]}"],
            "take": [rf"take {esc[0]} from {esc[1]}" if len(esc) > 1 else ""],
            "put": [rf"(?:move|put|place) {esc[0]} (?:to|in|on|in/on|into|onto) {esc[1]}" if len(esc) > 1 else ""],
            "clean": [rf"clean {esc[0]} with {esc[1]}" if len(esc) > 1 else ""],
            "heat": [rf"heat {esc[0]} with {esc[1]}" if len(esc) > 1 else ""],
            "cool": [rf"cool {esc[0]} with {esc[1]}" if len(esc) > 1 else ""],
            "use": [rf"use {esc[0]}"],
        }[kind]
        for pattern in patterns:
            rx = re.compile(rf"^\s*{pattern}\s*$", re.IGNORECASE)
            for cmd in admissible:
                if rx.match(cmd):
                    return cmd
        return None

    @staticmethod
    def _fallback(admissible: Sequence[str], why: str) -> str:
        warnings.warn(f"ALFWorldOracle: {why}; answering 'look'", RuntimeWarning, stacklevel=3)
        if "look" in admissible or not admissible:
            return "look"
        return sorted(admissible)[0]

    # ------------------------------------------------------------------ planning
    def _reach(self, w: _World, rec: str) -> tuple[str, tuple[str, ...]] | None:
        """First command towards being able to use ``rec`` (None when it is usable now)."""
        if w.rec_loc.get(rec) != w.agent_loc:
            return ("goto", (rec,))
        if w.closed(rec):
            return ("open", (rec,))
        return None

    def _holdable(self, w: _World, obj: str) -> bool:
        rec = w.obj_in.get(obj)
        return w.has("pickupable", obj) and rec is not None and rec in w.rec_loc

    def _fetch(
        self, w: _World, candidates: list[str], otype: str | None = None, names: Mapping[str, str] | None = None
    ) -> tuple[str, tuple[str, ...]] | None:
        """Go to / open / take the cheapest reachable candidate object (search for one of ``otype`` if none is known)."""
        options = [o for o in candidates if self._holdable(w, o)]
        if not options:
            return self._search(w, otype, names) if otype is not None and names is not None else None
        obj = min(options, key=lambda o: (w.reach_cost(w.obj_in[o]), o))
        rec = w.obj_in[obj]
        return self._reach(w, rec) or ("take", (obj, rec))

    def _search(self, w: _World, otype: str, names: Mapping[str, str]) -> tuple[str, tuple[str, ...]] | None:
        """Next command of a search for an object of ``otype``: reach the first unseen receptacle that can hold it."""
        if w.seen is None:
            return None

        def order(r: str) -> tuple[str, int, str]:
            base, _, num = names.get(r, r).rpartition(" ")
            return (base, int(num), r) if num.isdigit() else (names.get(r, r), 0, r)

        holders = [r for r in w.rec_loc if (w.rtype.get(r), otype) in w.can_contain]
        if not holders:  # no canContain facts for the type (lamps are not pickupable): look everywhere
            holders = list(w.rec_loc)
        for rec in sorted((r for r in holders if r not in w.seen), key=order):
            step = self._reach(w, rec)
            if step is not None:
                return step
        return None

    def _drop(self, w: _World, obj: str) -> tuple[str, tuple[str, ...]] | None:
        """Put a held object that the goal does not need somewhere it fits."""
        ot = w.otype.get(obj)
        fits = [r for r in sorted(w.rec_loc) if (w.rtype.get(r), ot) in w.can_contain]
        if not fits:
            return None
        rec = min(fits, key=lambda r: (w.reach_cost(r), r))
        return self._reach(w, rec) or ("put", (obj, rec))

    def _plan(self, w: _World, names: Mapping[str, str]) -> tuple[str, tuple[str, ...]] | None:
        if w.agent_loc is None:
            return None
        goal = self.goal
        if goal.task_type == "look_at_obj_in_light":
            return self._plan_look(w, names)
        targets = [
            r
            for r in w.receptacles_of(goal.receptacle_type or "")
            if (goal.receptacle_type, goal.object_type) in w.can_contain
        ]
        if not targets:
            return None
        objs = sorted(o for o, t in w.otype.items() if t == goal.object_type)

        def done(o: str) -> bool:
            return all(w.has(s, o) for s in goal.states)

        # the receptacle to fill: the one already holding most finished objects
        def filled(r: str) -> int:
            return sum(1 for o in objs if r in w.obj_recs.get(o, ()) and done(o))

        target = min(targets, key=lambda r: (-filled(r), w.reach_cost(r), r))
        if filled(target) >= goal.count:
            return None
        held = w.held
        if held is not None:
            if w.otype.get(held) != goal.object_type:
                return self._drop(w, held)
            for state in goal.states:
                if not w.has(state, held):
                    kinds, verb = _PROCESS[state]
                    tools = [r for r in sorted(w.rec_loc) if w.rtype.get(r) in kinds]
                    if not tools:
                        return None
                    tool = min(tools, key=lambda r: (0 if w.rec_loc[r] == w.agent_loc else 1, r))
                    if w.rec_loc[tool] != w.agent_loc:
                        return ("goto", (tool,))
                    return (verb, (held, tool))
            return self._reach(w, target) or ("put", (held, target))
        in_target = {o for o in objs if target in w.obj_recs.get(o, ()) and done(o)}
        candidates = [o for o in objs if o not in in_target]
        return self._fetch(w, candidates, goal.object_type, names)

    def _plan_look(self, w: _World, names: Mapping[str, str]) -> tuple[str, tuple[str, ...]] | None:
        goal = self.goal
        light_type = goal.light_type
        assert light_type is not None  # parse_goal sets it for look_at goals
        lamps = sorted(
            o for o, t in w.otype.items() if t == light_type and w.has("toggleable", o) and w.obj_in.get(o) in w.rec_loc
        )
        if not lamps and w.seen is None:
            return None
        held = w.held
        holding = held is not None and w.otype.get(held) == goal.object_type
        if holding and any(w.has("isToggled", o) and w.rec_loc[w.obj_in[o]] == w.agent_loc for o in lamps):
            return None  # the goal holds
        if not holding:
            if held is not None:
                return self._drop(w, held)
            objs = sorted(o for o, t in w.otype.items() if t == goal.object_type)
            return self._fetch(w, objs, goal.object_type, names)
        if not lamps:  # holding the object, no lamp seen yet
            return self._search(w, light_type, names)
        lamp = min(lamps, key=lambda o: (0 if w.rec_loc[w.obj_in[o]] == w.agent_loc else 1, o))
        rec = w.obj_in[lamp]
        if w.rec_loc[rec] != w.agent_loc:
            return ("goto", (rec,))
        return ("use", (lamp,))
