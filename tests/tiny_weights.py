"""Models of a few thousand weights and a word-level tokenizer, built inside a test in
milliseconds (no `auditgame tiny` build): for unit tests of the serving core."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
import yaml
from tokenizers import Tokenizer, decoders, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from auditgame.cards import Organism, load_card

SPECIAL = ["<pad>", "<eos>", "<unk>"]
WORDS = [f"w{i}" for i in range(45)]
VOCABULARY = SPECIAL + WORDS
"""Token id = position: ``<pad>`` 0, ``<eos>`` 1, ``<unk>`` 2, then ``w0`` ... ``w44``."""
PAD, EOS = 0, 1

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m.role }}> {{ m.content }} {% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% if not enable_thinking %} nothink{% endif %}{% endif %}"
)
"""A template that shows each role, the generation prompt and the thinking switch."""


def word_tokenizer(eos: bool = True) -> PreTrainedTokenizerFast:
    """Splits on spaces, one token per word; decodes by joining with spaces."""
    vocabulary = {word: i for i, word in enumerate(VOCABULARY)}
    model = Tokenizer(WordLevel(vocabulary, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    model.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model,
        unk_token="<unk>",
        eos_token="<eos>" if eos else None,
        pad_token=None,
        chat_template=CHAT_TEMPLATE,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<pad>"]})
    return tokenizer


def tiny_lm(seed: int = 0, positions: int = 64, **config: Any) -> Qwen3ForCausalLM:
    """A 2-layer Qwen3 with random weights over `VOCABULARY` (no padding token configured)."""
    torch.manual_seed(seed)
    settings: dict[str, Any] = dict(
        vocab_size=len(VOCABULARY), hidden_size=8, intermediate_size=16, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=4, max_position_embeddings=positions,
        tie_word_embeddings=False, eos_token_id=EOS, pad_token_id=None, bos_token_id=None,
    )
    settings.update(config)
    model = Qwen3ForCausalLM(Qwen3Config(**settings)).eval()
    with torch.no_grad():  # logits spread enough that greedy picks differ from step to step
        model.lm_head.weight.mul_(40)
    return model


def lora_adapter(model: Qwen3ForCausalLM, folder: Path, seed: int = 1, rank: int = 2) -> Path:
    """A saved LoRA on ``model`` with random, non-zero weights (``model`` is left unchanged)."""
    import copy

    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 2.0)
    lora.save_pretrained(folder)
    return folder


def write_base(folder: Path, model: Qwen3ForCausalLM | None = None, eos: bool = True) -> Path:
    """``folder`` with the model's weights and the word tokenizer."""
    (model or tiny_lm()).save_pretrained(folder)
    word_tokenizer(eos).save_pretrained(folder)
    return folder


def card_for(root: Path, organism_id: str = "tiny", **model: Any) -> Organism:
    """A card file in ``root`` for a local model (``model`` are its ``model:`` fields; ``base``
    defaults to a base written to ``root/base``)."""
    extra = {k: model.pop(k) for k in ("system_prompt", "chat") if k in model}
    if "base" not in model:
        model["base"] = str(write_base(root / "base"))
    model.setdefault("dtype", "float32")
    path = root / f"{organism_id}.card.yaml"
    path.write_text(yaml.safe_dump({"id": organism_id, "model": model, "control": True, **extra}))
    return load_card(path)


def merged(model: Qwen3ForCausalLM, adapter: Path) -> Any:
    """peft's merged copy of ``model`` with ``adapter`` (the organism, computed without the engine)."""
    import copy

    from peft import PeftModel

    return PeftModel.from_pretrained(copy.deepcopy(model), str(adapter)).merge_and_unload().eval()


def greedy(model: Any, prompt: list[int], count: int, eos: Collection[int] = (EOS,)) -> list[int]:
    """Greedy continuation by full forward passes (no cache, no batching): the reference the
    serving paths are compared with."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(count):
            token = int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token in eos:
                break
            ids.append(token)
    return ids[len(prompt):]
