"""A locally served organism: a view of a shared loaded base with the organism's LoRA adapter,
with continuously batched generation and log-probability scoring.

``load_engine(card)`` gives the process's engine for a card; organisms on the same weights
share one loaded base (`auditgame.organism.pool`) and one batch. ``merge_adapter=True`` gives
an organism a private copy of the base with its adapter merged in. ``start_engine`` loads in a
background thread so the event loop keeps running.

For white-box tools: ``engine.model`` is the shared module (a plain forward computes the base
model), ``engine.tokenizer`` the organism's tokenizer; run your own forward passes (hooks,
hidden states) inside ``engine.forward_scope()`` (the organism's adapter active, or
``adapter=False`` for the base) or, from async code, with ``await engine.run(fn)``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from inspect_ai.model import ChatMessage

from auditgame.cards import CardError, Organism
from auditgame.organism.batching import GenerationJob, Sampling
from auditgame.organism.chat import render_prompt, render_user_prompt, template_messages
from auditgame.organism.pool import (
    LOAD_LOCK,
    AdapterFiles,
    AdapterKey,
    AttachError,
    BaseKey,
    EnginePool,
    SharedBase,
    shared_pool,
)
from auditgame.preflight import load_errors_named

logger = logging.getLogger(__name__)

StopReason = Literal["stop", "max_tokens", "model_length"]


class PromptTooLong(ValueError):
    """A prompt leaves no room for a reply in the organism's context, or a scored text is longer
    than the context. The message names the organism, its context and the card field, for the
    operator; `public_message` says the same without card values (for an auditor)."""

    public_message = "the conversation is too long for the target's context; shorten it"

    def __init__(self, message: str, tokens: int, max_context: int) -> None:
        super().__init__(message)
        self.tokens = tokens
        self.max_context = max_context


@dataclass(frozen=True)
class SamplingKey:
    """Sampling settings of a request (requests with different settings share batches)."""

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
    use_adapter: bool = True
    """False: generate with the base model (the organism's weights without its adapter)."""


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Generation:
    text: str
    stop_reason: StopReason
    """``model_length``: the reply was cut where the organism's context ends."""
    prompt_tokens: int
    completion_tokens: int
    logprobs: tuple[TokenLogprob, ...] | None = None
    max_new_tokens: int = 0
    """The reply limit used: the request's, or less when the context had less room."""


@dataclass(frozen=True)
class ScoreRequest:
    """Log-likelihood of ``continuation`` after ``context`` and of candidate next tokens."""

    context: Sequence[int]
    continuation: Sequence[int] = ()
    candidates: Sequence[int] = ()
    top_k: int = 0
    use_adapter: bool = True


@dataclass(frozen=True)
class ScoreResult:
    continuation_logprobs: tuple[float, ...]
    candidate_logprobs: tuple[float, ...]
    top: tuple[tuple[int, float], ...] = field(default=())


@dataclass(frozen=True)
class _Scored:
    request: ScoreRequest
    adapter: str | None


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


# ---------------------------------------------------------------------- loading
def load_tokenizer(card: Organism) -> Any:
    """The card's tokenizer (loaded once per location and revision)."""
    spec = card.model
    assert spec is not None
    location = card.resolve_path(spec.tokenizer) or card.resolve_path(spec.weights_path)
    field = "model.tokenizer" if spec.tokenizer else _weights_field(card)
    with load_errors_named(card, field, location):
        return _tokenizer(str(location), spec.weights_rev)


def _weights_field(card: Organism) -> str:
    assert card.model is not None
    return "model.weights" if card.model.weights else "model.base"


@functools.lru_cache(maxsize=64)
def _tokenizer(location: str, revision: str | None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, revision=revision)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(card: Organism, device: str, dtype: torch.dtype, merge_adapter: bool) -> tuple[Any, torch.device]:
    """The card's weights (with its adapter merged in when ``merge_adapter``) and the device
    inputs go to. ``device="cuda"`` spreads the layers over every visible GPU."""
    from transformers import AutoModelForCausalLM

    spec = card.model
    assert spec is not None
    weights = card.resolve_path(spec.weights_path)
    logger.info("loading %s for organism %s (%s, %s)", weights, card.id, device, dtype)
    sharded = device == "cuda"
    with LOAD_LOCK, load_errors_named(card, _weights_field(card), weights):
        model = AutoModelForCausalLM.from_pretrained(
            weights, revision=spec.weights_rev, dtype=dtype, device_map="auto" if sharded else None
        )
    if merge_adapter and spec.adapter:
        from peft import PeftModel

        adapter = card.resolve_path(spec.adapter)
        with LOAD_LOCK, load_errors_named(card, "model.adapter", adapter):
            model = PeftModel.from_pretrained(model, adapter, revision=spec.adapter_revision)
        model = model.merge_and_unload()
    if not sharded:
        model.to(device)
    model.eval()
    return model, (model.device if sharded else torch.device(device))


def read_adapter(card: Organism) -> AdapterFiles:
    """The card's LoRA config and weights (from disk or the hub), not yet attached."""
    from peft import PeftConfig
    from peft.utils import load_peft_weights

    spec = card.model
    assert spec is not None and spec.adapter
    location = card.resolve_path(spec.adapter)
    assert location is not None
    revision = {"revision": spec.adapter_revision} if spec.adapter_revision else {}
    with load_errors_named(card, "model.adapter", location):
        config = PeftConfig.from_pretrained(location, **revision)
        return AdapterFiles(config, load_peft_weights(location, device="cpu", **revision))


def _weights_on_disk(card: Organism) -> int:
    """Bytes of local weight files (0 for hub ids): the estimate made before a load."""
    assert card.model is not None
    location = card.resolve_path(card.model.weights_path)
    folder = Path(location) if location else None
    if folder is None or not folder.is_dir():
        return 0
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) or sum(
        f.stat().st_size for f in folder.glob("*.bin")
    )


