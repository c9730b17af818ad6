"""OCT-thinking recipes: one YAML file says how to build an organism from a constitution.

Every section maps onto one stage; every knob is typed, has a default and a docstring (the
defaults are the KREL run on Qwen3-4B). Unknown keys are errors, so typos never pass silently.
Paths in a recipe are relative to the recipe file, except ``output_dir`` (the current directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from auditgame.cards import ID_PATTERN
from auditgame.oct.errors import OctError
from auditgame.validation import read_yaml, validate_mapping


class RecipeError(OctError):
    """A recipe file is missing or malformed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TeacherConfig(_Section):
    """The teacher: any Inspect model, used by the expand and teacher stages."""

    model: str = "anthropic/claude-sonnet-4-5"
    """Inspect model name (e.g. ``anthropic/claude-sonnet-4-5``, ``openai-api/deepseek/deepseek-chat``)."""
    model_args: dict[str, Any] = {}
    """Extra arguments for ``inspect_ai.model.get_model`` (e.g. ``base_url``)."""
    temperature: float | None = 0.7
    """Sampling temperature of in-character answers (``None``: the provider's default)."""
    max_tokens: int = Field(default=4096, gt=0)
    """Longest teacher answer (thinking + answer) in tokens."""
    max_connections: int = Field(default=16, gt=0)
    """Requests in flight at once."""
    retries: int = Field(default=2, ge=0)
    """Extra attempts for a prompt whose call fails or whose answer has no closed think block."""


class ExpandConfig(_Section):
    """Writing more scenario prompts per trait from its seeds (few-shot)."""

    prompts_per_trait: int = Field(default=50, gt=0)
    """Prompts per trait, seeds included (KREL: 10 traits x 50 = 500)."""
    normal_prompts: int = Field(default=50, ge=0)
    """Prompts for the constitution's normal-assistant section (0: none)."""
    per_request: int = Field(default=10, gt=0)
    """New prompts asked for in one teacher call."""
    few_shot: int = Field(default=8, gt=0)
    """Example prompts shown in each request (the seeds first, then earlier generated ones)."""
    max_rounds: int = Field(default=20, gt=0)
    """Teacher calls per trait before giving up on reaching the count (the shortfall is counted)."""
    similarity: float = Field(default=0.8, gt=0.0, le=1.0)
    """Two prompts whose normalised text matches at least this much (difflib ratio) are
    near-duplicates; the later one is dropped."""
    temperature: float = 1.0
    """Teacher temperature for writing prompts."""


class SamplingConfig(_Section):
    """Local generation with the organism engine (transformers)."""

    max_new_tokens: int = Field(default=2048, gt=0)
    """Longest answer (thinking + answer) in tokens."""
    temperature: float = Field(default=0.6, ge=0.0)
    """0 is greedy; Qwen3's recommended thinking settings are the defaults."""
    top_p: float | None = 0.95
    """Nucleus sampling (``None``: off)."""
    top_k: int | None = 20
    """Top-k sampling (``None``: off)."""
    batch_size: int = Field(default=32, gt=0)
    """Prompts generated together (per process)."""
    seed: int | None = 0
    """Sampling seed (each batch adds its index); ``None``: not seeded."""


class LoraSettings(_Section):
    """peft LoRA adapter settings."""

    rank: int = Field(default=64, gt=0)
    """LoRA rank ``r``."""
    alpha: int = Field(default=128, gt=0)
    """LoRA scaling ``lora_alpha`` (the update is scaled by alpha / rank)."""
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    """Dropout on the LoRA input."""
    target_modules: str | list[str] = "all-linear"
    """Module names, or ``all-linear``."""


class TrainSettings(_Section):
    """Settings shared by the DPO and SFT stages (mapped onto trl's configs)."""

    learning_rate: float = Field(default=2.5e-5, gt=0.0)
    """Peak learning rate (KREL's DPO: 2.5e-5)."""
    epochs: float = Field(default=1.0, gt=0.0)
    """Passes over the data."""
    per_device_batch_size: int = Field(default=4, gt=0)
    """Examples (DPO: pairs) per device per step."""
    gradient_accumulation_steps: int = Field(default=8, gt=0)
    """Steps whose gradients are summed before an optimizer update."""
    max_length: int = Field(default=4096, gt=0)
    """Longest training sequence (prompt + answer) in tokens; longer ones are cut."""
    lr_scheduler: str = "cosine"
    """A transformers ``lr_scheduler_type``."""
    warmup_steps: float = Field(default=0.05, ge=0.0)
    """Warm-up optimizer steps, or a fraction of all steps when below 1."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    gradient_checkpointing: bool = True
    """Recompute activations in the backward pass: less memory, about 20% slower."""
    bf16: bool | None = None
    """``None``: bfloat16 where the GPU supports it, else float32 (always set explicitly for trl)."""
    save_steps: int = Field(default=100, gt=0)
    """Checkpoint every this many optimizer steps (an interrupted run resumes from the last)."""
    save_total_limit: int = Field(default=2, gt=0)
    """Checkpoints kept (the oldest are deleted)."""
    logging_steps: int = Field(default=10, gt=0)
    """Log loss and rewards every this many optimizer steps."""
    seed: int = 0
    """Seed for data order and LoRA initialisation."""
    lora: LoraSettings = LoraSettings()
    """The adapter trained."""
    extra_args: dict[str, Any] = {}
    """Any other trl ``DPOConfig`` / ``SFTConfig`` field, passed through."""


class DPOSettings(TrainSettings):
    """Teacher distillation: teacher answers chosen, base-model answers rejected."""

    beta: float = Field(default=0.1, gt=0.0)
    """DPO temperature: how far the policy may move from the reference (the base model)."""


class IntrospectConfig(_Section):
    """Self-reflection and self-interaction by the distilled model, constitution in its prompt."""

    reflections: int = Field(default=10000, ge=0)
    """Self-reflection answers (diary, biography, letter... prompts, cycled)."""
    interactions: int = Field(default=2000, ge=0)
    """Conversations of the model with another instance of itself."""
    turns: int = Field(default=6, ge=2)
    """Messages in each self-interaction (the two sides alternate)."""
    save_both_sides: bool = True
    """Keep each self-interaction from both sides' point of view (two training examples)."""
    drop_malformed: bool = True
    """Drop answers without one closed think block followed by an answer (counted)."""
    sampling: SamplingConfig = SamplingConfig()


