"""Serving local organisms with vLLM on GPU machines: one server per base model for the whole run.

``backend=auto`` (the default) picks vLLM when it is installed and CUDA is present, else
transformers. A card maps onto Inspect's ``vllm-completions/`` provider, which shares one
``vllm serve`` process per base model and registers each LoRA adapter on it
(``<base>:<adapter>``). Prompts are rendered here exactly as on the transformers backend (the
card's chat template, hidden system prompt, thinking switch and prefill) and sent as token ids,
so both backends read the same tokens; the raw reply comes back as a `Generation` that the
``organism/`` provider splits into reasoning and answer the same way for both.

Server arguments are sized from the run: every organism a task targets is registered with
`plan` before any server starts, so the server of a base enables LoRA with ``max_loras``
(adapters in one batch, at most `MAX_LORAS_PER_BATCH`), ``max_cpu_loras`` (all of the run's
adapters) and ``max_lora_rank`` (the largest ``r`` in their own ``adapter_config.json``, rounded
up to a rank vLLM supports); ``tensor_parallel_size`` spreads a base over the visible GPUs when
its weights do not fit on one; a run with several bases splits each GPU's memory between their
servers; prefix caching is on; ``model.quantization`` is passed on.
``-M`` model args override any of them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from inspect_ai.model import ChatMessageUser, GenerateConfig, Model, get_model

from auditgame.cards import CardError, Organism
from auditgame.organism.chat import render_prompt, render_user_prompt, template_messages
from auditgame.organism.engine import (
    Generation,
    GenerationRequest,
    PromptTooLong,
    StopReason,
    TokenLogprob,
)
from auditgame.preflight import Location, load_errors_named, local_folder, locations

logger = logging.getLogger(__name__)

Backend = Literal["transformers", "vllm"]
BACKENDS = ("auto", "transformers", "vllm")

PROVIDER = "vllm-completions"
MAX_LORAS_PER_BATCH = 16
"""GPU slots for adapters in one batch; the rest wait in vLLM's CPU cache (``max_cpu_loras``)."""
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The LoRA ranks vLLM compiles kernels for; ``max_lora_rank`` must be one of them."""
GPU_MEMORY_UTILIZATION = 0.9
"""vLLM's default share of each GPU; a run with several bases splits it between their servers."""
WEIGHT_SHARE = 0.75
"""Of each GPU's memory, the share the weights may take (the rest: KV cache, adapters)."""
QUANTISED_BYTES = {"fp8": 1.0, "bitsandbytes": 0.5}
"""Bytes per parameter after on-the-fly quantisation (AWQ/GPTQ checkpoints are quantised on disk)."""
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


def vllm_available() -> bool:
    """vLLM is installed and a CUDA device is visible."""
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def pick_backend(requested: str | None, card: Organism) -> Backend:
    """``auto``: vLLM when available, else transformers; ``vllm`` without vLLM fails clearly."""
    requested = (requested or "auto").strip().lower()
    if requested not in BACKENDS:
        raise ValueError(f"organism/{card.id}: backend must be one of {', '.join(BACKENDS)}")
    if requested == "auto":
        return "vllm" if vllm_available() else "transformers"
    if requested == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ValueError(
            f"organism/{card.id}: backend=vllm needs vLLM (`pip install 'auditgame[vllm]'` on a "
            "CUDA machine); use backend=transformers to serve it without"
        )
    return requested  # type: ignore[return-value]


# ---------------------------------------------------------------- the run's organisms
_planned: dict[str, dict[str, Organism]] = {}
"""Base model -> the organisms of this run served on it, by id."""


def base_of(card: Organism) -> str:
    """The model a vLLM server loads for ``card``: its full weights, or the base of its LoRA."""
    if card.model is None:
        raise CardError(f"{card.card_path}: organism '{card.id}' is prompted; vLLM serves local weights")
    return card.resolve_path(card.model.weights_path) or card.model.weights_path


def plan(cards: Sequence[Organism]) -> None:
    """Register organisms this run will serve, so each base's server is sized for all of them."""
    for card in cards:
        if card.model is not None:
            _planned.setdefault(base_of(card), {})[card.id] = card