class LocalEngine:
    """One organism served from a (shared) loaded base.

    Without ``pool`` the engine gets a private base (not shared, freed by `close`); `load_engine`
    uses the process's shared pool.
    """

    def __init__(
        self,
        card: Organism,
        device: str | None = None,
        dtype: str | None = None,
        merge_adapter: bool = False,
        max_batch: int = 32,
        batching: Literal["continuous", "static"] = "continuous",
        pool: EnginePool | None = None,
    ) -> None:
        if card.model is None:
            raise CardError(f"{card.card_path}: organism '{card.id}' has no local 'model'")
        card.check_local_files()
        spec = card.model
        self.card = card
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype or spec.dtype, self.device)
        self.max_batch = max_batch
        self._private = pool is None
        self.pool = pool or EnginePool()
        merged = bool(merge_adapter and spec.adapter)
        self.adapter_key = (
            AdapterKey(str(card.resolve_path(spec.adapter)), spec.adapter_revision)
            if spec.adapter and not merged else None
        )
        self.base_key = BaseKey(
            weights=str(card.resolve_path(spec.weights_path)),
            revision=spec.weights_rev,
            dtype=str(self.dtype).removeprefix("torch."),
            device=self.device,
            batching=batching,
            merged=(str(card.resolve_path(spec.adapter)), spec.adapter_revision) if merged else None,
        )
        self._merged = merged
        self.tokenizer = load_tokenizer(card)
        self.chat_template = self._chat_template()
        with self._held_sync() as (base, _):
            self.model_positions = self._max_positions(base.model)
            self.max_context = min(spec.max_context, self.model_positions)
            self.eos_token_ids = self._eos_token_ids(base.model)
            self._generation_config = base.model.generation_config

    # ---------------------------------------------------------------- loading and holding
    def _load_base(self) -> SharedBase:
        model, input_device = load_model(self.card, self.device, self.dtype, self._merged)
        return SharedBase(self.base_key, model, input_device, self.max_batch, _score_batch)

    def _acquire(self) -> tuple[SharedBase, str | None]:
        try:
            return self.pool.acquire(
                self.base_key, self._load_base, self.adapter_key,
                (lambda: read_adapter(self.card)) if self.adapter_key else None,
                estimate=_weights_on_disk(self.card),
            )
        except AttachError as exc:
            assert self.adapter_key is not None
            with load_errors_named(self.card, "model.adapter", self.adapter_key.location):
                raise exc.__cause__ or exc from None

    def _resident(self) -> bool:
        base = self.pool.bases.get(self.base_key)
        return base is not None and (self.adapter_key is None or self.adapter_key in base.adapters)

    @contextmanager
    def _held_sync(self) -> Iterator[tuple[SharedBase, str | None]]:
        base, adapter = self._acquire()
        try:
            yield base, adapter
        finally:
            self.pool.release(base, self.adapter_key)

    @asynccontextmanager
    async def _held(self) -> AsyncIterator[tuple[SharedBase, str | None]]:
        """The base and adapter, loaded (in a thread when missing) and held while in use."""
        base, adapter = self._acquire() if self._resident() else await asyncio.to_thread(self._acquire)
        try:
            yield base, adapter
        finally:
            self.pool.release(base, self.adapter_key)

    async def ready(self) -> None:
        """Wait (without blocking the event loop) until weights and adapter are loaded."""
        async with self._held():
            pass

    def close(self) -> None:
        """Free a private engine's model (shared bases stay for other organisms)."""
        if self._private:
            for base in list(self.pool.bases.values()):
                base.close()
            self.pool.bases.clear()

    # ---------------------------------------------------------------- model facts
    def _chat_template(self) -> str | None:
        location = self.card.resolve_path(self.card.chat.template)
        return Path(location).read_text(encoding="utf-8") if location else None

    @staticmethod
    def _max_positions(model: Any) -> int:
        return int(getattr(model.config, "max_position_embeddings", 1 << 30))

    def _eos_token_ids(self, model: Any) -> list[int]:
        ids: set[int] = set()
        configured = getattr(model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return sorted(ids)

    def default_sampling(self) -> dict[str, Any]:
        """The model's own sampling defaults (its generation_config), used when a call sets none."""
        gen = self._generation_config
        if not getattr(gen, "do_sample", False):
            return {"temperature": 0.0, "top_p": None, "top_k": None}
        return {"temperature": gen.temperature or 1.0, "top_p": gen.top_p, "top_k": gen.top_k}

    # ---------------------------------------------------------------- white-box access
    @property
    def model(self) -> Any:
        """The loaded (shared) module; a plain forward computes the base model. Use
        `forward_scope` or `run` for forward passes of the organism."""
        with self._held_sync() as (base, _):
            return base.model

    @property
    def input_device(self) -> torch.device:
        with self._held_sync() as (base, _):
            return base.input_device

    @property
    def adapter(self) -> str | None:
        """The organism's adapter name on the shared base (None: no adapter, or merged)."""
        with self._held_sync() as (_, adapter):
            return adapter

    @contextmanager
    def forward_scope(self, adapter: bool = True) -> Iterator[Any]:
        """The model with this organism's adapter active (``adapter=False``: the base), for
        forward passes of your own; no request runs meanwhile. Blocks: from async code use `run`."""
        with self._held_sync() as (base, name), base.scope(name if adapter else None) as model:
            yield model

    async def run(self, fn: Callable[[Any], Any], adapter: bool = True) -> Any:
        """``fn(model)`` in the model's worker thread, inside `forward_scope`."""
        async with self._held() as (base, name):

            def scoped() -> Any:
                with base.scope(name if adapter else None) as model, torch.inference_mode():
                    return fn(model)

            return await asyncio.wrap_future(base.worker.call(scoped))

    # ---------------------------------------------------------------- prompts
    def prompt(self, messages: list[ChatMessage], thinking: bool, prefill: str | None = None) -> str:
        """The prompt for the next assistant turn, the card's hidden system prompt first,
        ending in ``prefill`` when given."""
        rendered = template_messages(messages, self.card.system_prompt)
        return render_prompt(self.tokenizer, rendered, thinking, prefill, self.chat_template)

    def user_prompt(self, messages: list[ChatMessage], thinking: bool) -> str:
        """The prompt for the next user turn (the model writes it; see `render_user_prompt`),
        the card's hidden system prompt first."""
        rendered = template_messages(messages, self.card.system_prompt)
        return render_user_prompt(self.tokenizer, rendered, thinking, self.chat_template)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _too_long(self, tokens: int, what: str) -> PromptTooLong:
        where = self.card.card_path or self.card.id
        return PromptTooLong(
            f"organism '{self.card.id}' ({where}): {what} of {tokens} tokens does not fit its "
            f"context of {self.max_context} tokens (card field 'model.max_context'; the model "
            f"allows {self.model_positions}); shorten the input",
            tokens, self.max_context,
        )

    def _adapter_for(self, use_adapter: bool, adapter: str | None) -> str | None:
        if not use_adapter and self._merged:
            raise ValueError(f"organism '{self.card.id}' is served merged: it has no separate base")
        return adapter if use_adapter else None

    def fit(self, prompt_tokens: int, max_new_tokens: int) -> int:
        """The reply limit for a prompt: ``max_new_tokens``, or the room the context has left.
        A prompt that leaves no room raises `PromptTooLong` (prompts are never cut)."""
        room = self.max_context - prompt_tokens
        if room < 1:
            raise self._too_long(prompt_tokens, "a prompt")
        return min(max_new_tokens, room)

    # ---------------------------------------------------------------- generation
    def _job(self, request: GenerationRequest) -> GenerationJob:
        ids = self.encode(request.prompt)
        s = request.sampling
        return GenerationJob(
            prompt=ids,
            max_new_tokens=self.fit(len(ids), request.max_new_tokens),
            sampling=Sampling(s.temperature, s.top_p, s.top_k, s.seed, s.top_logprobs),
            eos=frozenset(self.eos_token_ids),
            stopped=self._stop_check(s.stop),
            drawn_seed=int(torch.randint(0, 2**62, ()).item()) if s.seed is None and s.temperature > 0 else None,
        )

    async def generate(self, request: GenerationRequest) -> Generation:
        """Generate a completion; it joins the running batch of its base at the next step."""
        job = self._job(request)
        async with self._held() as (base, adapter):
            job.adapter = self._adapter_for(request.use_adapter, adapter)
            done = await asyncio.wrap_future(base.worker.generate(job))
        return self._finish(done, request)

    def generate_now(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Synchronous generation of ``requests`` together."""
        jobs = [self._job(r) for r in requests]
        with self._held_sync() as (base, adapter):
            for job, request in zip(jobs, requests, strict=True):
                job.adapter = self._adapter_for(request.use_adapter, adapter)
            futures = [base.worker.generate(job) for job in jobs]
            jobs = [f.result() for f in futures]
        return [self._finish(job, r) for job, r in zip(jobs, requests, strict=True)]

    def generate_here(self, requests: Sequence[GenerationRequest], adapter: bool = True) -> list[Generation]:
        """Generate ``requests`` in the calling thread, alone on the model (inside
        `forward_scope`, static batching): forward hooks the caller installs see exactly these
        requests and no others."""
        jobs = [self._job(r) for r in requests]
        with self._held_sync() as (base, name), base.scope(name if adapter else None):
            base.worker.generate_here(jobs)
        return [self._finish(job, r) for job, r in zip(jobs, requests, strict=True)]

    def _stop_check(self, stops: tuple[str, ...]) -> Callable[[list[int]], bool] | None:
        if not stops:
            return None
        window = max(len(s) for s in stops) + 8  # a token is at least one character, mostly

        def stopped(tokens: list[int]) -> bool:
            tail = self.tokenizer.decode(tokens[-window:], skip_special_tokens=True)
            return any(s in tail for s in stops)

        return stopped

    def _finish(self, job: GenerationJob, request: GenerationRequest) -> Generation:
        text = self.tokenizer.decode(job.tokens, skip_special_tokens=True)
        reason: StopReason = job.finish
        for stop in request.sampling.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, reason = text[:cut], "stop"
        if reason == "max_tokens" and job.max_new_tokens < request.max_new_tokens:
            reason = "model_length"
        logprobs = None
        if request.sampling.top_logprobs is not None:
            decode = self.tokenizer.decode
            logprobs = tuple(
                TokenLogprob(
                    decode([token]), lp,
                    tuple((decode([i]), v) for i, v in zip(*job.top[n], strict=True)) if job.top else (),
                )
                for n, (token, lp) in enumerate(zip(job.tokens, job.logprobs, strict=True))
            )
        return Generation(text, reason, len(job.prompt), len(job.tokens), logprobs, job.max_new_tokens)

    # ---------------------------------------------------------------- scoring
    def _check_score(self, request: ScoreRequest) -> None:
        if not request.context:
            raise ValueError("a ScoreRequest needs at least one context token")
        length = len(request.context) + len(request.continuation)
        if length > self.max_context:
            raise self._too_long(length, "a scored text")

    async def score(self, request: ScoreRequest) -> ScoreResult:
        """Log-probabilities of a continuation and of candidate next tokens (one forward, shared
        with the scoring requests of every organism on the base that arrive meanwhile)."""
        self._check_score(request)
        async with self._held() as (base, adapter):
            item = _Scored(request, self._adapter_for(request.use_adapter, adapter))
            return await asyncio.wrap_future(base.worker.score(item))

    def score_now(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        for request in requests:
            self._check_score(request)
        with self._held_sync() as (base, adapter):
            items = [_Scored(r, self._adapter_for(r.use_adapter, adapter)) for r in requests]
            futures = [base.worker.score(item) for item in items]
            return [f.result() for f in futures]

    # ---------------------------------------------------------------- statistics
    @property
    def stats(self) -> Any:
        """What the base's worker did (batch sizes per step)."""
        with self._held_sync() as (base, _):
            return base.worker.stats


@torch.inference_mode()
def _score_batch(base: SharedBase, items: Sequence[_Scored]) -> list[ScoreResult]:
    """One right-padded forward (positions stay 0..n-1), each row with its own adapter."""
    rows = [list(i.request.context) + list(i.request.continuation) for i in items]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), base.worker.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    logits = base.worker.forward(
        [i.adapter for i in items],
        input_ids=ids.to(base.input_device),
        attention_mask=mask.to(base.input_device),
    ).logits
    return [_read_scores(logits[n], item.request) for n, item in enumerate(items)]


LOGSUMEXP_ROWS = 4
"""Rows per ``logsumexp`` call: a few vocabulary-wide rows stay in the CPU's cache between the
max and the sum, where one call over a whole window (hundreds of rows of 152k logits) makes
full-size temporaries, 2-3x slower on a CPU (`bench/perplexity_throughput.py`). Accelerators
get one fused call."""


def _logsumexp_by_rows(logits: torch.Tensor) -> torch.Tensor:
    if logits.device.type != "cpu":
        return logits.logsumexp(-1)
    return torch.cat([chunk.logsumexp(-1) for chunk in logits.split(LOGSUMEXP_ROWS)])


def _read_scores(logits: torch.Tensor, request: ScoreRequest) -> ScoreResult:
    """Log-probabilities from one row's logits, with one device read per quantity."""
    start, count = len(request.context), len(request.continuation)
    cont: tuple[float, ...] = ()
    if count:
        picked = logits[start - 1 : start - 1 + count].float()
        targets = torch.tensor(list(request.continuation), device=picked.device)
        chosen = picked.gather(-1, targets[:, None]).squeeze(-1)
        cont = tuple((chosen - _logsumexp_by_rows(picked)).tolist())
    last = logits[start + count - 1].float().log_softmax(-1)
    candidates = tuple(last[list(request.candidates)].tolist()) if request.candidates else ()
    top: tuple[tuple[int, float], ...] = ()
    if request.top_k:
        values, indices = last.topk(request.top_k)
        top = tuple(zip(indices.tolist(), values.tolist(), strict=True))
    return ScoreResult(cont, candidates, top)


# ---------------------------------------------------------------------- the process's engines
_engines: dict[tuple[Any, ...], LocalEngine] = {}
_starting: dict[tuple[Any, ...], Future[LocalEngine]] = {}
_engines_lock = threading.Lock()
_loader = ThreadPoolExecutor(max_workers=32, thread_name_prefix="organism-load")


def _engine_key(card: Organism, options: dict[str, Any]) -> tuple[Any, ...]:
    return (card.id, str(card.card_path), tuple(sorted(options.items())))


def load_engine(card: Organism, **options: Any) -> LocalEngine:
    """The engine for ``card`` (loaded once per process and options; organisms on the same
    weights share the loaded base). Blocks while loading: from async code use `start_engine`."""
    key = _engine_key(card, options)
    with _engines_lock:
        engine = _engines.get(key)
    if engine is not None:
        return engine
    engine = LocalEngine(card, pool=shared_pool(), **options)
    with _engines_lock:
        return _engines.setdefault(key, engine)


def start_engine(card: Organism, **options: Any) -> Future[LocalEngine]:
    """`load_engine` in a loader thread, started now; a failed load is retried by the next call."""
    key = _engine_key(card, options)
    with _engines_lock:
        if key in _engines:
            done: Future[LocalEngine] = Future()
            done.set_result(_engines[key])
            return done
        future = _starting.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = _loader.submit(load_engine, card, **options)
            _starting[key] = future
        return future
