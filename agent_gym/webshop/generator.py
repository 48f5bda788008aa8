"""The project's catalog and goal generator (NOT the official WebShop catalog).

:func:`generate` builds products, attributes and instructions in WebShop's
official file formats (see :mod:`agent_gym.webshop.catalog`), so generated and
official data go through the same loaders. Everything is drawn from a local
``random.Random(seed)``; the same ``(num_products, seed, goals_per_product)``
always gives byte-identical files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_write_json
from agent_gym.webshop import vocab

_COMPACT: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}

#: Bump when the generator's output changes, so caches are rebuilt.
GENERATOR_VERSION = 1

PRODUCTS_FILE = "items_shuffle_generated.json"
ATTRIBUTES_FILE = "items_ins_v2_generated.json"
INSTRUCTIONS_FILE = "items_human_ins_generated.json"
META_FILE = "generated_meta.json"

_ASIN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _asin(rng: random.Random, taken: set[str]) -> str:
    while True:
        asin = "B0" + "".join(rng.choice(_ASIN_CHARS) for _ in range(8))
        if asin not in taken:
            taken.add(asin)
            return asin


def _title(rng: random.Random, ptype: vocab.ProductType, brand: str, attrs: list[str]) -> str:
    lead = attrs[0].title()
    rest = ", ".join(a.title() for a in attrs[1:3])
    code = f"{rng.choice(_ASIN_CHARS[:26])}{rng.choice(_ASIN_CHARS[:26])}-{rng.randint(100, 999)}"
    title = f"{brand} {lead} {ptype.noun.title()}"
    if rest:
        title += f" - {rest}"
    return f"{title} ({code})"


def _product(rng: random.Random, ptype: vocab.ProductType, asin: str) -> tuple[dict[str, Any], list[str]]:
    brand = rng.choice(vocab.BRANDS)
    attrs = rng.sample(list(ptype.attributes), k=rng.randint(2, min(4, len(ptype.attributes))))
    options: dict[str, list[str]] = {}
    for i, (group, pool) in enumerate(ptype.options.items()):
        if i > 0 and rng.random() < 0.25:
            continue
        k = rng.randint(2, min(6, len(pool)))
        chosen = set(rng.sample(list(pool), k=k))
        options[group] = [v for v in pool if v in chosen]
    low, high = ptype.price
    price = max(1.0, round(rng.uniform(low, high))) - 0.01
    if rng.random() < 0.1:
        pricing = f"${price:.2f} - ${price * 1.3:.2f}"
    else:
        pricing = f"${price:.2f}"
    description = " ".join(
        [
            rng.choice(vocab.DESCRIPTION_OPENERS).format(noun=ptype.noun),
            f"This {ptype.noun} is {', '.join(attrs[:-1])} and {attrs[-1]}." if len(attrs) > 1 else "",
            rng.choice(vocab.DESCRIPTION_CLOSERS),
        ]
    ).replace("  ", " ")
    bullets = [f"{a.upper()}: every {ptype.noun} from {brand} is {a}." for a in attrs]
    if options:
        bullets.append("Available in " + "; ".join(f"{g}: {', '.join(v)}" for g, v in options.items()) + ".")
    reviews = [
        {"score": rng.randint(3, 5), "title": "Review", "body": rng.choice(vocab.REVIEW_TEXTS)}
        for _ in range(rng.randint(0, 3))
    ]
    record = {
        "asin": asin,
        "name": _title(rng, ptype, brand, attrs),
        "category": ptype.category,
        "query": ptype.query,
        "product_category": ptype.path,
        "full_description": description,
        "small_description": bullets,
        "pricing": pricing,
        "images": [f"https://example.invalid/images/{asin}.jpg"],
        "customization_options": {g: [{"value": v, "image": None} for v in vals] for g, vals in options.items()},
        "average_rating": round(rng.uniform(3.0, 5.0), 1),
        "total_reviews": len(reviews),
        "Reviews": reviews,
    }
    return record, attrs


def _instruction(rng: random.Random, ptype: vocab.ProductType, attrs: list[str], options: dict[str, str]) -> str:
    attr_text = " and ".join(attrs) if len(attrs) <= 2 else ", ".join(attrs[:-1]) + " and " + attrs[-1]
    text = rng.choice(vocab.INSTRUCTION_OPENERS).format(query=ptype.query, attrs=attr_text)
    if options:
        text += ", with " + ", and ".join(f"{g}: {v}" for g, v in options.items())
    return text


def generate(num_products: int = 1000, seed: int = 0, goals_per_product: int = 3) -> dict[str, Any]:
    """Generate a catalog: ``{"products": [...], "attributes": {...}, "instructions": {...}}`` (official formats)."""
    if num_products < 1:
        raise ValueError(f"num_products must be >= 1, got {num_products}")
    rng = random.Random(f"agent-gym-webshop:{GENERATOR_VERSION}:{seed}")
    taken: set[str] = set()
    products, attributes, instructions = [], {}, {}
    types = vocab.PRODUCT_TYPES
    for i in range(num_products):
        ptype = types[i % len(types)] if i < len(types) else rng.choice(types)
        asin = _asin(rng, taken)
        record, attrs = _product(rng, ptype, asin)
        products.append(record)
        goals, seen = [], set()
        for _ in range(goals_per_product):
            g_attrs = rng.sample(attrs, k=rng.randint(1, min(3, len(attrs))))
            g_opts = {g: rng.choice([o["value"] for o in vals]) for g, vals in record["customization_options"].items()}
            key = (tuple(sorted(g_attrs)), tuple(sorted(g_opts.items())))
            if key in seen:
                continue
            seen.add(key)
            goals.append(
                {
                    "instruction": _instruction(rng, ptype, g_attrs, g_opts),
                    "instruction_attributes": g_attrs,
                    "instruction_options": list(g_opts.values()),
                }
            )
        attributes[asin] = {
            "attributes": attrs,
            "instruction": goals[0]["instruction"],
            "instruction_attributes": goals[0]["instruction_attributes"],
        }
        instructions[asin] = goals
    rng.shuffle(products)  # like items_shuffle: the file order says nothing about the goals
    return {"products": products, "attributes": attributes, "instructions": instructions}


def write_catalog(out_dir: Path, num_products: int = 1000, seed: int = 0, goals_per_product: int = 3) -> Path:
    """Generate a catalog into ``out_dir`` (official file names with ``_generated``); skips work if already there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "generator_version": GENERATOR_VERSION,
        "num_products": num_products,
        "seed": seed,
        "goals_per_product": goals_per_product,
    }
    meta_path = out_dir / META_FILE
    if meta_path.exists():
        try:
            if json.loads(meta_path.read_text()) == meta:
                return out_dir
        except ValueError:
            pass
    data = generate(num_products, seed, goals_per_product)
    atomic_write_json(out_dir / PRODUCTS_FILE, data["products"], **_COMPACT)
    atomic_write_json(out_dir / ATTRIBUTES_FILE, data["attributes"], **_COMPACT)
    atomic_write_json(out_dir / INSTRUCTIONS_FILE, data["instructions"], **_COMPACT)
    atomic_write_json(meta_path, meta, **_COMPACT)  # last: marks the folder complete
    return out_dir


def default_catalog_dir(num_products: int = 1000, seed: int = 0, goals_per_product: int = 3) -> Path:
    """Cache folder of the generated catalog for these settings (created and filled on first use)."""
    from agent_gym.paths import cache_dir

    name = f"generated-v{GENERATOR_VERSION}-n{num_products}-s{seed}-g{goals_per_product}"
    return write_catalog(cache_dir("webshop", name), num_products, seed, goals_per_product)
