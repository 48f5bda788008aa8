"""LoRA as a config switch: one settings class and the few operations every trainer needs.

* :class:`LoraSettings` is the ``lora:`` section of the HPL and HGPO configs
  (``enabled``, ``r``, ``alpha``, ``dropout``, ``target_modules``, ``merge``).
* :func:`add_adapter` wraps a loaded model with a fresh adapter (a model that is
  itself an adapter checkpoint was merged on load, so training always starts
  from full weights plus one new adapter).
* :func:`reference_mode` runs the same model with its adapter disabled: the
  frozen reference of DPO/KL terms, without a second copy of the weights.
* :func:`save_model` writes a checkpoint: the adapter (``adapter_config.json``
  names its base folder), plus a merged full model in ``merged/`` when asked.
* :func:`load_causal_lm` is the loader every backend uses: a full model folder,
  or an adapter folder (its base is loaded recursively and the adapter merged).
* :func:`materialize` gives a full-weights folder for an adapter checkpoint
  (what vLLM loads).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_dir

ADAPTER_CONFIG = "adapter_config.json"
MERGED_DIR = "merged"


@dataclass
class LoraSettings:
    """LoRA settings of a training stage (``enabled: false`` trains all weights)."""

    enabled: bool = field(default=False, metadata={"help": "train a LoRA adapter instead of all weights"})
    r: int = field(default=16, metadata={"help": "adapter rank"})
    alpha: float = field(default=32.0, metadata={"help": "scaling numerator (scale = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the adapter's input"})
    target_modules: list[str] | str = field(
        default="all-linear",
        metadata={"help": "module names to adapt, or 'all-linear' (every linear layer but the head)"},
    )
    merge: bool = field(default=False, metadata={"help": "also save the merged full model in <checkpoint>/merged"})

    def __post_init__(self) -> None:
        if isinstance(self.enabled, str) or not isinstance(self.enabled, bool):
            raise ValueError(f"lora.enabled must be true or false, got {self.enabled!r}")
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"lora.r must be an integer >= 1, got {self.r!r}")
        try:
            self.alpha = float(self.alpha)
            self.dropout = float(self.dropout)
        except (TypeError, ValueError):
            raise ValueError(
                f"lora.alpha and lora.dropout must be numbers, got {self.alpha!r}, {self.dropout!r}"
            ) from None
        if self.alpha <= 0:
            raise ValueError(f"lora.alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        tm = self.target_modules
        if isinstance(tm, str):
            if not tm:
                raise ValueError("lora.target_modules is empty; use 'all-linear' or a list of module names")
        elif not (isinstance(tm, list) and tm and all(isinstance(x, str) and x for x in tm)):
            raise ValueError(f"lora.target_modules must be 'all-linear' or a non-empty list of names, got {tm!r}")
        if not isinstance(self.merge, bool):
            raise ValueError(f"lora.merge must be true or false, got {self.merge!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def peft_config(self) -> Any:
        from agent_gym.errors import require

        peft = require("peft", "train")
        return peft.LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
            bias="none",
        )


def is_adapter_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a LoRA adapter checkpoint (an ``adapter_config.json`` and no full weights)."""
    p = Path(path)
    return p.is_dir() and (p / ADAPTER_CONFIG).exists()


def adapter_base(path: str | os.PathLike) -> str:
    """The base model an adapter checkpoint was trained on (``base_model_name_or_path``)."""
    cfg = json.loads((Path(path) / ADAPTER_CONFIG).read_text())
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{Path(path) / ADAPTER_CONFIG} names no base_model_name_or_path; cannot load the adapter")
    return str(base)


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def add_adapter(model: Any, settings: LoraSettings, base_path: str | os.PathLike) -> Any:
    """``model`` wrapped with a fresh trainable adapter; ``base_path`` is recorded as the adapter's base."""
    from peft import get_peft_model

    cfg = settings.peft_config()
    base = str(Path(base_path).resolve()) if Path(base_path).exists() else str(base_path)
    cfg.base_model_name_or_path = base
    # PEFT records the model's name_or_path as the adapter's base: make it the folder the caller named
    # (for an adapter checkpoint that is the checkpoint, not its merged/ copy)
    model.__dict__["name_or_path"] = base
    if getattr(model, "config", None) is not None:
        model.config._name_or_path = base
    return get_peft_model(model, cfg)