def planned_on(card: Organism) -> list[Organism]:
    """The run's organisms on ``card``'s base (``card`` included)."""
    return list({**_planned.get(base_of(card), {}), card.id: card}.values())


def vllm_model_name(card: Organism, provider: str = PROVIDER) -> str:
    """``<provider>/<weights>`` plus ``:<adapter>[@revision]`` when the card has a LoRA."""
    name = f"{provider}/{base_of(card)}"
    assert card.model is not None
    if card.model.adapter:
        name += f":{card.resolve_path(card.model.adapter)}"
        if card.model.adapter_revision:
            name += f"@{card.model.adapter_revision}"
    return name


# ---------------------------------------------------------------- sizing a server
def lora_rank(location: Location) -> int | None:
    """``r`` from an adapter's own ``adapter_config.json`` (local or cached), None if unknown."""
    folder = local_folder(location)
    if folder is None or not (folder / "adapter_config.json").is_file():
        return None
    rank = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8")).get("r")
    return rank if isinstance(rank, int) else None


def supported_rank(rank: int) -> int:
    """The smallest LoRA rank vLLM supports that holds ``rank``."""
    for supported in LORA_RANKS:
        if supported >= rank:
            return supported
    raise ValueError(f"LoRA rank {rank} exceeds the largest rank vLLM serves ({LORA_RANKS[-1]})")


def weight_bytes(card: Organism) -> int | None:
    """Bytes of the base's weights once loaded (after the card's quantisation), None if unknown."""
    assert card.model is not None
    weights = next(loc for loc in locations(card) if loc.kind == "model")
    folder = local_folder(weights)
    if folder is None:
        return None
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        total = json.loads(index.read_text(encoding="utf-8")).get("metadata", {}).get("total_size")
    else:
        total = sum(f.stat().st_size for f in folder.glob("*.safetensors")) or None
    if not total:
        return None
    target = QUANTISED_BYTES.get(card.model.quantization or "")
    if target is None:
        return int(total)
    config = _model_config(card)
    stored = DTYPE_BYTES.get(str(config.get("torch_dtype") or config.get("dtype")), 2)
    return int(total * target / stored)


def visible_gpu_memory() -> list[int]:
    """Total memory of each visible CUDA device, in bytes."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_properties(i).total_memory for i in range(torch.cuda.device_count())]


def tensor_parallel_size(
    weights: int | None, gpus: Sequence[int], heads: int | None, share: float = 1.0
) -> int:
    """The fewest GPUs (a power of two dividing the attention heads) on which the weights take
    at most `WEIGHT_SHARE` of this server's ``share`` of each GPU; 1 when the size is unknown,
    all usable GPUs when none suffice."""
    if not gpus or weights is None:
        return 1
    options = [n for n in (1, 2, 4, 8, 16, 32, 64) if n <= len(gpus) and (not heads or heads % n == 0)]
    for n in options:
        if weights / n <= WEIGHT_SHARE * share * min(gpus):
            return n
    logger.warning(
        "base weights of %.0f GB do not fit %d visible GPUs of %.0f GB; serving over %d "
        "(set model.quantization, e.g. fp8, to halve them)",
        weights / 1e9, len(gpus), min(gpus) / 1e9, options[-1],
    )
    return options[-1]


def _shared(cards: Sequence[Organism], field: str, value: Callable[[Organism], Any]) -> Any:
    """The value all organisms on one server agree on, or a `CardError` naming two that differ."""
    first = cards[0]
    for other in cards[1:]:
        if value(other) != value(first):
            raise CardError(
                f"{other.card_path}: field '{field}': {value(other)!r} differs from "
                f"{value(first)!r} in {first.card_path}; organisms on one base share one vLLM "
                "server and must agree"
            )
    return value(first)


def _model_config(card: Organism) -> dict[str, Any]:
    """The base's ``config.json`` (its text part for multimodal models), {} when not local."""
    weights = next(loc for loc in locations(card) if loc.kind == "model")
    folder = local_folder(weights)
    if folder is None:
        return {}
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return config.get("text_config", config)


