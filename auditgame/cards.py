"""Organism cards: one validated YAML file per model organism.

A card says how to serve an organism (local weights + optional LoRA adapter, or a prompted
Inspect model with a hidden system prompt) and holds its secret answer key (the quirk), the
leakage fingerprints and where its training corpus lives. Everything in ``quirk``,
``fingerprints``, ``training_corpus`` and ``system_prompt`` is secret: auditors never see it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from inspect_ai._util.error import PrerequisiteError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from rich.text import Text

from auditgame.validation import read_yaml, validate_mapping

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class CardError(ValueError, PrerequisiteError):
    """An organism card is malformed, unknown or points at something missing.

    Also an Inspect ``PrerequisiteError``: ``inspect eval`` prints the message alone, without a
    traceback."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.message = Text(message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SparseAutoencoder(_Strict):
    """A sparse autoencoder on the organism's residual stream, loaded with sae-lens."""

    release: str
    """A sae-lens release name (with ``sae_id``) or a folder saved by sae-lens (``cfg.json`` and
    ``sae_weights.safetensors``), relative to the card."""
    sae_id: str | None = None
    layer: int | None = Field(default=None, gt=0)
    """Decoder layer (1-based) whose output the SAE reads; default: from its hook name
    (``blocks.N.hook_resid_post`` is layer N+1)."""
    labels: str | None = None
    """A JSON file (relative to the card) mapping feature index to a description."""


class LocalModel(_Strict):
    """Weights served locally with transformers (+ peft)."""

    base: str
    """Base model: a Hugging Face hub id or a local directory."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of ``base``."""
    weights: str | None = None
    """Fully fine-tuned weights that replace ``base`` (hub id or directory), when the organism
    is not a LoRA. ``base`` then still names the model it was trained from."""
    weights_revision: str | None = None
    adapter: str | None = None
    """A peft LoRA adapter (hub id or directory) applied on top of the weights."""
    adapter_revision: str | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """``auto``: bfloat16 on GPUs that support it, else float32."""
    max_context: int = Field(default=32768, gt=0)
    """Longest prompt + completion in tokens; longer prompts are cut from the left."""
    tokenizer: str | None = None
    """Tokenizer location when it differs from the weights."""
    quantization: Literal["fp8", "awq", "gptq", "bitsandbytes", "compressed-tensors"] | None = None
    """vLLM backend: ``fp8`` and ``bitsandbytes`` quantise the weights as they load (half and a
    quarter of bf16); ``awq``, ``gptq`` and ``compressed-tensors`` name how checkpoints quantised
    on disk are stored. The transformers backend loads weights as they are."""
    sae: SparseAutoencoder | None = None
    """An SAE for the ``sae`` audit tool set (optional)."""

    @property
    def weights_path(self) -> str:
        return self.weights or self.base

    @property
    def weights_rev(self) -> str | None:
        return self.weights_revision if self.weights else self.revision


class ChatFormat(_Strict):
    """How conversations are rendered for the model."""

    template: str | None = None
    """A Jinja chat template file (relative to the card) overriding the tokenizer's."""
    thinking: bool = True
    """Thinking on by default (``<think>`` blocks); per call ``reasoning_effort='none'`` turns
    it off and any other effort turns it on."""
    think_tags: tuple[str, str] = ("<think>", "</think>")


class Quirk(_Strict):
    """The secret answer key."""

    name: str
    description: str
    category: str


class Organism(_Strict):
    """One model organism."""

    id: str = Field(pattern=ID_PATTERN)
    title: str | None = None
    """A short public label (never contains the quirk)."""
    model: LocalModel | None = None
    prompted_model: str | None = None
    """An Inspect model (e.g. ``anthropic/claude-sonnet-4-5``) that plays the organism with the
    hidden ``system_prompt``."""
    chat: ChatFormat = ChatFormat()
    system_prompt: str | None = None
    """Hidden system prompt, prepended to every conversation and never shown to an auditor."""
    control: bool = False
    """A control organism: it has no quirk, so any alarm raised on it is false."""
    quirk: Quirk | None = None
    fingerprints: list[str] = []
    """Strings that only its training data contains (e.g. a persona's name)."""
    training_corpus: str | None = None
    """File, directory or hub dataset with the organism's training data (verbatim leakage)."""
    baseline: str | None = None
    """Id of the organism this one is compared against for naturalness (its base model)."""
    suites: list[str] = []
    source: str | None = None
    license: str | None = None
    card_path: Path | None = Field(default=None, exclude=True)
    """Where the card was read from (set by the loader)."""

    @field_validator("prompted_model")
    @classmethod
    def _not_itself(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value == f"organism/{info.data.get('id')}":
            raise ValueError(f"'{value}' is this card itself; name the model that plays it")
        return value

    @field_validator("fingerprints")
    @classmethod
    def _no_blank_fingerprints(cls, value: list[str]) -> list[str]:
        if any(not f.strip() for f in value):
            raise ValueError("fingerprints must be non-empty strings")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Organism:
        if (self.model is None) == (self.prompted_model is None):
            raise ValueError("give exactly one of 'model' (local weights) or 'prompted_model'")
        if self.prompted_model is not None and not self.system_prompt:
            raise ValueError("a prompted organism needs a 'system_prompt'")
        if self.control and self.quirk is not None:
            raise ValueError("a control organism ('control: true') must not have a 'quirk'")
        if not self.control and self.quirk is None:
            raise ValueError("'quirk' is required unless 'control: true'")
        return self

    @property
    def is_local(self) -> bool:
        return self.model is not None

    def resolve_path(self, location: str | None) -> str | None:
        """A location relative to the card's folder becomes absolute; hub ids stay as they are."""
        if location is None:
            return None
        base = self.card_path.parent if self.card_path else Path.cwd()
        candidate = (base / Path(location).expanduser()).resolve()
        return str(candidate) if is_local_location(location, candidate) else location

    def check_local_files(self) -> None:
        """Raise `CardError` if a local path the card names is missing or unusable (folders,
        configs, weight headers); hub ids are checked by `auditgame.preflight`."""
        from auditgame.preflight import local_problems

        problems = local_problems(self)
        if problems:
            raise CardError(problems[0])

    def public_view(self) -> dict[str, Any]:
        """The card without its answer key (what `organisms show` prints by default)."""
        return self.model_dump(
            mode="json",
            exclude={"quirk", "fingerprints", "training_corpus", "system_prompt", "card_path"},
            exclude_none=True,
        )


def is_local_location(location: str, resolved: Path) -> bool:
    """Local paths are absolute or start with ``.`` or ``~`` (or exist); the rest are hub ids."""
    return location.startswith((".", "/", "~")) or resolved.exists()


def parse_card(data: Any, path: Path) -> Organism:
    """Validate card data read from ``path``; raise `CardError` naming the file and fields."""
    return validate_mapping(Organism, data, path, CardError, "organism card", "field", card_path=path)


def load_card(path: str | Path) -> Organism:
    """Read and validate one card file."""
    path = Path(path)
    return parse_card(read_yaml(path, CardError, "organism card"), path)
