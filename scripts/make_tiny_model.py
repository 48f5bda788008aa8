"""Build the tiny random test model: ``python -m scripts.make_tiny_model OUT_DIR``.

A Qwen2-style causal LM (2 layers, hidden 128, heads of dim 64) with a
byte-level BPE tokenizer trained on environment/prompt text and a ChatML chat
template with ``{% generation %}`` markers. About 2 MB; builds in well under a
second once ``transformers`` is imported. Its outputs are random text: it is
for tests and pipeline smoke runs, not for solving tasks.
"""

from __future__ import annotations

import argparse
import sys
import time

from scripts.cli import command_prog


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=command_prog("make_tiny_model"), description=__doc__.split("\n")[0])
    p.add_argument("out_dir", help="folder to write (replaced if it holds an older tiny model)")
    p.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2, help="attention heads (of dimension 64)")
    p.add_argument("--intermediate-size", type=int, default=None, help="MLP width (default 2 x hidden size)")
    p.add_argument("--force", action="store_true", help="rebuild even if OUT_DIR already holds a model")
    args = p.parse_args(argv)
    import shutil
    from pathlib import Path

    from trainers.models import build_tiny_model

    out = Path(args.out_dir)
    for name in ("vocab_size", "hidden_size", "layers", "heads", "intermediate_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if out.exists() and not out.is_dir():
        print(f"error: {out} is a file; choose an empty or new folder", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        if not args.force and (out / "config.json").exists():
            print(f"{out} already holds a model (use --force to rebuild)")
            return 0
        if not (out / "config.json").exists():
            print(f"error: {out} exists and is not a model folder; choose an empty or new folder", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    t_import = time.perf_counter()
    from transformers import PreTrainedTokenizerFast, Qwen2ForCausalLM  # noqa: F401  (timed apart: it dominates)

    t0 = time.perf_counter()
    try:
        path = build_tiny_model(
            out,
            seed=args.seed,
            vocab_size=args.vocab_size,
            hidden_size=args.hidden_size,
            num_layers=args.layers,
            num_heads=args.heads,
            intermediate_size=args.intermediate_size,
        )
    except OSError as exc:
        print(f"error: cannot write the model to {out}: {exc}; choose a writable folder", file=sys.stderr)
        return 2
    size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
    print(
        f"tiny model written to {path} ({size:.1f} MB, built in {time.perf_counter() - t0:.2f} s "
        f"after {t0 - t_import:.1f} s importing transformers)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
