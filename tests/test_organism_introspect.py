"""White-box reads of a served organism on a model of a few thousand weights built in the test:
residual streams, the logit lens, steering and SAE features against transformers' own hidden
states of peft's merged copy; the reference model of an organism; SAE loading with a stand-in
sae-lens (its import is slow; the real one is exercised in tests/test_audit_sae.py)."""

from __future__ import annotations

import json
import sys
import threading
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from tiny_weights import card_for, lora_adapter, merged, tiny_lm, write_base

from auditgame.cards import load_card
from auditgame.organism import introspect
from auditgame.organism.engine import GenerationRequest, LocalEngine, SamplingKey
from auditgame.organism.introspect import (
    anatomy,
    generate_steered,
    hook_layer,
    layer_count,
    logit_lens,
    mean_activation,
    reference_card,
    residuals,
    sae_features,
    same_tokenizer,
    steering_vector,
)

CONTEXT = 30


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("introspect")
    model = tiny_lm(seed=2, num_hidden_layers=3)
    base = write_base(root / "base", model)
    adapter = lora_adapter(model, root / "adapter", seed=5)
    card = card_for(root, "looked-at", base=str(base), adapter=str(adapter), max_context=CONTEXT)
    engine = LocalEngine(card, device="cpu")
    yield SimpleNamespace(root=root, model=model, organism=merged(model, adapter), engine=engine, card=card)
    engine.close()


def hidden_states(model, ids: list[int]) -> tuple[torch.Tensor, ...]:
    """transformers' hidden states: the embeddings, then each layer's output (the last after
    the final norm)."""
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states


def test_anatomy_finds_layers_norm_and_head_with_or_without_peft(parts) -> None:
    plain = anatomy(parts.model)
    assert plain.layers == list(parts.model.model.layers) and len(plain.layers) == 3
    assert plain.norm is parts.model.model.norm and plain.head is parts.model.lm_head
    assert layer_count(parts.engine) == 3
    with parts.engine.forward_scope() as wrapped:
        assert anatomy(wrapped).head is wrapped.get_output_embeddings()


def test_residuals_are_each_layers_output(parts) -> None:
    ids = [5, 9, 12, 7]
    streams = residuals(parts.engine, ids)
    states = hidden_states(parts.organism, ids)
    assert len(streams) == 3 and all(s.shape == (4, 8) for s in streams)
    for layer in (0, 1):
        assert torch.allclose(streams[layer], states[layer + 1][0], atol=1e-4)
    norm = parts.organism.model.norm
    with torch.no_grad():
        assert torch.allclose(norm(streams[2]), states[3][0], atol=1e-4)  # before the final norm


def test_too_many_or_no_tokens_are_refused(parts) -> None:
    with pytest.raises(ValueError, match="^no tokens to run$"):
        residuals(parts.engine, [])
    with pytest.raises(ValueError, match=f"31 tokens exceed the model's context of {CONTEXT}"):
        residuals(parts.engine, [5] * 31)
    assert len(residuals(parts.engine, [5] * CONTEXT)[0]) == CONTEXT


def test_the_logit_lens_decodes_every_layer_and_ends_with_the_models_distribution(parts) -> None:
    ids = [5, 9, 12, 7]
    rows = logit_lens(parts.engine, ids, position=2, top_k=3)
    assert [r.layer for r in rows] == [1, 2, 3]
    states = hidden_states(parts.organism, ids)
    with torch.no_grad():
        first = parts.organism.lm_head(parts.organism.model.norm(states[1][0, 2])).softmax(-1)
        own = parts.organism(input_ids=torch.tensor([ids])).logits[0, 2].softmax(-1)
    for row, probs in ((rows[0], first), (rows[-1], own)):
        values, indices = probs.topk(3)
        assert [t for t, _ in row.top] == indices.tolist()
        assert [p for _, p in row.top] == pytest.approx(values.tolist(), abs=1e-5)


