"""Goals (shopping instructions) and the frozen goal splits.

A goal is built from a target product and an instruction record, like WebShop's
``get_human_goals`` / ``get_synthetic_goals``: the price bound is drawn from
the ten-dollar steps just above the product's price, but from a local RNG seeded
by ``(price_seed, asin, instruction)`` instead of the global RNG, so goal texts
are reproducible. Goal order: the order of ``human_goals.json`` when it is
given, else a shuffle with ``random.Random(goal_shuffle_seed)``. Splits are
index ranges over that order, read from the versioned ``data/splits.json``.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent_gym.errors import InvalidTaskError
from agent_gym.webshop.catalog import Product

SPLITS_FILE = Path(__file__).with_name("data") / "splits.json"
#: Price bounds are drawn from these steps (as in WebShop).
PRICE_STEPS = [10.0 * i for i in range(1, 100)]
NO_PRICE_BOUND = 1_000_000.0


@dataclass(frozen=True)
class Goal:
    """What the shopper asked for; ``asin`` is the product the instruction was written for."""

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: tuple[str, ...]
    price_upper: float
    #: Option names when the instruction's options were a dict (official synthetic goals), else ``None``.
    #: The official reward then compares ``(name, value)`` pairs (see ``reward.goal_option_keys``).
    option_names: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@lru_cache(maxsize=1)
def split_spec() -> dict[str, Any]:
    """The frozen split definition (``data/splits.json``)."""
    with open(SPLITS_FILE, encoding="utf-8") as f:
        return json.load(f)


def split_range(split: str, num_goals: int) -> range:
    """Goal indices of ``split`` (``test``/``dev``/``train``/``all``) for a goal list of ``num_goals``."""
    spec = split_spec()["splits"]
    if split not in spec:
        raise InvalidTaskError(f"unknown WebShop split {split!r}; use one of {sorted(spec)}")
    start, stop = spec[split]
    stop = num_goals if stop is None else min(stop, num_goals)
    return range(min(start, num_goals), stop)


def price_bound(product: Product, key: str, price_seed: int) -> tuple[float, str]:
    """(upper bound, instruction suffix) for a goal on ``product``; seeded by ``key``."""
    steps = [p for p in PRICE_STEPS if p > product.price][:4]
    if len(steps) < 2:
        return NO_PRICE_BOUND, ""
    rng = random.Random(f"{price_seed}:{product.asin}:{key}")
    upper = sorted(rng.sample(steps, 2))[1]
    return upper, f", and price lower than {upper:.2f} dollars"


def _goal(
    product: Product,
    text: str,
    attributes: list[str],
    options: list[str],
    price_seed: int,
    option_names: list[str] | None = None,
) -> Goal:
    upper, suffix = price_bound(product, text, price_seed)
    return Goal(
        asin=product.asin,
        category=product.category,
        query=product.query,
        name=product.title,
        product_category=product.product_category,
        instruction_text=text.strip().rstrip(".") + suffix,
        attributes=tuple(attributes),
        goal_options=tuple(str(o) for o in options),
        price_upper=upper,
        option_names=None if option_names is None else tuple(str(n) for n in option_names),
    )


def human_goals(products: list[Product], instructions: dict[str, list[dict[str, Any]]], price_seed: int) -> list[Goal]:
    """Goals from ``items_human_ins``-format instructions (records without attributes skipped, as officially)."""
    goals = []
    for product in products:
        for record in instructions.get(product.asin, []):
            attributes = list(record.get("instruction_attributes") or [])
            if not attributes:
                continue
            options = record.get("instruction_options") or []
            names = None
            if isinstance(options, dict):  # kept as (name, value) pairs for the official reward
                names, options = list(options), list(options.values())
            goals.append(
                _goal(product, str(record.get("instruction", "")), attributes, list(options), price_seed, names)
            )
    return goals


def synthetic_goals(products: list[Product], attributes: dict[str, dict[str, Any]], price_seed: int) -> list[Goal]:
    """Goals from ``items_ins_v2`` synthetic instructions: one per option combination, as officially."""
    goals = []
    for product in products:
        record = attributes.get(product.asin, {})
        text, goal_attrs = record.get("instruction"), record.get("instruction_attributes")
        if not text or not goal_attrs:
            continue
        names = list(product.options)
        for combo in itertools.product(*(product.options[n] for n in names)):
            option_text = ", and ".join(f"{n}: {v}" for n, v in zip(names, combo))
            full = text.strip().rstrip(".") + (f", with {option_text}" if option_text else "")
            goals.append(_goal(product, full, list(goal_attrs), list(combo), price_seed, names))
    return goals


def _norm(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".").split())


def order_goals(goals: list[Goal], goal_texts: list[str] | None, shuffle_seed: int) -> list[Goal]:
    """Put goals in benchmark order: ``human_goals.json`` order if given, else a seeded shuffle."""
    if goal_texts is None:
        ordered = list(goals)
        random.Random(shuffle_seed).shuffle(ordered)
        return ordered
    position: dict[str, int] = {}
    for i, text in enumerate(goal_texts):
        position.setdefault(_norm(text), i)
    big = len(goal_texts)

    def key(item: tuple[int, Goal]) -> tuple[int, int]:
        i, goal = item
        base = goal.instruction_text
        bare = base[: base.rfind(", and price lower than")] if ", and price lower than" in base else base
        return (position.get(_norm(bare), position.get(_norm(base), big)), i)

    return [g for _, g in sorted(enumerate(goals), key=key)]
