"""Assistant-token masks on the chat templates real models ship (TRL's bundled copies) and SmolLM2's own.

For every template the masked tokens must decode to exactly the assistant turns, each followed by
its end-of-turn token, and never to system, user or observation text; and the prompt a policy is
fed before each assistant turn must be a token prefix of the training sequence (rollout prompts
equal training contexts). The templates are exercised with the tiny BPE tokenizer plus each
family's special tokens, so no model download is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trainers.sequences import (
    TrainingDataError,
    chat_messages,
    encode_conversation,
    encode_prompt_completion,
    prompt_ids,
    supports_system_role,
)

SYSTEM = "You are a household agent. Reply with a Thought line and an Action line."
CONV = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "You are in the middle of a room. Your task is to: put a mug on the desk."},
    {"role": "assistant", "content": "Thought: the mug is probably on the countertop.\nAction: go to countertop 1"},
    {"role": "user", "content": "On the countertop 1, you see a mug 1 and a plate 2."},
    {"role": "assistant", "content": "Thought: take it.\nAction: take mug 1 from countertop 1"},
    {"role": "user", "content": "You pick up the mug 1 from the countertop 1."},
    {"role": "assistant", "content": "Action: go to desk 1"},
]
ASSISTANT = [m["content"] for m in CONV if m["role"] == "assistant"]
OTHER = [m["content"] for m in CONV if m["role"] != "assistant"]

#: template name in trl/chat_templates -> the end-of-turn token its models emit
TEMPLATES = {
    "qwen2_5": "<|im_end|>",
    "llama3_1": "<|eot_id|>",
    "qwen3": "<|im_end|>",
    "phi3": "<|end|>",
    "gemma": "<end_of_turn>",
    "gemma3": "<end_of_turn>",
    "deepseekv3": "<｜end▁of▁sentence｜>",
}
_SPECIAL = re.compile(r"<[|｜][^<>\s]{1,40}?[|｜]>|<(?:start|end)_of_turn>|<bos>|<eos>")


def _trl_template(name: str) -> str:
    trl = pytest.importorskip("trl")
    path = Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja"
    if not path.exists():
        pytest.fail(f"trl {trl.__version__} no longer bundles {path.name}; update the template list")
    return path.read_text(encoding="utf-8")


def _tokenizer_with(tiny_model_dir, template: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    specials = sorted(set(_SPECIAL.findall(template)))
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.chat_template = template
    return tok


def _masked_runs(tok, enc) -> list[str]:
    runs, cur = [], []
    for i, m in zip(enc.input_ids, enc.loss_mask):
        if m:
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


def _check_masks(tok, eot: str) -> None:
    enc = encode_conversation(tok, CONV)
    assert _masked_runs(tok, enc) == [c + eot for c in ASSISTANT]
    unmasked = tok.decode([i for i, m in zip(enc.input_ids, enc.loss_mask) if not m])
    for text in OTHER:  # system, task and observations are all there, and none of it is trained
        assert text in unmasked
    for text in ASSISTANT:
        assert text not in unmasked
    # the prompt before every assistant turn is a token prefix of the whole sequence, and a
    # prompt+completion encoding trains that turn only
    for k, msg in enumerate(CONV):
        if msg["role"] != "assistant":
            continue
        p = prompt_ids(tok, CONV[:k])
        assert enc.input_ids[: len(p)] == p
        one = encode_prompt_completion(tok, CONV[:k], [msg])
        assert _masked_runs(tok, one) == [msg["content"] + eot]
        assert one.input_ids[: len(p)] == p


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_stock_template_masks_exactly_the_assistant_turns(tiny_model_dir, name):
    _check_masks(_tokenizer_with(tiny_model_dir, _trl_template(name)), TEMPLATES[name])


def test_templates_without_system_role_fold_it_into_the_first_user_turn(tiny_model_dir):
    tok = _tokenizer_with(tiny_model_dir, _trl_template("gemma"))
    assert not supports_system_role(tok)  # gemma's template raises on a system message
    msgs = chat_messages(tok, CONV[:2])
    assert [m["role"] for m in msgs] == ["user"]
    assert msgs[0]["content"].startswith(SYSTEM) and msgs[0]["content"].endswith(CONV[1]["content"])
    # the rollout prompt carries the system text exactly where training has it
    p = tok.decode(prompt_ids(tok, CONV[:2]))
    assert SYSTEM in p and p.index(SYSTEM) < p.index("Your task is to")
    qwen = _tokenizer_with(tiny_model_dir, _trl_template("qwen2_5"))
    assert supports_system_role(qwen) and chat_messages(qwen, CONV) == CONV


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def test_smollm2_keeps_its_own_template_and_masks_work(smollm2_tokenizer):
    tok = smollm2_tokenizer
    assert "{% generation %}" not in tok.chat_template  # its own template, not the project's ChatML
    assert "SmolLM" in tok.chat_template  # SmolLM2's default system prompt lives in its template
    _check_masks(tok, "<|im_end|>")


def test_training_on_nothing_is_an_error_naming_model_template_count_and_fix(tiny_model_dir, tmp_path):
    from trainers.hpl.train import run_sft

    no_assistant = [[m for m in CONV if m["role"] != "assistant"]] * 3
    with pytest.raises(TrainingDataError) as err:
        run_sft(
            tiny_model_dir, no_assistant, tmp_path / "out", epochs=1, batch_size=2, micro_batch_size=2, device="cpu"
        )
    msg = str(err.value)
    assert "SFT" in msg and str(tiny_model_dir) in msg and "0 tokens" in msg and "0 of 3" in msg
    assert "chat template" in msg and "assistant" in msg
    with pytest.raises(TrainingDataError, match=r"exceed max_length=8: raise max_length"):
        run_sft(
            tiny_model_dir,
            [CONV] * 3,
            tmp_path / "out",
            epochs=1,
            batch_size=2,
            micro_batch_size=2,
            device="cpu",
            max_length=8,
        )
    assert not (tmp_path / "out").exists()  # nothing was trained or written


def test_sft_with_a_stock_template_trains_assistant_tokens(tiny_model_dir, tmp_path):
    """The model's own stock template (no generation markers) trains, and the metrics say on how much."""
    from transformers import AutoModelForCausalLM

    from trainers.hpl.train import run_sft

    model_dir = tmp_path / "qwen_tmpl"
    tok = _tokenizer_with(tiny_model_dir, _trl_template("qwen2_5"))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    _, metrics = run_sft(
        model_dir,
        [CONV] * 4,
        tmp_path / "out",
        epochs=1,
        batch_size=2,
        micro_batch_size=2,
        device="cpu",
        learning_rate=1e-3,
    )
    expected = 4 * sum(encode_conversation(tok, CONV).loss_mask)
    assert metrics["data/trained_tokens"] == expected > 0 and metrics["data/kept"] == 4
    assert metrics["steps"] == 2


def test_composite_stage_with_nothing_to_train_stops_before_training(tiny_model_dir, tmp_path):
    from trainers.hpl.train import train_composite

    no_assistant = [m for m in CONV if m["role"] != "assistant"]
    with pytest.raises(TrainingDataError, match=r"composite .*0 tokens from 0 of 1 samples"):
        train_composite(
            tiny_model_dir, [[("bc", no_assistant)]], tmp_path / "composite", weights={"bc": 1.0}, device="cpu"
        )
    assert not (tmp_path / "composite" / "final").exists()


@pytest.mark.parametrize("name", ["qwen2_5", "llama3_1", "gemma"])
def test_an_empty_output_trains_its_end_of_turn_token(tiny_model_dir, name):
    """A policy that answered with nothing emitted only the end-of-turn token: that token is trained."""
    tok = _tokenizer_with(tiny_model_dir, _trl_template(name))
    conv = CONV[:2] + [{"role": "assistant", "content": ""}] + CONV[3:5]
    enc = encode_conversation(tok, conv)
    assert _masked_runs(tok, enc) == [TEMPLATES[name], CONV[4]["content"] + TEMPLATES[name]]
