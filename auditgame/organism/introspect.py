"""Model internals of a locally served organism: residual streams, the logit lens, steering
hooks, SAE inputs and the reference model an organism is compared against.

Every white-box audit tool reaches the model through this module. Functions here are
synchronous and run in a worker thread (`asyncio.to_thread`); their forward passes run inside
`LocalEngine.forward_scope` (the organism's adapter active on the shared base, no other request
running), and hooks act only on forward passes of the thread that installed them, so requests
the engine batches are never steered or recorded.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from auditgame.cards import LocalModel, Organism
from auditgame.organism.engine import Generation, GenerationRequest, LocalEngine, load_engine


@dataclass(frozen=True)
class Anatomy:
    """The parts of a decoder-only transformer the white-box tools read."""

    layers: Sequence[torch.nn.Module]
    norm: torch.nn.Module
    head: torch.nn.Module


def anatomy(model: Any) -> Anatomy:
    """Decoder layers, final norm and unembedding of a transformers causal LM (peft-wrapped or
    not)."""
    decoder = model.get_decoder()
    return Anatomy(list(decoder.layers), decoder.norm, model.get_output_embeddings())


def layer_count(engine: LocalEngine) -> int:
    return len(anatomy(engine.model).layers)


def _hidden(output: Any) -> torch.Tensor:
    """A decoder layer's residual-stream output (a tensor, or the first item of a tuple)."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def _thread_hook(module: torch.nn.Module, edit: Callable[[torch.Tensor], torch.Tensor | None]):
    """A forward hook on ``module`` that sees only this thread's forward passes. ``edit`` gets
    the output's hidden states and may return replacements."""
    owner = threading.get_ident()

    def hook(_module: torch.nn.Module, _args: Any, output: Any) -> Any:
        if threading.get_ident() != owner:
            return None
        replaced = edit(_hidden(output))
        if replaced is None:
            return None
        return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _input_ids(engine: LocalEngine, ids: Sequence[int]) -> torch.Tensor:
    if not ids:
        raise ValueError("no tokens to run")
    if len(ids) > engine.max_context:
        raise ValueError(f"{len(ids)} tokens exceed the model's context of {engine.max_context}")
    return torch.tensor([list(ids)], dtype=torch.long, device=engine.input_device)


@torch.inference_mode()
def residuals(engine: LocalEngine, ids: Sequence[int]) -> list[torch.Tensor]:
    """The residual stream after each decoder layer: one ``[tokens, hidden]`` tensor per layer
    (before the final norm)."""
    inputs = _input_ids(engine, ids)
    with engine.forward_scope() as model:
        return _residuals(model, inputs)


def _residuals(model: Any, inputs: torch.Tensor) -> list[torch.Tensor]:
    caught: list[torch.Tensor] = []

    def caught_first(hidden: torch.Tensor) -> None:
        caught.append(hidden[0])

    with ExitStack() as stack:
        for layer in anatomy(model).layers:
            stack.enter_context(_thread_hook(layer, caught_first))
        model(input_ids=inputs)
    return caught


@dataclass(frozen=True)
class LensRow:
    layer: int
    """1-based decoder layer whose output was decoded."""
    top: tuple[tuple[int, float], ...]
    """(token id, probability), most likely first."""


@torch.inference_mode()
def logit_lens(engine: LocalEngine, ids: Sequence[int], position: int, top_k: int) -> list[LensRow]:
    """Top tokens decoded from every layer's residual stream at ``position`` through the final
    norm and the unembedding; the last row is the model's own next-token distribution."""
    inputs = _input_ids(engine, ids)
    with engine.forward_scope() as model:
        parts = anatomy(model)
        rows = []
        for number, hidden in enumerate(_residuals(model, inputs), 1):
            probs = parts.head(parts.norm(hidden[position])).float().softmax(-1)
            values, indices = probs.topk(top_k)
            rows.append(LensRow(number, tuple(zip(indices.tolist(), values.tolist(), strict=True))))
        return rows


@torch.inference_mode()
def mean_activation(engine: LocalEngine, prompts: Sequence[Sequence[int]], layer: int) -> torch.Tensor:
    """Mean residual-stream output of decoder layer ``layer`` (1-based) at each prompt's last
    token."""
    return torch.stack([residuals(engine, ids)[layer - 1][-1].float() for ids in prompts]).mean(0)


def steering_vector(
    engine: LocalEngine,
    positive: Sequence[Sequence[int]],
    negative: Sequence[Sequence[int]],
    layer: int,
) -> tuple[torch.Tensor, float]:
    """Contrastive activation addition's vector, mean(positive) - mean(negative) at ``layer``,
    and the mean norm of the two means (a scale for choosing a strength)."""
    pos = mean_activation(engine, positive, layer)
    neg = mean_activation(engine, negative, layer)
    return pos - neg, (pos.norm().item() + neg.norm().item()) / 2


def generate_steered(
    engine: LocalEngine,
    requests: Sequence[GenerationRequest],
    layer: int,
    vector: torch.Tensor,
    strength: float,
) -> list[Generation]:
    """Generate with ``strength * vector`` added to decoder layer ``layer``'s output at every
    position (prompt and generated tokens)."""
    module = anatomy(engine.model).layers[layer - 1]
    added = None

    def add(hidden: torch.Tensor) -> torch.Tensor:
        nonlocal added
        if added is None:
            added = (strength * vector).to(device=hidden.device, dtype=hidden.dtype)
        return hidden + added

    with _thread_hook(module, add):
        return engine.generate_here(requests)


