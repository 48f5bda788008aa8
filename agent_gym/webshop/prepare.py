"""``python -m scripts.prepare webshop``: generate a catalog, or check a folder of official files.

* ``--generate`` (default): write the generated catalog (official file formats,
  names ending ``_generated``) to ``--out`` (default: the cache folder the envs
  use) for ``--num-products`` / ``--seed``.
* ``--check DIR``: load official WebShop files from ``DIR``
  (``items_shuffle*.json``, ``items_ins_v2*.json``, optional
  ``items_human_ins.json`` and ``human_goals.json``) and print what the envs
  would use (products, goals, split sizes). The official files come from the
  WebShop repository's download script (Google Drive); nothing is downloaded here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent_gym.errors import AgentGymError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the webshop arguments to ``parser``."""
    parser.add_argument("--check", type=Path, metavar="DIR", help="check a folder of official WebShop files")
    parser.add_argument("--num-products", type=int, default=1000, help="generated catalog size (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="generated catalog seed (default 0)")
    parser.add_argument("--goals-per-product", type=int, default=3, help="instructions per generated product")
    parser.add_argument("--out", type=Path, help="folder for the generated files (default: the env cache folder)")


def _summary(products: int, goals: int) -> str:
    from agent_gym.webshop.goals import split_range

    sizes = {s: len(split_range(s, goals)) for s in ("test", "dev", "train")}
    return f"{products} products, {goals} goals; split sizes {sizes}"


def main(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    from agent_gym.webshop import generator
    from agent_gym.webshop.shop import load_data_dir

    try:
        if args.check is not None:
            products, goals = load_data_dir(args.check)
            print(f"{args.check}: {_summary(len(products), len(goals))}")
            print(f"use it with: gym.make('WebShop-Text-v0', data_dir={str(args.check)!r})")
            return 0
        if args.out is None:
            out = generator.default_catalog_dir(args.num_products, args.seed, args.goals_per_product)
        else:
            out = generator.write_catalog(args.out, args.num_products, args.seed, args.goals_per_product)
        products, goals = load_data_dir(out)
        print(f"generated catalog in {out}: {_summary(len(products), len(goals))}")
        if args.out is not None:
            print(f"use it with: gym.make('WebShop-Text-v0', data_dir={str(out)!r})")
        return 0
    except (AgentGymError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