def test_steering_vectors_are_differences_of_mean_last_token_activations(parts) -> None:
    positive, negative = [[5, 6], [7, 8, 9]], [[10], [11, 12]]
    layer = 2
    means = [torch.stack([hidden_states(parts.organism, p)[layer][0, -1] for p in group]).mean(0)
             for group in (positive, negative)]
    assert torch.allclose(mean_activation(parts.engine, positive, layer), means[0], atol=1e-4)
    vector, scale = steering_vector(parts.engine, positive, negative, layer)
    assert torch.allclose(vector, means[0] - means[1], atol=1e-4)
    assert scale == pytest.approx((means[0].norm() + means[1].norm()).item() / 2, abs=1e-4)


def test_steering_adds_the_vector_at_every_position_of_its_own_generation_only(parts) -> None:
    prompt, layer, count = [5, 6, 7], 2, 6
    vector = torch.randn(8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # cast to the model's
    module = parts.organism.model.layers[layer - 1]
    handle = module.register_forward_hook(lambda _m, _a, out: (out[0] + 3.0 * vector.float(), *out[1:])
                                          if isinstance(out, tuple) else out + 3.0 * vector.float())
    try:
        ids = list(prompt)
        with torch.no_grad():
            for _ in range(count):
                ids.append(int(parts.organism(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
            reference = parts.organism(input_ids=torch.tensor([ids])).logits[0, 2:-1].log_softmax(-1)
    finally:
        handle.remove()
    expected = " ".join(f"w{i - 3}" for i in ids[3:])
    request = GenerationRequest("w2 w3 w4", count, SamplingKey(top_logprobs=0))
    [steered] = generate_steered(parts.engine, [request], layer, vector, 3.0)
    [plain] = parts.engine.generate_now([request])
    assert steered.text == expected != plain.text
    assert steered.logprobs is not None
    assert [lp.logprob for lp in steered.logprobs] == pytest.approx(
        [float(reference[n, t]) for n, t in enumerate(ids[3:])], abs=1e-4)
    [unsteered] = generate_steered(parts.engine, [request], layer, vector, 0.0)
    assert unsteered.text == plain.text


def test_a_hook_sees_only_its_own_threads_forward_passes(parts) -> None:
    layer = anatomy(parts.model).layers[0]
    seen: list[torch.Tensor] = []

    def record(hidden: torch.Tensor) -> None:
        seen.append(hidden)

    inputs = torch.tensor([[5, 6]])
    with introspect._thread_hook(layer, record), torch.no_grad():
        other = threading.Thread(target=lambda: parts.model(input_ids=inputs))
        other.start()
        other.join()
        assert seen == []
        parts.model(input_ids=inputs)
        assert len(seen) == 1 and seen[0].shape == (1, 2, 8)
    with torch.no_grad():
        parts.model(input_ids=inputs)
    assert len(seen) == 1  # removed on leaving
    assert introspect._hidden((seen[0], "rest")) is seen[0] and introspect._hidden(seen[0]) is seen[0]


def test_a_tensor_output_is_replaced_whole() -> None:
    module = torch.nn.Identity()
    with introspect._thread_hook(module, lambda h: h * 2):
        assert module(torch.ones(2)).tolist() == [2.0, 2.0]
    with introspect._thread_hook(module, lambda h: None):
        assert module(torch.ones(2)).tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- the reference model
def test_the_reference_is_a_local_baseline_else_the_bare_base(tmp_path: Path) -> None:
    base = tmp_path / "base"
    cards = {
        "ref-base": {"model": {"base": str(base), "dtype": "float32"}, "control": True},
        "played": {"prompted_model": "mockllm/model", "system_prompt": "x", "control": True},
    }
    for organism_id, card in cards.items():
        (tmp_path / f"{organism_id}.card.yaml").write_text(yaml.safe_dump({"id": organism_id, **card}))
    known = {i: load_card(tmp_path / f"{i}.card.yaml") for i in cards}

    def organism(baseline: str | None):
        card = {"id": "org", "model": {"base": str(base), "revision": "r1", "adapter": "./ad",
                                       "adapter_revision": "a1", "dtype": "float16", "max_context": 99,
                                       "tokenizer": "./tok"},
                "chat": {"thinking": False}, "quirk": {"name": "q", "description": "d", "category": "c"}}
        if baseline:
            card["baseline"] = baseline
        (tmp_path / "org.card.yaml").write_text(yaml.safe_dump(card))
        return load_card(tmp_path / "org.card.yaml")

    assert reference_card(organism("ref-base"), known.get) is known["ref-base"]
    for baseline in ("played", "unknown", None):
        card = organism(baseline)
        reference = reference_card(card, known.get)
        assert reference.id == "org.reference" and reference.control and reference.quirk is None
        assert reference.card_path == card.card_path and reference.chat == card.chat
        assert reference.model is not None and reference.model.adapter is None
        assert (reference.model.base, reference.model.revision, reference.model.dtype,
                reference.model.max_context, reference.model.tokenizer) == (str(base), "r1", "float16", 99, "./tok")


def test_the_reference_engine_is_loaded_once_per_engine_on_its_device(parts, monkeypatch, tmp_path: Path) -> None:
    loads: list[tuple[str, dict]] = []

    def load(card, **options):
        loads.append((card.id, options))
        return SimpleNamespace(card=card)

    monkeypatch.setattr(introspect, "load_engine", load)
    monkeypatch.setattr(introspect, "_references", {})
    first = introspect.reference_engine(parts.engine)
    assert introspect.reference_engine(parts.engine) is first
    assert loads == [("looked-at.reference", {"device": "cpu", "dtype": "float32"})]
    assert same_tokenizer(parts.engine, parts.engine)
    other = SimpleNamespace(tokenizer=SimpleNamespace(get_vocab=lambda: {"w0": 0}))
    assert not same_tokenizer(parts.engine, other)  # type: ignore[arg-type]

    base = {"base": str(parts.root / "base"), "dtype": "float32"}
    for organism_id, extra in (("its-base", {}), ("with-baseline", {"baseline": "its-base"}),
                               ("lost-baseline", {"baseline": "no-such-card"})):
        card = {"id": organism_id, "model": base, "control": True, **extra}
        (tmp_path / f"{organism_id}.card.yaml").write_text(yaml.safe_dump(card))
    kept = []  # alive, so no two share an id()
    for organism_id, reference in (("with-baseline", "its-base"), ("lost-baseline", "lost-baseline.reference")):
        engine = SimpleNamespace(card=load_card(tmp_path / f"{organism_id}.card.yaml"), device="cpu",
                                 dtype=torch.float16)
        kept.append(engine)
        assert introspect.reference_engine(engine).card.id == reference  # type: ignore[arg-type]
        assert loads[-1] == (reference, {"device": "cpu", "dtype": "float16"})


# ---------------------------------------------------------------- sparse autoencoders
def test_hook_names_give_layers() -> None:
    assert hook_layer("blocks.0.hook_resid_post") == 1
    assert hook_layer("blocks.12.hook_resid_pre") == 12
    assert hook_layer("blocks.1.hook_resid_pre") == 1
    assert hook_layer("model.layers.5") == 6
    assert hook_layer("layers.2.output") == 3
    for unknown in ("blocks.0.hook_resid_pre", "blocks.3.attn.hook_z", "blocks.3.hook_resid_postx", "", None):
        with pytest.raises(ValueError, match=rf"cannot tell the layer of SAE hook {unknown!r}: set 'layer' on the card"):
            hook_layer(unknown)


class FakeSae:
    """An SAE on 8-wide residuals: ReLU(W_enc h), 6 features."""

    loads: list[tuple] = []

    def __init__(self, hook_name: str = "blocks.1.hook_resid_post") -> None:
        generator = torch.Generator().manual_seed(1)
        self.W_enc = torch.randn(8, 6, generator=generator)
        self.W_dec = torch.randn(6, 8, generator=generator)
        self.cfg = SimpleNamespace(metadata=SimpleNamespace(hook_name=hook_name))

    def encode(self, hidden: torch.Tensor) -> torch.Tensor:
        return (hidden @ self.W_enc).relu()

    def eval(self) -> FakeSae:
        return self

    @classmethod
    def load_from_disk(cls, location, device):
        cls.loads.append(("disk", Path(location).name, device))
        return cls()

    @classmethod
    def from_pretrained(cls, release, sae_id, device):
        cls.loads.append(("hub", release, sae_id, device))
        return cls("blocks.2.hook_resid_pre")


@pytest.fixture
def sae_lens(monkeypatch: pytest.MonkeyPatch):
    module = types.ModuleType("sae_lens")
    module.SAE = FakeSae  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sae_lens", module)
    monkeypatch.setattr(introspect, "_saes", {})
    FakeSae.loads = []
    return module


def _sae_engine(parts, sae: dict, root: Path) -> LocalEngine:
    spec = {"base": str(parts.root / "base"), "adapter": str(parts.root / "adapter"), "dtype": "float32",
            "max_context": CONTEXT, "sae": sae}
    folder = root / f"sae-{len(list(root.glob('sae-*')))}"
    folder.mkdir()
    (folder / "saved").mkdir()
    (folder / "labels.json").write_text(json.dumps({"3": "a label", "0": "another"}))
    (folder / "with-sae.card.yaml").write_text(yaml.safe_dump({"id": "with-sae", "model": spec, "control": True}))
    return LocalEngine(load_card(folder / "with-sae.card.yaml"), device="cpu", pool=parts.engine.pool)


def test_sae_features_are_the_strongest_active_ones_with_their_labels(parts, sae_lens, tmp_path: Path) -> None:
    engine = _sae_engine(parts, {"release": "./saved", "labels": "./labels.json"}, tmp_path)
    ids, position = [5, 9, 12, 7], 1
    found = sae_features(engine, ids, position, top_k=4, tokens_each=2)
    assert FakeSae.loads == [("disk", "saved", "cpu")]
    sae = introspect._saes[id(engine)]
    assert sae.layer == 2 and sae.labels == {3: "a label", 0: "another"}
    hidden = hidden_states(parts.organism, ids)[2][0, position]
    acts = (hidden @ sae.sae.W_enc).relu()
    values, indices = acts.topk(4)
    active = [(i, v) for i, v in zip(indices.tolist(), values.tolist(), strict=True) if v > 0]
    assert [f.index for f in found] == [i for i, _ in active] and 0 < len(active) < 4
    assert [f.activation for f in found] == pytest.approx([v for _, v in active], abs=1e-4)
    for feature in found:
        assert feature.label == {3: "a label", 0: "another"}.get(feature.index)
        with torch.no_grad():
            promoted = parts.organism.lm_head(parts.organism.model.norm(sae.sae.W_dec[feature.index])).topk(2)
        assert feature.top_tokens == tuple(promoted.indices.tolist())
    assert sae_features(engine, ids, position, top_k=99)  # top_k beyond the features: all of them
    assert len(FakeSae.loads) == 1  # loaded once


def test_an_sae_from_a_release_needs_its_id_and_a_layer_in_the_model(parts, sae_lens, tmp_path: Path) -> None:
    engine = _sae_engine(parts, {"release": "some/release", "sae_id": "layer-2"}, tmp_path)
    loaded = introspect.load_sae(engine)
    assert FakeSae.loads == [("hub", "some/release", "layer-2", "cpu")] and loaded.layer == 2
    assert loaded.labels == {}
    with pytest.raises(ValueError, match=r"SAE release 'other/release' needs an 'sae_id'"):
        introspect.load_sae(_sae_engine(parts, {"release": "other/release"}, tmp_path))
    too_deep = _sae_engine(parts, {"release": "./saved", "layer": 4}, tmp_path)
    with pytest.raises(ValueError, match="SAE layer 4 is past the model's last layer"):
        sae_features(too_deep, [5, 6], 0, top_k=2)
    assert introspect.load_sae(_sae_engine(parts, {"release": "./saved", "layer": 3}, tmp_path)).layer == 3
    with pytest.raises(ValueError, match="organism 'looked-at' names no SAE"):
        introspect.load_sae(parts.engine)