# ---------------------------------------------------------------- the reference model
def reference_card(card: Organism, known: Callable[[str], Organism | None]) -> Organism:
    """The model an organism is diffed against: its card's local ``baseline``, else its base
    weights without adapter (``known`` looks a card up by id)."""
    baseline = known(card.baseline) if card.baseline else None
    if baseline is not None and baseline.is_local:
        return baseline
    assert card.model is not None
    spec = card.model
    base = LocalModel(
        base=spec.base,
        revision=spec.revision,
        dtype=spec.dtype,
        max_context=spec.max_context,
        tokenizer=spec.tokenizer,
    )
    return Organism(
        id=f"{card.id}.reference",
        model=base,
        chat=card.chat,
        control=True,
        card_path=card.card_path,
    )


_references: dict[int, LocalEngine] = {}
_references_lock = threading.Lock()


def reference_engine(engine: LocalEngine) -> LocalEngine:
    """The reference model's engine on the organism's device and dtype (loaded once)."""
    from auditgame.registry import registry

    with _references_lock:
        if id(engine) not in _references:
            folders = [engine.card.card_path.parent] if engine.card.card_path else []
            cards = registry(folders)

            def known(organism_id: str) -> Organism | None:
                return cards.get(organism_id) if organism_id in cards.ids() else None

            card = reference_card(engine.card, known)
            dtype = str(engine.dtype).removeprefix("torch.")
            _references[id(engine)] = load_engine(card, device=engine.device, dtype=dtype)
        return _references[id(engine)]


def same_tokenizer(a: LocalEngine, b: LocalEngine) -> bool:
    return a.tokenizer.get_vocab() == b.tokenizer.get_vocab()


# ---------------------------------------------------------------- sparse autoencoders
@dataclass(frozen=True)
class LoadedSae:
    sae: Any
    """A sae-lens ``SAE``."""
    layer: int
    labels: dict[int, str]


@dataclass(frozen=True)
class Feature:
    index: int
    activation: float
    label: str | None
    top_tokens: tuple[int, ...]
    """Tokens the feature's decoder direction promotes most (through the final norm)."""


HOOK_LAYER = (
    (re.compile(r"blocks\.(\d+)\.hook_resid_post$"), 1),
    (re.compile(r"blocks\.(\d+)\.hook_resid_pre$"), 0),
    (re.compile(r"layers\.(\d+)(\.output)?$"), 1),
)


def hook_layer(hook_name: str | None) -> int:
    """The 1-based decoder layer whose output a residual-stream hook name reads."""
    for pattern, shift in HOOK_LAYER:
        found = pattern.search(hook_name or "")
        if found and int(found.group(1)) + shift >= 1:
            return int(found.group(1)) + shift
    raise ValueError(f"cannot tell the layer of SAE hook {hook_name!r}: set 'layer' on the card")


_saes: dict[int, LoadedSae] = {}
_saes_lock = threading.Lock()


def load_sae(engine: LocalEngine) -> LoadedSae:
    """The SAE the organism's card names, loaded once with sae-lens."""
    spec = engine.card.model.sae if engine.card.model else None
    if spec is None:
        raise ValueError(f"organism '{engine.card.id}' names no SAE")
    with _saes_lock:
        if id(engine) not in _saes:
            from sae_lens import SAE  # slow to import: only when an SAE is used

            device = str(engine.input_device)
            location = engine.card.resolve_path(spec.release)
            if location and Path(location).is_dir():
                sae = SAE.load_from_disk(location, device=device)
            elif spec.sae_id is None:
                raise ValueError(f"SAE release {spec.release!r} needs an 'sae_id'")
            else:
                sae = SAE.from_pretrained(spec.release, spec.sae_id, device=device)
            labels: dict[int, str] = {}
            labels_path = engine.card.resolve_path(spec.labels) if spec.labels else None
            if labels_path:
                raw = json.loads(Path(labels_path).read_text("utf-8"))
                labels = {int(k): str(v) for k, v in raw.items()}
            layer = spec.layer or hook_layer(sae.cfg.metadata.hook_name)
            _saes[id(engine)] = LoadedSae(sae.eval(), layer, labels)
        return _saes[id(engine)]


@torch.inference_mode()
def sae_features(
    engine: LocalEngine, ids: Sequence[int], position: int, top_k: int, tokens_each: int = 5
) -> list[Feature]:
    """The SAE features most active at ``position``, strongest first (active ones only)."""
    loaded = load_sae(engine)
    sae = loaded.sae
    if loaded.layer > layer_count(engine):
        raise ValueError(f"SAE layer {loaded.layer} is past the model's last layer")
    inputs = _input_ids(engine, ids)
    with engine.forward_scope() as model:
        parts = anatomy(model)
        hidden = _residuals(model, inputs)[loaded.layer - 1][position]
        acts = sae.encode(hidden.to(device=sae.W_enc.device, dtype=sae.W_enc.dtype)[None])[0]
        values, indices = acts.topk(min(top_k, acts.shape[-1]))
        found = []
        for value, index in zip(values.tolist(), indices.tolist(), strict=True):
            if value <= 0:
                break
            direction = sae.W_dec[index].to(device=hidden.device, dtype=hidden.dtype)
            promoted = parts.head(parts.norm(direction)).topk(tokens_each).indices.tolist()
            found.append(Feature(index, value, loaded.labels.get(index), tuple(promoted)))
        return found