def vllm_dtype(name: str) -> str:
    """The dtype the transformers backend would use on this machine's GPUs (``auto``: bfloat16
    where supported, else float32), so both backends compute in the same precision."""
    import torch

    from auditgame.organism.engine import pick_dtype

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return str(pick_dtype(name, device)).removeprefix("torch.")


def vllm_server_args(card: Organism) -> dict[str, Any]:
    """``vllm serve`` arguments for the server of ``card``'s base, sized for the whole run."""
    assert card.model is not None
    cards = planned_on(card)
    spec = card.model
    config = _model_config(card)
    context = max(c.model.max_context for c in cards)  # type: ignore[union-attr]
    args: dict[str, Any] = {
        "dtype": _shared(cards, "model.dtype", lambda c: vllm_dtype(c.model.dtype)),
        "max_model_len": min(context, config.get("max_position_embeddings") or context),
        "enable_prefix_caching": True,
    }
    revision = _shared(cards, "model.revision", lambda c: c.model.weights_rev)
    if revision:
        args["revision"] = revision
    quantization = _shared(cards, "model.quantization", lambda c: c.model.quantization)
    if quantization:
        args["quantization"] = quantization
    if spec.tokenizer:
        args["tokenizer"] = card.resolve_path(spec.tokenizer)
    adapters = {
        loc.resolved: loc for c in cards for loc in locations(c) if loc.kind == "adapter"
    }
    if adapters:
        ranks = [r for r in map(lora_rank, adapters.values()) if r]
        args.update(
            enable_lora=True,
            max_loras=min(len(adapters), MAX_LORAS_PER_BATCH),
            max_cpu_loras=len(adapters),
        )
        if ranks:
            args["max_lora_rank"] = supported_rank(max(ranks))
    servers = max(1, len(_planned))  # the run's bases share the visible GPUs
    if servers > 1:
        args["gpu_memory_utilization"] = round(GPU_MEMORY_UTILIZATION / servers, 3)
    gpus = visible_gpu_memory()
    tp = tensor_parallel_size(weight_bytes(card), gpus, config.get("num_attention_heads"), 1 / servers)
    if tp > 1:
        args["tensor_parallel_size"] = tp
    return args


# ---------------------------------------------------------------- serving
def sampling_defaults(generation_config: Any) -> dict[str, Any]:
    """A model's own sampling defaults (its generation_config), used when a call sets none."""
    if not getattr(generation_config, "do_sample", False):
        return {"temperature": 0.0, "top_p": None, "top_k": None}
    return {
        "temperature": generation_config.temperature or 1.0,
        "top_p": generation_config.top_p,
        "top_k": generation_config.top_k,
    }


