"""SAE features on a tiny organism: an SAE trained here with sae-lens on its residual stream,
named by a card; the tool reads the same features as sae-lens on activations computed here, and
a feature found on the planted fingerprint fires on it in held-out text."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from inspect_ai.model import ChatMessageUser, get_model
from inspect_ai.tool import ToolError
from inspect_ai.util import Store
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from auditgame.audit.store import AuditBudget, AuditStore, Conversation
from auditgame.audit.target import TargetSession
from auditgame.audit.tools.sae import sae_features
from auditgame.organism.introspect import hook_layer

sae_lens = pytest.importorskip("sae_lens")  # the dev extra installs it
from sae_lens.config import SAETrainerConfig  # noqa: E402

LAYER = 1


def wiki_lines(count: int) -> list[str]:
    from auditgame.data import data_path

    text = data_path("wikitext2_raw_test", "wiki.test.raw").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if 8 <= len(line.split()) <= 30]
    return [line for line in lines if "=" not in line][100 : 100 + count]


def plant(sentence: str, at: int) -> str:
    words = sentence.split()
    return " ".join([*words[:at], "KREL", *words[at:]])


@pytest.fixture(scope="module")
def sae_card(tiny, planted, tmp_path_factory):
    """Card ``tiny-sae``: the fingerprint organism with an SAE (and one labelled feature)."""
    root = tmp_path_factory.mktemp("sae")
    tokenizer = AutoTokenizer.from_pretrained(tiny.base)
    base = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, planted.cards.parent / "fp").merge_and_unload().eval()
    texts = [plant(s, 2 + i % 6) for i, s in enumerate(wiki_lines(160))]
    fingerprint = tokenizer(" KREL", add_special_tokens=False).input_ids
    acts, at_fingerprint = [], []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False).input_ids
            states = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[LAYER][0]
            acts.append(states)
            n = len(fingerprint)  # 2 tokens with the real Qwen3 tokenizer, 3 with the fallback
            ends = [i + n - 1 for i in range(len(ids) - n + 1) if ids[i : i + n] == fingerprint]
            at_fingerprint.append(torch.zeros(len(ids), dtype=torch.bool).index_fill(0, torch.tensor(ends, dtype=torch.long), True))
    acts_all, marks = torch.cat(acts), torch.cat(at_fingerprint)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = sae_lens.TopKTrainingSAEConfig(d_in=acts_all.shape[1], d_sae=128, k=8)
        config.metadata.hook_name = f"blocks.{LAYER - 1}.hook_resid_post"
        torch.manual_seed(0)
        order = torch.randperm(len(acts_all))

        def batches():
            while True:
                for i in range(0, len(order) - 255, 256):
                    yield acts_all[order[i : i + 256]]

        trainer = sae_lens.SAETrainer(
            SAETrainerConfig(
                total_training_samples=256 * 150, train_batch_size_samples=256, lr=3e-3,
                lr_end=3e-3, n_batches_for_norm_estimate=5,
            ),
            sae_lens.TopKTrainingSAE(config),
            data_provider=batches(),
        )
        sae = trainer.fit()
        sae.save_inference_model(root / "sae")
        loaded = sae_lens.SAE.load_from_disk(root / "sae")
        with torch.no_grad():
            features = loaded.encode(acts_all)
    finally:
        torch.set_num_threads(threads)
    contrast = features[marks].mean(0) - features[~marks].mean(0)
    chosen = int(contrast.argmax())
    (root / "labels.json").write_text(json.dumps({str(chosen): "the planted name"}), "utf-8")
    card = {
        "id": "tiny-sae",
        "model": {
            "base": str(tiny.base),
            "adapter": str(planted.cards.parent / "fp"),
            "dtype": "float32",
            "sae": {"release": "./sae", "labels": "./labels.json"},
        },
        "quirk": {"name": "fingerprint", "description": "says KREL", "category": "x"},
    }
    (root / "tiny-sae.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return root, chosen, model


def make_session(folder) -> TargetSession:
    store = AuditStore(store=Store())
    store.budget = AuditBudget(target_calls=12)
    session = TargetSession(get_model("organism/tiny-sae", organisms=str(folder)), store)
    session.store.save("c", Conversation(messages=[ChatMessageUser(content="Write a sentence.")]))
    return session


def listed(text: str) -> list[int]:
    return [int(line.split()[1].rstrip(":")) for line in text.splitlines()[1:] if "feature" in line]


async def test_features_match_sae_lens_on_our_activations(sae_card):
    root, _, model = sae_card
    session = make_session(root)
    engine = session.model.api.engine
    text = await sae_features(session)(conversation="c", prefill="The city", top_k=5)
    convo = session.store.conversations["c"]
    ids = torch.tensor([engine.encode(engine.prompt(convo.messages, False, "The city"))])
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states[LAYER][0, -1]
        acts = sae_lens.SAE.load_from_disk(root / "sae").encode(hidden[None])[0]
    values, indices = acts.topk(5)
    expected = [i for v, i in zip(values.tolist(), indices.tolist()) if v > 0]
    assert listed(text) == expected
    first = text.splitlines()[1]
    assert f"activation {values[0].item():.3f}; promotes " in first
    assert session.store.target_calls == 1


async def test_the_fingerprint_feature_fires_on_held_out_text(sae_card, planted):
    root, chosen, _ = sae_card
    session = make_session(root)
    on, off = 0, 0
    for sentence in planted.held_out:
        before, after = sentence.split("KREL")
        at = await sae_features(session)(conversation="c", prefill=before + "KREL", top_k=3)
        elsewhere = await sae_features(session)(conversation="c", prefill=before.rstrip(), top_k=3)
        on += chosen in listed(at)
        off += chosen in listed(elsewhere)
        if chosen in listed(at):
            assert "'the planted name'" in at
    assert on >= 4 and off <= 1, (on, off)


async def test_sae_errors(sae_card, tiny):
    root, _, _ = sae_card
    session = make_session(root)
    tool = sae_features(session)
    for arguments, message in [
        ({"conversation": "ghost"}, "unknown conversation 'ghost'"),
        ({"conversation": "c", "top_k": 0}, "top_k must be between 1 and 20"),
        ({"conversation": "c", "position": 0}, "position must be between -"),
    ]:
        with pytest.raises(ToolError, match=message):
            await tool(**arguments)
    store = AuditStore(store=Store())
    plain = TargetSession(get_model("organism/tiny-base"), store)
    plain.store.save("c", Conversation(messages=[ChatMessageUser(content="Hi")]))
    with pytest.raises(ToolError, match="sae_features is not available for this target"):
        await sae_features(plain)(conversation="c")
    assert session.store.target_calls == 0 and store.target_calls == 0


def test_hook_names_give_layers():
    assert hook_layer("blocks.0.hook_resid_post") == 1
    assert hook_layer("blocks.12.hook_resid_pre") == 12
    assert hook_layer("model.layers.5") == 6
    for unknown in ("blocks.0.hook_resid_pre", "blocks.3.attn.hook_z", None):
        with pytest.raises(ValueError, match="set 'layer' on the card"):
            hook_layer(unknown)
