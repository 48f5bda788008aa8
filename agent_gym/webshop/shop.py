"""The read-only shop: products, goals and the search index, loaded once per data source.

:func:`load_shop` caches one :class:`Shop` per ``(data_dir, num_products, seed)``
in the process, so every env and app made with the same data shares it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from agent_gym.errors import DataNotFoundError, InvalidTaskError
from agent_gym.webshop import catalog, generator
from agent_gym.webshop import goals as goals_mod
from agent_gym.webshop.catalog import Product
from agent_gym.webshop.goals import Goal
from agent_gym.webshop.search import SearchEngine

PRODUCT_PATTERNS = ("items_shuffle*.json",)
ATTRIBUTE_PATTERNS = ("items_ins_v2*.json",)
HUMAN_INSTRUCTION_PATTERNS = ("items_human_ins*.json",)
GOAL_TEXT_PATTERNS = ("human_goals.json",)


@dataclass(eq=False)
class Shop:
    """Products by asin, goals in benchmark order and the shared search engine."""

    products: dict[str, Product]
    goals: list[Goal]
    engine: SearchEngine
    source: str

    def goal(self, index: int) -> Goal:
        if not 0 <= index < len(self.goals):
            raise InvalidTaskError(f"goal index {index} out of range (0..{len(self.goals) - 1})")
        return self.goals[index]


def load_data_dir(data_dir: Path, num_products: int | None = None) -> tuple[list[Product], list[Goal]]:
    """Load products and goals from a folder with WebShop's official (or generated) files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataNotFoundError(
            f"WebShop data_dir {data_dir} does not exist; run `python -m scripts.prepare webshop --help` "
            "or leave data_dir=None for the generated catalog"
        )
    products_path = catalog.find_file(data_dir, PRODUCT_PATTERNS)
    if products_path is None:
        raise DataNotFoundError(
            f"no items_shuffle*.json product file in {data_dir} (the official file is items_shuffle_1000.json "
            "or items_shuffle.json); leave data_dir=None to use the generated catalog"
        )
    attr_path = catalog.find_file(data_dir, ATTRIBUTE_PATTERNS)
    attributes = catalog.load_attributes(attr_path) if attr_path else {}
    products = catalog.load_products(products_path, attributes, num_products)
    spec = goals_mod.split_spec()
    human_path = catalog.find_file(data_dir, HUMAN_INSTRUCTION_PATTERNS)
    if human_path is not None:
        goal_list = goals_mod.human_goals(products, catalog.load_human_instructions(human_path), spec["price_seed"])
    else:
        goal_list = goals_mod.synthetic_goals(products, attributes, spec["price_seed"])
    texts_path = catalog.find_file(data_dir, GOAL_TEXT_PATTERNS)
    texts = catalog.load_goal_texts(texts_path) if texts_path else None
    goal_list = goals_mod.order_goals(goal_list, texts, spec["goal_shuffle_seed"])
    if not goal_list:
        raise DataNotFoundError(
            f"no goals could be built from {data_dir}: add items_human_ins.json or items_ins_v2*.json with instructions"
        )
    return products, goal_list


_SHOPS: dict[tuple, Shop] = {}
_LOCK = threading.Lock()


def load_shop(data_dir: str | Path | None = None, num_products: int | None = None, seed: int = 0) -> Shop:
    """The shared :class:`Shop` for a data folder, or for the generated catalog when ``data_dir`` is None.

    Cached per process; a data folder's cache entry is keyed by its JSON files' names, sizes and
    modification times, so changed files are reloaded.
    """
    if num_products is not None and (
        isinstance(num_products, bool) or not isinstance(num_products, int) or num_products < 1
    ):
        raise ValueError(f"num_products must be a positive int or None (default 1000), got {num_products!r}")
    key: tuple = (None, num_products, seed)
    if data_dir is not None:
        folder = Path(data_dir).resolve()
        files = (
            tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.glob("*.json")))
            if folder.is_dir()
            else ()
        )
        key = (str(folder), files, num_products)
    with _LOCK:
        shop = _SHOPS.get(key)
        if shop is not None:
            return shop
        if data_dir is None:
            folder = generator.default_catalog_dir(num_products or 1000, seed)
            products, goal_list = load_data_dir(folder)
            source = f"generated (num_products={num_products or 1000}, seed={seed})"
        else:
            products, goal_list = load_data_dir(Path(data_dir), num_products)
            source = str(data_dir)
        shop = Shop({p.asin: p for p in products}, goal_list, SearchEngine(products), source)
        _SHOPS[key] = shop
        return shop
