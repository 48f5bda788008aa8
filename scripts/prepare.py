"""Get benchmark data: ``python -m scripts.prepare {alfworld,intercode,webshop} ...``.

Each benchmark package provides ``agent_gym.<bench>.prepare`` with
``configure(parser)`` (adds its arguments) and ``main(args) -> int``.
Run ``python -m scripts.prepare BENCH --help`` for a benchmark's options.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from scripts.cli import command_prog

BENCHMARKS = {
    "alfworld": (
        "agent_gym.alfworld.prepare",
        "ALFWorld game files (official download, or unpack an archive/folder you have)",
    ),
    "intercode": ("agent_gym.sql.prepare", "InterCode-SQL Spider dev tasks and MySQL dump"),
    "webshop": ("agent_gym.webshop.prepare", "WebShop product/attribute/goal files, or a generated catalog"),
}


def build_parser(benchmark: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; only ``benchmark``'s module is imported (imports can be slow)."""
    parser = argparse.ArgumentParser(prog=command_prog("prepare"), description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, (module, help_text) in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        if name != benchmark:
            continue
        try:
            importlib.import_module(module).configure(p)
        except ImportError as exc:  # the benchmark's optional deps are missing
            p.set_defaults(_import_error=str(exc))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in BENCHMARKS else None).parse_args(argv)
    if getattr(args, "_import_error", None):
        print(f"error: cannot prepare {args.benchmark}: {args._import_error}", file=sys.stderr)
        return 2
    return int(importlib.import_module(args._module).main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
