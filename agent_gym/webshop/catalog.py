"""Loaders for WebShop's official file formats.

* products (``items_shuffle*.json``): a list of raw product records with
  ``asin``, ``name``, ``category``, ``query``, ``product_category``,
  ``full_description``, ``small_description`` (bullet points), ``pricing``
  (``"$12.99"`` or a ``"$a - $b"`` range), ``customization_options``
  (``{group: [{"value": ..., "image": ...}]}``), ``images``, optional
  ``average_rating`` and ``Reviews``.
* attributes (``items_ins_v2*.json``): ``{asin: {"attributes": [...],
  "instruction": ..., "instruction_attributes": [...]}}``.
* human instructions (``items_human_ins*.json``): ``{asin: [{"instruction": ...,
  "instruction_attributes": [...], "instruction_options": [...]}]}``.
* human goal texts (``human_goals.json``): the list of instruction texts in the
  benchmark's goal order (used for the standard splits).

Products are turned into :class:`Product` records the shop, search and reward
use. Price ranges get one fixed price per product drawn from a local RNG seeded
by the asin (the official code uses the global RNG, so its prices vary by run).
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_gym.errors import DataNotFoundError, GameLoadError

#: Rating shown when a product has none.
NO_RATING = "N.A."


@dataclass
class Product:
    """One product as the shop shows and scores it."""

    asin: str
    title: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: list[str]
    options: dict[str, list[str]]
    attributes: list[str]
    price: float
    price_tag: str
    rating: str = NO_RATING
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def search_text(self) -> str:
        """The text BM25 indexes: title, description, bullet points and option values."""
        opts = " ".join(v for values in self.options.values() for v in values)
        return " ".join([self.title, self.description, " ".join(self.bullet_points), opts]).lower()


def read_json(path: Path) -> Any:
    """Read a JSON file with errors that name the file."""
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(
            f"{path} not found; get WebShop data with `python -m scripts.prepare webshop` "
            "or pass data_dir=<folder with the official files>"
        )
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise GameLoadError(f"cannot read WebShop file {path}: {exc}") from exc


def parse_pricing(pricing: Any, asin: str) -> tuple[float, str]:
    """Official ``pricing`` -> (fixed price, price tag). Ranges pick a price seeded by the asin."""
    if isinstance(pricing, (int, float)):
        values = [float(pricing)]
    elif isinstance(pricing, list):
        values = [float(p) for p in pricing]
    elif isinstance(pricing, str) and "$" in pricing:
        values = []
        for part in pricing.split("$")[1:]:
            digits = re.sub(r"[^\d.]", "", part)
            try:
                values.append(float(digits))
            except ValueError:
                continue
    else:
        values = []
    if not values:
        return 100.0, "$100.0"
    if len(values) == 1:
        return values[0], f"${values[0]}"
    low, high = values[0], values[1]
    rng = random.Random(zlib.crc32(asin.encode("utf-8")))
    return round(rng.uniform(low, high), 2), f"${low} to ${high}"


def _bullets(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(b) for b in raw if b and str(b) != "nan"]
    if isinstance(raw, str) and raw and raw != "nan":
        return [raw]
    return []


def _options(raw: Any) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return options
    for name, contents in raw.items():
        if not contents:
            continue
        values = []
        for item in contents:
            value = item.get("value") if isinstance(item, dict) else item
            if value is None:
                continue
            value = str(value).strip().replace("/", " | ").lower()
            if value and value not in values:
                values.append(value)
        if values:
            options[str(name).lower()] = values
    return options


def product_from_record(record: dict[str, Any], attributes: dict[str, Any] | None = None) -> Product | None:
    """One official raw product record -> :class:`Product` (``None`` for records the official loader skips)."""
    asin = str(record.get("asin", ""))
    if not asin or asin == "nan" or len(asin) > 10:
        return None
    price, tag = parse_pricing(record.get("pricing"), asin)
    attrs = (attributes or {}).get(asin, {}).get("attributes") or ["DUMMY_ATTR"]
    rating = record.get("average_rating", record.get("Rating", NO_RATING))
    description = record.get("full_description") or ""
    return Product(
        asin=asin,
        title=str(record.get("name") or record.get("Title") or ""),
        category=str(record.get("category") or ""),
        query=str(record.get("query") or "").lower().strip(),
        product_category=str(record.get("product_category") or ""),
        description="" if description == "nan" else str(description),
        bullet_points=_bullets(record.get("small_description")),
        options=_options(record.get("customization_options")),
        attributes=[str(a) for a in attrs],
        price=price,
        price_tag=tag,
        rating=str(rating if rating not in (None, "") else NO_RATING),
        reviews=list(record.get("Reviews") or []),
    )


def load_products(
    path: Path, attributes: dict[str, Any] | None = None, num_products: int | None = None
) -> list[Product]:
    """Load an official ``items_shuffle*.json`` file (duplicates and bad asins skipped, like the official loader)."""
    raw = read_json(path)
    if not isinstance(raw, list):
        raise GameLoadError(f"{path}: expected a JSON list of products, got {type(raw).__name__}")
    products: list[Product] = []
    seen: set[str] = set()
    for record in raw[:num_products] if num_products else raw:
        if not isinstance(record, dict):
            continue
        product = product_from_record(record, attributes)
        if product is None or product.asin in seen:
            continue
        seen.add(product.asin)
        products.append(product)
    if not products:
        raise GameLoadError(f"{path}: no usable products")
    return products


def load_attributes(path: Path) -> dict[str, dict[str, Any]]:
    """Load ``items_ins_v2*.json``: ``{asin: {"attributes", "instruction"?, "instruction_attributes"?}}``."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise GameLoadError(f"{path}: expected a JSON object keyed by asin")
    return {str(k): (v if isinstance(v, dict) else {}) for k, v in raw.items()}


def load_human_instructions(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Load ``items_human_ins*.json``: ``{asin: [{"instruction", "instruction_attributes", "instruction_options"}]}``."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise GameLoadError(f"{path}: expected a JSON object keyed by asin")
    return {str(k): [x for x in (v or []) if isinstance(x, dict)] for k, v in raw.items()}


def load_goal_texts(path: Path) -> list[str]:
    """Load ``human_goals.json``: the instruction texts in the benchmark's goal order."""
    raw = read_json(path)
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise GameLoadError(f"{path}: expected a JSON list of instruction strings")
    return raw


def find_file(data_dir: Path, patterns: Iterable[str]) -> Path | None:
    """The first file in ``data_dir`` matching one of the glob ``patterns`` (sorted, so deterministic)."""
    for pattern in patterns:
        hits = sorted(Path(data_dir).glob(pattern))
        if hits:
            return hits[0]
    return None
