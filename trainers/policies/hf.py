"""Hugging Face ``transformers`` backend: batched ``generate`` with left padding, on CPU or GPU."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from trainers.models import auto_dtype, resolve_device
from trainers.policies.base import (
    Conversation,
    Generation,
    GenerationParams,
    Policy,
)


class HFPolicy(Policy):
    """Generate with a ``transformers`` causal LM.

    Args:
        model: a folder / hub id, or an already loaded ``PreTrainedModel`` (e.g.
            the model a trainer is updating: generation then uses its current weights).
        tokenizer: required when ``model`` is an object; loaded from the folder otherwise.
        device: ``"cpu"``, ``"cuda"``, ... (default: cuda if available). Ignored for model objects.
        dtype: torch dtype or its name for loading; ``"auto"``: bfloat16 where the
            device supports it, else float32 (:func:`trainers.models.auto_dtype`); default ``None``: the checkpoint's.
        batch_size: rows per ``generate`` call (prompts are sorted by length first).
        max_prompt_tokens: prompts longer than this are cut from the left with a
            warning (default: the model's ``max_position_embeddings - max_new_tokens``).
    """

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        batch_size: int = 16,
        max_prompt_tokens: int | None = None,
    ):
        if isinstance(model, (str, os.PathLike)):
            from trainers.lora import load_causal_lm

            dev = resolve_device(device)
            self.model, loaded_tok = load_causal_lm(model, dtype=auto_dtype(dtype, dev), device=dev)
            self._tokenizer = tokenizer or loaded_tok
            self.source = str(model)
        else:
            if tokenizer is None:
                raise ValueError("HFPolicy(model_object) needs tokenizer=...")
            self.model, self._tokenizer = model, tokenizer
            self.source = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
        if not getattr(self._tokenizer, "chat_template", None):
            raise ValueError(
                f"the tokenizer of {self.source!r} has no chat template; agent-gym prompts are chat conversations"
            )
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self.batch_size = int(batch_size)
        self.max_prompt_tokens = max_prompt_tokens

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        return {"backend": self.name, "model": self.source, "dtype": dtype}

    def _prompt_limit(self, params: GenerationParams) -> int | None:
        if self.max_prompt_tokens is not None:
            return self.max_prompt_tokens
        max_pos = getattr(self.model.config, "max_position_embeddings", None)
        return max_pos - params.max_new_tokens if max_pos else None

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        gc_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for x in (self._tokenizer.eos_token_id, gc_eos):
            if isinstance(x, int):
                ids.append(x)
            elif isinstance(x, (list, tuple)):
                ids += [int(i) for i in x]
        return sorted(set(ids))

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[list[Generation]]:
        import torch

        params, prompts = self._prompts(conversations, params)
        rows = [(ci, p) for ci, p in enumerate(prompts) for _ in range(params.n)]
        order = sorted(range(len(rows)), key=lambda r: len(rows[r][1]))
        out: list[Generation | None] = [None] * len(rows)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]):
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                for start in range(0, len(order), self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    gens = self._generate_batch([rows[r][1] for r in chunk], params)
                    for r, g in zip(chunk, gens):
                        out[r] = g
        finally:
            if was_training:
                self.model.train()
        result: list[list[Generation]] = [[] for _ in conversations]
        for (ci, _), gen in zip(rows, out):
            assert gen is not None
            result[ci].append(gen)
        return result

    def _generate_batch(self, prompts: list[list[int]], params: GenerationParams) -> list[Generation]:
        import torch

        tok = self._tokenizer
        pad = tok.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            input_ids[i, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            attention[i, width - len(p) :] = 1
        eos = self._eos_ids()
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            eos_token_id=eos or None,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_logits=params.logprobs,
            use_cache=True,
        )
        if params.greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tok)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
            )
        gen_ids = out.sequences[:, width:]
        seqs = gen_ids.tolist()
        picked = None
        if params.logprobs:  # log p of each generated token under the raw logits, one step at a time
            picked = torch.stack(
                [
                    torch.log_softmax(step.float(), dim=-1)
                    .gather(-1, gen_ids[:, t : t + 1].to(step.device))
                    .squeeze(-1)
                    for t, step in enumerate(out.logits)
                ],
                dim=1,
            ).tolist()
        eos_set = set(eos)
        gens: list[Generation] = []
        for i, seq in enumerate(seqs):
            ids: list[int] = []
            ended = False
            for t in seq:
                ids.append(t)
                if t in eos_set:
                    ended = True
                    break
            if ended:
                finish = "stop"
            else:  # rows stopped by a stop string (or done early) are padded after their end
                while ids and ids[-1] == pad and pad not in eos_set:
                    ids.pop()
                finish = "length" if len(ids) >= params.max_new_tokens else "stop"
            text = tok.decode([t for t in ids if t not in eos_set], skip_special_tokens=False)
            for s in params.stop:
                cut = text.find(s)
                if cut >= 0:
                    text = text[:cut]
                    finish = "stop"
            lps = [float(x) for x in picked[i][: len(ids)]] if picked is not None else None
            gens.append(
                Generation(
                    text=text,
                    token_ids=ids,
                    logprobs=lps,
                    finish_reason=finish,
                    prompt_tokens=len(prompts[i]),
                )
            )
        return gens

    def load_weights(self, model_or_path: Any) -> None:
        """Copy weights from a module with the same architecture, or load a checkpoint folder."""
        from trainers.lora import load_causal_lm, plain_state_dict

        if isinstance(model_or_path, (str, os.PathLike)):
            new, _ = load_causal_lm(model_or_path, dtype=next(self.model.parameters()).dtype)
            self.model.load_state_dict(new.state_dict())
        else:
            if model_or_path is self.model:
                return
            self.model.load_state_dict(plain_state_dict(model_or_path))
