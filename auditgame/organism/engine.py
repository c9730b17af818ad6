"""A locally served organism: base weights + optional LoRA adapter, with batched generation
and log-probability scoring."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from inspect_ai.model import ChatMessage

from auditgame.cards import CardError, Organism
from auditgame.organism.batching import Batcher
from auditgame.organism.chat import render_prompt, template_messages
from auditgame.preflight import load_errors_named

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingKey:
    """Settings that requests must share to be generated in one batch."""

    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None
    """``None``: no log-probabilities; ``0``: chosen tokens only; ``k``: also the top k."""


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_new_tokens: int
    sampling: SamplingKey = SamplingKey()


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Generation:
    text: str
    stop_reason: Literal["stop", "max_tokens"]
    prompt_tokens: int
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class ScoreRequest:
    """Log-likelihood of ``continuation`` after ``context`` and of candidate next tokens."""

    context: Sequence[int]
    continuation: Sequence[int] = ()
    candidates: Sequence[int] = ()
    top_k: int = 0


@dataclass(frozen=True)
class ScoreResult:
    continuation_logprobs: tuple[float, ...]
    candidate_logprobs: tuple[float, ...]
    top: tuple[tuple[int, float], ...] = field(default=())


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(name: str, device: str) -> torch.dtype:
    """``auto``: bfloat16 on GPUs that support it, float32 otherwise."""
    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, name)


class LocalEngine:
    """One loaded organism. Thread-confined: all model work runs in the batcher's worker."""

    def __init__(
        self,
        card: Organism,
        device: str | None = None,
        dtype: str | None = None,
        merge_adapter: bool = True,
        max_batch: int = 32,
    ) -> None:
        if card.model is None:
            raise CardError(f"{card.card_path}: organism '{card.id}' has no local 'model'")
        card.check_local_files()
        self.card = card
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype or card.model.dtype, self.device)
        self.tokenizer, self.model = self._load(merge_adapter)
        self.chat_template = self._chat_template()
        self.max_context = min(card.model.max_context, self._model_max_positions())
        self.eos_token_ids = self._eos_token_ids()
        self.generations = Batcher(self._generate_batch, max_batch=max_batch)
        self.scores = Batcher(self._score_batch, max_batch=max_batch)

    # ---------------------------------------------------------------- loading
    def _load(self, merge_adapter: bool) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        spec = self.card.model
        assert spec is not None
        weights = self.card.resolve_path(spec.weights_path)
        tokenizer_path = self.card.resolve_path(spec.tokenizer) or weights
        logger.info("loading organism %s from %s (%s, %s)", self.card.id, weights, self.device, self.dtype)
        weights_field = "model.weights" if spec.weights else "model.base"
        tokenizer_field = "model.tokenizer" if spec.tokenizer else weights_field
        with load_errors_named(self.card, tokenizer_field, tokenizer_path):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, revision=spec.weights_rev)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        # "cuda" spreads the layers over every visible GPU (a 70B model needs several);
        # a named device ("cuda:1", "cpu") holds the whole model.
        sharded = self.device == "cuda"
        with load_errors_named(self.card, weights_field, weights):
            model = AutoModelForCausalLM.from_pretrained(
                weights,
                revision=spec.weights_rev,
                dtype=self.dtype,
                device_map="auto" if sharded else None,
            )
        if spec.adapter:
            from peft import PeftModel

            adapter = self.card.resolve_path(spec.adapter)
            with load_errors_named(self.card, "model.adapter", adapter):
                model = PeftModel.from_pretrained(model, adapter, revision=spec.adapter_revision)
            if merge_adapter:
                model = model.merge_and_unload()
        if not sharded:
            model.to(self.device)
        model.eval()
        self.input_device = model.device if sharded else torch.device(self.device)
        return tokenizer, model

    def _chat_template(self) -> str | None:
        location = self.card.resolve_path(self.card.chat.template)
        return Path(location).read_text(encoding="utf-8") if location else None

    def _model_max_positions(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 1 << 30))

    def _eos_token_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return sorted(ids)

    def default_sampling(self) -> dict[str, Any]:
        """The model's own sampling defaults (its generation_config), used when a call sets none."""
        gen = self.model.generation_config
        if not getattr(gen, "do_sample", False):
            return {"temperature": 0.0, "top_p": None, "top_k": None}
        return {"temperature": gen.temperature or 1.0, "top_p": gen.top_p, "top_k": gen.top_k}

    # ---------------------------------------------------------------- public API
    def prompt(self, messages: list[ChatMessage], thinking: bool, prefill: str | None = None) -> str:
        """The prompt for the next assistant turn, the card's hidden system prompt first,
        ending in ``prefill`` when given."""
        rendered = template_messages(messages, self.card.system_prompt)
        return render_prompt(self.tokenizer, rendered, thinking, prefill, self.chat_template)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    async def generate(self, request: GenerationRequest) -> Generation:
        """Generate a completion; concurrent calls with the same sampling share batches."""
        return await self.generations.submit(request.sampling, request)

    async def score(self, request: ScoreRequest) -> ScoreResult:
        """Log-probabilities of a continuation and of candidate next tokens (one forward)."""
        return await self.scores.submit("score", request)

    def generate_now(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Synchronous batched generation (requests may differ in sampling)."""
        results: dict[int, Generation] = {}
        groups: dict[SamplingKey, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.sampling, []).append(i)
        for key, indices in groups.items():
            for i, g in zip(indices, self._generate_batch(key, [requests[i] for i in indices])):
                results[i] = g
        return [results[i] for i in range(len(requests))]

    def score_now(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        return self._score_batch("score", requests)

    # ---------------------------------------------------------------- model work
    def _left_padded(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
        return ids.to(self.input_device), mask.to(self.input_device)

    def _fit_prompt(self, ids: list[int], max_new_tokens: int) -> list[int]:
        room = max(1, self.max_context - max_new_tokens)
        return ids[-room:]

    @torch.inference_mode()
    def _generate_batch(
        self, key: Hashable, requests: Sequence[GenerationRequest]
    ) -> list[Generation]:
        assert isinstance(key, SamplingKey)
        prompts = [
            self._fit_prompt(self.encode(r.prompt), r.max_new_tokens) for r in requests
        ]
        input_ids, attention_mask = self._left_padded(prompts)
        max_new = max(r.max_new_tokens for r in requests)
        sample = key.temperature > 0
        if key.seed is not None:
            torch.manual_seed(key.seed)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new,
            do_sample=sample,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.eos_token_ids,
            return_dict_in_generate=True,
            output_logits=key.top_logprobs is not None,
        )
        if sample:
            kwargs.update(temperature=key.temperature, top_p=key.top_p or 1.0, top_k=key.top_k or 0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if key.stop:
            kwargs.update(stop_strings=list(key.stop), tokenizer=self.tokenizer)
        out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        new_tokens = out.sequences[:, input_ids.shape[1] :].tolist()
        step_logprobs = (
            torch.stack(out.logits, dim=1).float().log_softmax(-1) if out.logits else None
        )
        return [
            self._finish(row, request, len(prompt), key, step_logprobs, i)
            for i, (row, request, prompt) in enumerate(zip(new_tokens, requests, prompts))
        ]

    def _finish(
        self,
        tokens: list[int],
        request: GenerationRequest,
        prompt_tokens: int,
        key: SamplingKey,
        step_logprobs: torch.Tensor | None,
        row: int,
    ) -> Generation:
        stop_reason: Literal["stop", "max_tokens"] = "max_tokens"
        kept = tokens[: request.max_new_tokens]
        for n, token in enumerate(kept):
            if token in self.eos_token_ids:
                kept, stop_reason = kept[:n], "stop"
                break
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        for stop in key.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, stop_reason = text[:cut], "stop"
        logprobs = None
        if step_logprobs is not None:
            logprobs = tuple(
                self._token_logprob(step_logprobs[row, n], token, key.top_logprobs or 0)
                for n, token in enumerate(kept)
            )
        return Generation(text, stop_reason, prompt_tokens, len(kept), logprobs)

    def _token_logprob(self, logprobs: torch.Tensor, token: int, top_k: int) -> TokenLogprob:
        top: tuple[tuple[str, float], ...] = ()
        if top_k:
            values, indices = logprobs.topk(top_k)
            top = tuple(
                (self.tokenizer.decode([i]), v) for i, v in zip(indices.tolist(), values.tolist())
            )
        return TokenLogprob(self.tokenizer.decode([token]), float(logprobs[token]), top)

    @torch.inference_mode()
    def _score_batch(self, key: Hashable, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        if any(not r.context for r in requests):
            raise ValueError("a ScoreRequest needs at least one context token")
        rows = [list(r.context) + list(r.continuation) for r in requests]
        width = max(len(r) for r in rows)
        if width > self.max_context:
            raise ValueError(f"scoring input of {width} tokens exceeds max_context {self.max_context}")
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):  # right padding: positions stay 0..n-1
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        logits = self.model(
            input_ids=ids.to(self.input_device), attention_mask=mask.to(self.input_device)
        ).logits
        return [self._read_scores(logits[i], request) for i, request in enumerate(requests)]

    def _read_scores(self, logits: torch.Tensor, request: ScoreRequest) -> ScoreResult:
        """Log-probabilities from one row's logits, with one device read per quantity."""
        start, count = len(request.context), len(request.continuation)
        cont: tuple[float, ...] = ()
        if count:
            picked = logits[start - 1 : start - 1 + count].float()
            targets = torch.tensor(list(request.continuation), device=picked.device)
            chosen = picked.gather(-1, targets[:, None]).squeeze(-1)
            cont = tuple((chosen - picked.logsumexp(-1)).tolist())
        last = logits[start + count - 1].float().log_softmax(-1)
        candidates = tuple(last[list(request.candidates)].tolist()) if request.candidates else ()
        top: tuple[tuple[int, float], ...] = ()
        if request.top_k:
            values, indices = last.topk(request.top_k)
            top = tuple(zip(indices.tolist(), values.tolist(), strict=True))
        return ScoreResult(cont, candidates, top)


_engines: dict[tuple[Any, ...], LocalEngine] = {}
_engines_lock = threading.Lock()


def load_engine(card: Organism, **options: Any) -> LocalEngine:
    """The engine for ``card``, loaded once per process and options."""
    key = (card.id, str(card.card_path), tuple(sorted(options.items())))
    with _engines_lock:
        if key not in _engines:
            _engines[key] = LocalEngine(card, **options)
        return _engines[key]