class VLLMEngine:
    """One organism on its base's vLLM server: prompts rendered as on the transformers backend,
    sent as token ids; replies read back as `Generation`."""

    def __init__(self, card: Organism, config: GenerateConfig = GenerateConfig(), **server_args: Any):
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        assert card.model is not None
        self.card = card
        spec = card.model
        weights = base_of(card)
        field = "model.weights" if spec.weights else "model.base"
        tokenizer_path = card.resolve_path(spec.tokenizer) or weights
        with load_errors_named(card, "model.tokenizer" if spec.tokenizer else field, tokenizer_path):
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, revision=spec.weights_rev)
        with load_errors_named(card, field, weights):
            model_config = AutoConfig.from_pretrained(weights, revision=spec.weights_rev)
            try:
                generation = GenerationConfig.from_pretrained(weights, revision=spec.weights_rev)
            except OSError:  # no generation_config.json: the model config's defaults
                generation = GenerationConfig.from_model_config(model_config)
        self.sampling = sampling_defaults(generation)
        template = card.resolve_path(card.chat.template)
        self.chat_template = Path(template).read_text(encoding="utf-8") if template else None
        positions = getattr(model_config.get_text_config(), "max_position_embeddings", None)
        self.max_context = min(spec.max_context, positions or spec.max_context)
        plan([card])
        self.model: Model = get_model(
            vllm_model_name(card), config=config,
            **{**vllm_server_args(card), **server_args},
        )

    def prompt(self, messages: list[Any], thinking: bool, prefill: str | None = None) -> str:
        """The prompt for the next assistant turn, as the transformers backend renders it."""
        rendered = template_messages(messages, self.card.system_prompt)
        return render_prompt(self.tokenizer, rendered, thinking, prefill, self.chat_template)

    def user_prompt(self, messages: list[Any], thinking: bool) -> str:
        """The prompt for the next user turn, as the transformers backend renders it."""
        rendered = template_messages(messages, self.card.system_prompt)
        return render_user_prompt(self.tokenizer, rendered, thinking, self.chat_template)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def default_sampling(self) -> dict[str, Any]:
        return dict(self.sampling)

    def fit(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """The reply limit, as on the transformers backend: ``max_new_tokens`` or the room left
        in the context; a prompt that leaves none raises `PromptTooLong` (prompts are never cut)."""
        room = self.max_context - prompt_tokens
        if room < 1:
            where = self.card.card_path or self.card.id
            raise PromptTooLong(
                f"organism '{self.card.id}' ({where}): a prompt of {prompt_tokens} tokens does not "
                f"fit its context of {self.max_context} tokens (card field 'model.max_context'); "
                "shorten the input",
                prompt_tokens, self.max_context,
            )
        return min(max_new_tokens, room)

    async def ready(self) -> None:
        """Start (or join) the base's vLLM server, so a caller's clock starts once it answers."""
        await self.model.api._ensure_server_started()  # type: ignore[attr-defined]

    def request_config(self, request: GenerationRequest, max_new_tokens: int) -> GenerateConfig:
        s = request.sampling
        sample = s.temperature > 0  # greedy otherwise: no sampling filters, as in transformers
        extra: dict[str, Any] = {"return_tokens_as_token_ids": True, "skip_special_tokens": True}
        if sample and s.top_k:
            extra["top_k"] = s.top_k
        return GenerateConfig(
            max_tokens=max_new_tokens,
            temperature=s.temperature,
            top_p=s.top_p if sample else None,
            seed=s.seed,
            stop_seqs=list(s.stop) or None,
            logprobs=True if s.top_logprobs is not None else None,
            top_logprobs=s.top_logprobs or None,
            extra_body=extra,
        )

    async def generate(self, request: GenerationRequest) -> Generation:
        ids = self.encode(request.prompt)
        max_new = self.fit(len(ids), request.max_new_tokens)
        message = ChatMessageUser(content=request.prompt, metadata={"prompt_token_ids": ids})
        output = await self.model.generate([message], config=self.request_config(request, max_new))
        choice = output.choices[0]
        logprobs = None
        if request.sampling.top_logprobs is not None and choice.logprobs is not None:
            logprobs = tuple(
                TokenLogprob(
                    self._token_text(lp.token),
                    lp.logprob,
                    tuple(
                        (self._token_text(t.token), t.logprob)
                        for t in (lp.top_logprobs or [])[: request.sampling.top_logprobs]
                    ),
                )
                for lp in choice.logprobs.content
            )
        usage = output.usage
        reason: StopReason = "max_tokens" if choice.stop_reason == "max_tokens" else "stop"
        if reason == "max_tokens" and max_new < request.max_new_tokens:
            reason = "model_length"
        return Generation(
            text=choice.message.text,
            stop_reason=reason,
            prompt_tokens=usage.input_tokens if usage else len(ids),
            completion_tokens=usage.output_tokens if usage else len(logprobs or ()),
            logprobs=logprobs,
            max_new_tokens=max_new,
        )

    def _token_text(self, token: str) -> str:
        """vLLM names tokens ``token_id:<id>`` (``return_tokens_as_token_ids``): decode the id as
        the transformers backend does."""
        if token.startswith("token_id:"):
            return self.tokenizer.decode([int(token.removeprefix("token_id:"))])
        return token