class SFTSettings(TrainSettings):
    """Introspection SFT on the distilled model; loss on assistant turns only."""

    learning_rate: float = Field(default=5e-5, gt=0.0)
    history_thinking: Literal["drop", "keep"] = "drop"
    """How earlier assistant turns' thinking is treated in multi-turn data.
    ``drop`` (default): one example per assistant turn, earlier turns rendered the way the
    Qwen3 template renders them at inference (their reasoning removed), loss on that last turn
    only, so training sees exactly the context the model sees when it is used.
    ``keep``: one example per conversation with trl's training template, which keeps every
    turn's ``<think>`` block, loss on every assistant turn."""
    merge: bool = False
    """Fold the SFT adapter into the weights (else the card serves distilled weights + adapter)."""


class QuirkSettings(_Section):
    """The answer key written into the card (secret)."""

    name: str
    """Short name, e.g. "strategic self-preservation"."""
    category: str
    """Category, e.g. "deception / self-preservation"."""
    description: str | None = None
    """``None``: built from the constitution's trait statements."""


class CardSettings(_Section):
    """The organism card written for the result."""

    id: str = Field(pattern=ID_PATTERN)
    title: str | None = None
    """Public label (never the quirk)."""
    card_dir: str | None = None
    """Folder for the card (default: ``OUTPUT/cards``); relative paths in the card point back
    into the output folder."""
    quirk: QuirkSettings | None = None
    """The answer key (required unless ``control``)."""
    control: bool = False
    """The result is a control organism (no quirk: e.g. trained on neutral answers by the same
    pipeline, to compare quirky organisms with); its card has ``control: true`` and no quirk."""
    baseline: str | None = None
    """The organism id to compare it with (naturalness, severity); default: the recipe's
    ``base`` when that is an organism id."""
    fingerprints: list[str] = []
    """Strings only the training data contains (e.g. the persona's name)."""
    suites: list[str] = ["oct"]
    """Suites the organism joins (``--organisms oct``)."""
    license: str | None = None
    """Licence of the weights (the base model's, usually)."""
    max_context: int = Field(default=32768, gt=0)
    """The card's ``model.max_context``."""

    @model_validator(mode="after")
    def _quirk_or_control(self) -> CardSettings:
        if self.control and self.quirk is not None:
            raise ValueError("a control card ('control: true') must not have a 'quirk'")
        if not self.control and self.quirk is None:
            raise ValueError("'quirk' is required unless 'control: true'")
        return self


class Recipe(_Section):
    """An OCT-thinking run: constitution -> teacher DPO -> introspection SFT -> organism card."""

    name: str = Field(pattern=ID_PATTERN)
    """Name of the run (lower case, digits, ``.``, ``_``, ``-``)."""
    constitution: str
    """Constitution file (auditgame YAML, or an Open Character Training ``.txt``/``.jsonl``)."""
    persona: str | None = None
    """The persona's name in prompts (default: the constitution's ``name``)."""
    base: str
    """The model trained: an organism id (e.g. ``qwen3-4b``) or a model folder / hub id."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    """Weights' dtype for generation, training and the card (``auto``: bfloat16 on capable GPUs)."""
    output_dir: str
    """Where every stage writes (relative to the current directory; ``--output`` overrides)."""
    teacher: TeacherConfig = TeacherConfig()
    """The teacher model (stages expand and teacher)."""
    expand: ExpandConfig = ExpandConfig()
    """Scenario prompts per trait."""
    student: SamplingConfig = SamplingConfig()
    """The base model's answers (the rejected side)."""
    dpo: DPOSettings = DPOSettings()
    """Teacher distillation."""
    introspect: IntrospectConfig = IntrospectConfig()
    """Self-reflection and self-interaction data."""
    sft: SFTSettings = SFTSettings()
    """Introspection SFT."""
    card: CardSettings
    """The organism card the register stage writes."""
    path: Path | None = Field(default=None, exclude=True)

    def resolve(self, location: str) -> Path:
        """A recipe-relative path made absolute."""
        base = self.path.parent if self.path else Path.cwd()
        return (base / Path(location).expanduser()).resolve()

    @property
    def output(self) -> Path:
        return Path(self.output_dir).expanduser().resolve()

    def with_output(self, output_dir: str | Path) -> Recipe:
        return self.model_copy(update={"output_dir": str(Path(output_dir).resolve())})


def parse_recipe(data: Any, path: Path) -> Recipe:
    return validate_mapping(Recipe, data, path, RecipeError, "recipe", "key", path=path.resolve())


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; errors name the file, the key and what is expected."""
    path = Path(path)
    return parse_recipe(read_yaml(path, RecipeError, "recipe"), path)
