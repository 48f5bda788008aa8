"""trainers.sequences: assistant-only masks and masked log-probs on the tiny model."""

from __future__ import annotations

import pytest
import torch

from trainers.sequences import (
    collate,
    encode_conversation,
    encode_prompt_completion,
    masked_sequence_logprob,
    token_logprobs,
)

CONV = [
    {"role": "system", "content": "You are an agent."},
    {"role": "user", "content": "You are in a room. Your task is to: put a mug on the desk."},
    {"role": "assistant", "content": "Thought: find the mug.\nAction: go to desk 1"},
    {"role": "user", "content": "On the desk 1, you see a mug 1."},
    {"role": "assistant", "content": "Action: take mug 1 from desk 1"},
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()


def _masked_text(tok, enc):
    return tok.decode([i for i, m in zip(enc.input_ids, enc.loss_mask) if m])


def test_conversation_masks_exactly_assistant_turns(tiny):
    tok, _ = tiny
    enc = encode_conversation(tok, CONV)
    assert len(enc.input_ids) == len(enc.loss_mask)
    text = _masked_text(tok, enc)
    assert "go to desk 1" in text and "take mug 1 from desk 1" in text
    assert "You are in a room" not in text and "On the desk 1" not in text and "You are an agent" not in text


def test_prompt_completion_masks_prompt_and_env_turns(tiny):
    tok, _ = tiny
    enc = encode_prompt_completion(tok, CONV[:2], CONV[2:])
    text = _masked_text(tok, enc)
    assert "go to desk 1" in text and "take mug 1" in text and "On the desk 1" not in text
    later = encode_prompt_completion(tok, CONV[:4], CONV[4:])
    assert "go to desk 1" not in _masked_text(tok, later) and "take mug 1" in _masked_text(tok, later)
    assert later.input_ids == enc.input_ids  # same tokens, different mask
    with pytest.raises(ValueError, match="assistant"):
        encode_prompt_completion(tok, CONV[:2], CONV[3:])
    cut = encode_prompt_completion(tok, CONV[:2], CONV[2:], max_length=10)
    assert cut.truncated and len(cut.input_ids) == 10


def test_masked_logprob_equals_manual_sum(tiny):
    tok, model = tiny
    a = encode_prompt_completion(tok, CONV[:2], CONV[2:])
    b = encode_prompt_completion(tok, CONV[:4], CONV[4:])
    batch = collate([a, b], tok.pad_token_id)
    assert batch["input_ids"].shape == batch["loss_mask"].shape
    with torch.no_grad():
        got = masked_sequence_logprob(model, batch)
        for row, enc in enumerate([a, b]):
            ids = torch.tensor([enc.input_ids])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            manual = sum(logp[t - 1, enc.input_ids[t]].item() for t in range(1, len(enc)) if enc.loss_mask[t])
            assert got[row].item() == pytest.approx(manual, rel=1e-4, abs=1e-3)
        # padding does not change a row's token log-probs
        alone = token_logprobs(model, torch.tensor([b.input_ids]), torch.ones(1, len(b), dtype=torch.long))
        padded = token_logprobs(model, batch["input_ids"], batch["attention_mask"])[1, : len(b) - 1]
        assert torch.allclose(alone[0], padded, atol=1e-4)


def test_template_that_rewrites_history_is_rejected_by_name(tiny):
    """A template whose rendering of earlier turns depends on what follows cannot give prompt == context."""
    tok, _ = tiny
    import copy

    from trainers.sequences import ChatTemplateError

    odd = copy.copy(tok)
    # the message count is written first, so no prompt is a prefix of a longer conversation
    odd.chat_template = (
        "{{ messages | length }}{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"
    )
    with pytest.raises(ChatTemplateError, match=r"chat template of .*sha1 .*not prefix-stable"):
        encode_conversation(odd, CONV)
    none = copy.copy(tok)
    none.chat_template = None
    with pytest.raises(ChatTemplateError, match="no chat_template"):
        encode_conversation(none, CONV)