def resume_adapter(model: Any, adapter_path: str | os.PathLike) -> Any:
    """``model`` (the adapter's base) with the saved adapter loaded as trainable (to resume training)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_path), is_trainable=True)


@contextlib.contextmanager
def reference_mode(model: Any) -> Iterator[Any]:
    """The model with its adapter disabled (the frozen reference); a no-op context for other models."""
    inner = model
    while not is_peft_model(inner) and hasattr(inner, "module"):  # DDP / accelerate wrappers
        inner = inner.module
    if is_peft_model(inner):
        with inner.disable_adapter():
            yield model
    else:
        yield model


def trainable_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def merged_copy(model: Any) -> Any:
    """A plain model with the adapter merged into the weights (the training model is left as it is)."""
    import copy

    if not is_peft_model(model):
        return model
    return copy.deepcopy(model).merge_and_unload()


def save_model(
    model: Any, tokenizer: Any, out_dir: str | os.PathLike, *, merge: bool = False, state_dict: dict | None = None
) -> Path:
    """Save ``model`` atomically: full weights, or for an adapter model the adapter (+ ``merged/`` if ``merge``).

    ``state_dict``: the gathered weights under DeepSpeed ZeRO-3 (``accelerator.get_state_dict``).
    """
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        write_model(model, tokenizer, tmp, merge=merge, state_dict=state_dict)
    return out


def write_model(
    model: Any, tokenizer: Any, folder: str | os.PathLike, *, merge: bool = False, state_dict: dict | None = None
) -> None:
    """Write ``model`` and ``tokenizer`` into ``folder`` (not atomic: call it inside ``atomic_dir``)."""
    folder = Path(folder)
    model.save_pretrained(str(folder), state_dict=state_dict)
    tokenizer.save_pretrained(str(folder))
    if merge and is_peft_model(model):
        merged = merged_copy(model)
        merged.save_pretrained(str(folder / MERGED_DIR))
        tokenizer.save_pretrained(str(folder / MERGED_DIR))


def _full_weights_dir(path: Path) -> Path | None:
    if (path / MERGED_DIR / "config.json").exists():
        return path / MERGED_DIR
    return None


def load_causal_lm(
    path: str | os.PathLike, *, dtype: Any = None, device: str | None = None, depth: int = 0
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a model folder, a hub id or an adapter checkpoint: the one model loader.

    An adapter checkpoint is loaded onto its base and merged; adapter chains (an adapter whose
    base is itself an adapter checkpoint, as when HPL's composite stage trains a LoRA on a
    LoRA-trained pi_ref) are resolved recursively. The tokenizer comes from ``path`` when it holds
    one. ``dtype``: a torch dtype, its name, ``"auto"`` (:func:`trainers.models.auto_dtype` for
    ``device``) or ``None`` (the checkpoint's). ``device``: where to move the weights (``None``:
    leave them where loading put them; resolve names with :func:`trainers.models.resolve_device`).
    A missing folder or an unreachable hub id raises a one-line ``AgentGymError``.
    """
    from transformers import AutoModelForCausalLM

    from trainers.models import check_model_source, load_tokenizer, model_load_error, torch_dtype

    p = Path(path)
    if depth > 8:
        raise ValueError(f"adapter chain deeper than 8 at {p}; is an adapter its own base?")
    check_model_source(path)
    dtype = torch_dtype(dtype, device)
    full = _full_weights_dir(p) if p.is_dir() else None
    if is_adapter_dir(p) and full is None:
        from peft import PeftModel

        base, base_tok = load_causal_lm(adapter_base(p), dtype=dtype, device=None, depth=depth + 1)
        model = PeftModel.from_pretrained(base, str(p)).merge_and_unload()
        tok = load_tokenizer(p) if (p / "tokenizer_config.json").exists() else base_tok
    else:
        src = str(full or path)
        tok = load_tokenizer(src)
        try:
            model = AutoModelForCausalLM.from_pretrained(src, **({} if dtype is None else {"dtype": dtype}))
        except OSError as exc:
            raise model_load_error(src, exc) from exc
    if device is not None:
        model = model.to(device)
    return model, tok


def materialize(path: str | os.PathLike) -> Path:
    """A folder with full weights for ``path``: itself, its ``merged/`` copy, or a merged copy in the cache.

    The cache key covers the adapter chain's files, so a changed adapter is merged again.
    """
    p = Path(path)
    if not is_adapter_dir(p):
        return p
    full = _full_weights_dir(p)
    if full is not None:
        return full
    from agent_gym.paths import cache_dir

    h = hashlib.sha1()
    node: Path | None = p
    while node is not None:
        for name in (ADAPTER_CONFIG, "adapter_model.safetensors", "adapter_model.bin"):
            f = node / name
            if f.exists():
                st = f.stat()
                h.update(f"{f.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
        node = Path(adapter_base(node)) if is_adapter_dir(node) else None
        if node is not None and not is_adapter_dir(node):
            node = None
    out = cache_dir("merged") / h.hexdigest()[:16]
    if (out / "config.json").exists():
        return out
    model, tok = load_causal_lm(p)
    with atomic_dir(out, replace=False) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
    return out


def plain_state_dict(model: Any) -> dict[str, Any]:
    """The weights under the base model's own names, with any adapter merged in (for vLLM weight sync)."""
    if not is_peft_model(model):
        return dict(model.state_dict())
    return dict(merged_copy(model).state_dict())


__all__ = [
    "LoraSettings",
    "add_adapter",
    "adapter_base",
    "is_adapter_dir",
    "is_peft_model",
    "load_causal_lm",
    "materialize",
    "merged_copy",
    "plain_state_dict",
    "reference_mode",
    "resume_adapter",
    "save_model",
    "trainable_parameters",
    "write_model",
]
