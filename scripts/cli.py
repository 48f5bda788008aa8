"""The ``agent-gym`` command: one entry point whose subcommands run the scripts in this package.

    agent-gym evaluate --env InterCodeSQL-v0 --policy random --episodes 3
    agent-gym hpl --config hpl_tiny --method eto
    agent-gym COMMAND --help

``agent-gym X ...`` runs the same ``main`` as ``python -m scripts.X ...``. The
command is installed as a console script, so it works from any folder, even
one that has its own ``scripts/`` package (where ``python -m scripts.X`` picks
up that folder instead, since Python puts the current folder first on the
import path).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

#: command -> (module in this package, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("evaluate", "evaluate a model or a scripted policy (oracle, random) on an environment"),
    "hpl": ("hpl", "run the HPL pipeline or a baseline (SFT, RFT, ETO, IPR) from a config"),
    "hgpo": ("hgpo", "train with HGPO / GRPO / GiGPO from a config"),
    "prepare": ("prepare", "get benchmark data (alfworld, intercode, webshop)"),
    "serve-webshop": ("serve_webshop", "serve the WebShop site over HTTP"),
    "make-tiny-model": ("make_tiny_model", "write a tiny random chat model for tests and demos"),
    "export-preferences": (
        "export_preferences",
        "export an HPL run's preference pairs as a datasets folder / Hub dataset",
    ),
    "get-model": ("get_model", "install a real small model (SmolLM2-135M-Instruct) as a local folder, offline"),
}

_active: str | None = None  # the command main() is running, for command_prog()


def available_commands() -> dict[str, tuple[str, str]]:
    """The commands whose module exists beside this one (``get-model`` may not)."""
    here = Path(__file__).resolve().parent
    return {name: (mod, text) for name, (mod, text) in COMMANDS.items() if (here / f"{mod}.py").is_file()}


def command_prog(module: str) -> str:
    """The ``prog`` for the argument parser of ``scripts/<module>.py``.

    ``agent-gym <command>`` while :func:`main` runs it, else ``python -m scripts.<module>``.
    """
    if _active is not None and COMMANDS[_active][0] == module:
        return f"agent-gym {_active}"
    return f"python -m scripts.{module}"


def usage() -> str:
    """The text ``agent-gym --help`` prints."""
    cmds = available_commands()
    width = max(len(n) for n in cmds)
    lines = [
        "usage: agent-gym COMMAND [ARGS ...]",
        "",
        "Gymnasium environments (ALFWorld, WebShop, InterCode-SQL) and trainers (HPL, HGPO).",
        "",
        "commands:",
    ]
    lines += [f"  {name:{width}s}  {text}" for name, (_, text) in cmds.items()]
    lines += ["", "Run `agent-gym COMMAND --help` for a command's options; `agent-gym --version` prints the version."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``agent-gym COMMAND ARGS``; returns the command's exit status."""
    global _active
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"agent-gym {version('agent-gym')}")
        except PackageNotFoundError:
            import agent_gym

            print(f"agent-gym {agent_gym.__version__} (not installed)")
        return 0
    name, rest = args[0], args[1:]
    cmds = available_commands()
    if name not in cmds:
        print(
            f"agent-gym: unknown command {name!r}; choose one of: {', '.join(cmds)} (agent-gym --help)", file=sys.stderr
        )
        return 2
    module = importlib.import_module(f"{__package__}.{cmds[name][0]}")
    _active = name
    try:
        return int(module.main(rest) or 0)
    finally:
        _active = None


if __name__ == "__main__":
    sys.exit(main())
