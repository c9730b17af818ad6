"""Continuous batching on one loaded model: requests join and leave the running batch between
decode steps.

Every piece of model work on a loaded base (prefills, decode steps, scoring forwards, adapter
changes, a tool's own forward pass) runs in that base's worker thread, one piece at a time, so
callers on the event loop never block and peft's per-forward adapter state is never shared.

transformers' own continuous batching (``generate_batch`` / ``ContinuousBatchingManager``) was
not used: it samples every request with one shared generator and one greedy/sampling switch, returns
only the chosen token's log-probability, has no stop strings, and calls the model without peft's
``adapter_names``. This scheduler keeps left-padded ``DynamicCache`` batches instead:
newcomers are prefilled in groups of similar length (a prompt over `PREFILL_CHUNK` tokens a
chunk at a time, between decode steps) and concatenated into a running batch of similar cache
width, so one long prompt does not make every short row attend over its padding; finished rows
are dropped and all-padding columns trimmed. Models whose cache is not plain full attention
(sliding window, linear attention) are served by ``static`` batching (``model.generate`` per
group).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

logger = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"
"""peft's name for "no adapter" in a mixed-adapter batch."""

PREFILL_TOKENS = 16384
"""Most (padded) prompt tokens prefilled in one forward pass."""

PREFILL_CHUNK = 512
"""A prompt longer than this is prefilled in chunks, one chunk between decode steps: of this many
tokens while nothing else runs, of `BUSY_CHUNK` while other rows decode (so they are slowed
little)."""

BUSY_CHUNK = 64


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    top_logprobs: int | None = None
    """``None``: no log-probabilities; ``0``: chosen tokens only; ``k``: also the top k."""


@dataclass
class GenerationJob:
    """One request as the worker sees it: token ids in, token ids (and log-probabilities) out."""

    prompt: list[int]
    max_new_tokens: int
    sampling: Sampling
    eos: frozenset[int]
    adapter: str | None = None
    stopped: Callable[[list[int]], bool] | None = None
    """Called after each token; True ends the request (a stop string appeared)."""
    future: Future[GenerationJob] = field(default_factory=Future)
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top: list[tuple[list[int], list[float]]] = field(default_factory=list)
    finish: Literal["stop", "max_tokens"] = "max_tokens"
    drawn_seed: int | None = None
    """For a sampled request without a seed: one drawn from torch's global generator when the
    request was made (in request order), so its reply depends on its own draws only, never on
    which other requests share its decode steps (the continuous path)."""
    _generator: torch.Generator | None = None
    _processors: LogitsProcessorList | None = None


@dataclass
class _Batch:
    """The running rows and their shared left-padded cache."""

    jobs: list[GenerationJob]
    cache: DynamicCache
    mask: torch.Tensor  # (rows, width): 1 where a cache column holds a real token
    positions: torch.Tensor  # (rows,): position id of each row's next input token
    next_tokens: torch.Tensor  # (rows,): sampled, not yet fed


@dataclass
class _Prefill:
    """A long prompt prefilled a chunk at a time, so running rows keep decoding meanwhile."""

    job: GenerationJob
    cache: DynamicCache = field(default_factory=DynamicCache)
    done: int = 0


@dataclass
class WorkerStats:
    """What the worker did (for tests and benchmarks)."""

    decode_rows: list[int] = field(default_factory=list)
    """Rows in each decode step."""
    prefill_rows: list[int] = field(default_factory=list)
    score_rows: list[int] = field(default_factory=list)
    static_rows: list[int] = field(default_factory=list)


def supports_continuous(config: Any) -> bool:
    """True when every layer is full attention (a plain ``DynamicCache`` serves the model)."""
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None:
        return all(t == "full_attention" for t in layer_types)
    return getattr(config, "sliding_window", None) is None and not getattr(
        config, "is_encoder_decoder", False
    )


class ModelWorker:
    """Runs all model work of one loaded model in one thread.

    ``model_of()`` gives the current model (a peft wrapper replaces the plain model when the
    first adapter is attached); ``route(names)`` is a context manager under which every forward
    pass sends row ``i`` through adapter ``names[i]``.
    """

    def __init__(
        self,
        model_of: Callable[[], Any],
        input_device: torch.device,
        pad_token_id: int,
        max_batch: int = 32,
        mode: Literal["continuous", "static"] = "continuous",
        name: str = "model",
        score_batch: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
        route: Callable[[list[str]], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.model_of = model_of
        self.route = route
        self.score_batch = score_batch
        self.input_device = input_device
        self.pad_token_id = pad_token_id
        self.max_batch = max_batch
        self.mode = mode
        self.stats = WorkerStats()
        self.lock = threading.RLock()
        """Held during every piece of model work; hold it to run forward passes from elsewhere."""
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiting: list[GenerationJob] = []
        self._scores: list[tuple[Any, Future[Any]]] = []
        self._batches: list[_Batch] = []
        """Running rows, in batches of similar cache width (one decode step each per round)."""
        self._prefilling: list[_Prefill] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"organism-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ submitting work
    def generate(self, job: GenerationJob) -> Future[GenerationJob]:
        self._inbox.put(job)
        return job.future

    def score(self, request: Any) -> Future[Any]:
        """Score requests that arrive together run as one forward (see `score_batch`)."""
        future: Future[Any] = Future()
        self._inbox.put((request, future))
        return future

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn()`` in the worker between decode steps."""
        future: Future[Any] = Future()
        self._inbox.put((fn, future, "call"))
        return future

    @property
    def busy(self) -> bool:
        """Requests are queued or running."""
        return bool(self._batches or self._prefilling or self._waiting or self._scores
                    or not self._inbox.empty())

    def close(self) -> None:
        self._closed = True
        self._inbox.put(None)

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._closed:
            self._take_inbox(block=not (self._batches or self._prefilling or self._waiting))
            if self._closed:
                break
            with self.lock:
                self._run_scores()
                if self.mode == "static":
                    self._run_static()
                    continue
                self._admit()
                self._advance_prefill()
                self._decode_steps()
        self._fail_all(RuntimeError("the organism engine was closed"))

    def _take_inbox(self, block: bool) -> None:
        items = [self._inbox.get()] if block else []
        while not self._inbox.empty():
            items.append(self._inbox.get_nowait())
        for item in items:
            if item is None:
                continue
            if isinstance(item, GenerationJob):
                self._waiting.append(item)
            elif len(item) == 3:  # a call: run at once, between steps
                fn, future, _ = item
                if future.set_running_or_notify_cancel():
                    with self.lock:
                        _settle(future, fn)
            else:
                self._scores.append(item)

    def _fail_all(self, exc: BaseException) -> None:
        """Fail all work, including what was queued but not yet taken when the worker closed."""
        queued: list[Future[Any]] = []
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if isinstance(item, GenerationJob):
                queued.append(item.future)
            elif item is not None:
                queued.append(item[1])
        jobs = self._waiting + [j for b in self._batches for j in b.jobs] + [p.job for p in self._prefilling]
        for future in [j.future for j in jobs] + [f for _, f in self._scores] + queued:
            _resolve(future, exc=exc)
        self._waiting, self._scores, self._batches, self._prefilling = [], [], [], []

    # ------------------------------------------------------------------ scoring
    def _run_scores(self) -> None:
        while self._scores:
            batch, self._scores = self._scores[: self.max_batch], self._scores[self.max_batch :]
            batch = [(r, f) for r, f in batch if not f.cancelled()]
            if not batch:
                continue
            self.stats.score_rows.append(len(batch))
            assert self.score_batch is not None
            try:
                results = self.score_batch([r for r, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every request of the batch gets it
                for _, future in batch:
                    _resolve(future, exc=exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _resolve(future, result)

    # ------------------------------------------------------------------ forward passes
    def forward(self, adapters: Sequence[str | None], **inputs: Any) -> Any:
        """One forward of the current model, routing each row to its adapter."""
        with self._routed(adapters):
            return self.model_of()(**inputs)

    def _routed(self, adapters: Sequence[str | None]) -> AbstractContextManager[None]:
        if not any(adapters):
            return nullcontext()
        assert self.route is not None
        return self.route([a or BASE_ADAPTER for a in adapters])

    # ------------------------------------------------------------------ continuous batching
    @property
    def _running(self) -> int:
        return sum(len(b.jobs) for b in self._batches) + len(self._prefilling)

    def _admit(self) -> None:
        self._waiting = [j for j in self._waiting if not j.future.cancelled()]
        for batch in list(self._batches):
            self._drop(batch, [i for i, j in enumerate(batch.jobs) if j.future.cancelled()])
        room = self.max_batch - self._running
        if room <= 0 or not self._waiting:
            return
        newcomers, self._waiting = self._waiting[:room], self._waiting[room:]
        for group in _length_groups(newcomers):
            if len(group) == 1 and len(group[0].prompt) > PREFILL_CHUNK:
                self._prefilling.append(_Prefill(group[0]))  # in chunks, between decode steps
                continue
            try:
                self._prefill(group)
            except Exception as exc:  # noqa: BLE001 - only this group fails
                logger.exception("prefill failed")
                for job in group:
                    _resolve(job.future, exc=exc)

    def _left_padded(self, jobs: list[GenerationJob]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(j.prompt) for j in jobs)
        ids = torch.full((len(jobs), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for i, job in enumerate(jobs):
            ids[i, width - len(job.prompt) :] = torch.tensor(job.prompt, dtype=torch.long)
            mask[i, width - len(job.prompt) :] = 1
        return ids.to(self.input_device), mask.to(self.input_device)

    @torch.inference_mode()
    def _prefill(self, jobs: list[GenerationJob]) -> None:
        ids, mask = self._left_padded(jobs)
        cache = DynamicCache()
        out = self.forward(
            [j.adapter for j in jobs], input_ids=ids, attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0), cache=cache, use_cache=True,
            logits_to_keep=1,
        )
        self._prefilled(jobs, cache, mask, out.logits[:, -1, :])

    @torch.inference_mode()
    def _advance_prefill(self) -> None:
        """The next chunk of the oldest long prompt being prefilled (one row, no padding)."""
        if not self._prefilling:
            return
        state = self._prefilling[0]
        job = state.job
        if job.future.cancelled():
            self._prefilling.pop(0)
            return
        end = min(state.done + (BUSY_CHUNK if self._batches else PREFILL_CHUNK), len(job.prompt))
        device = self.input_device
        try:
            out = self.forward(
                [job.adapter],
                input_ids=torch.tensor([job.prompt[state.done : end]], device=device),
                position_ids=torch.arange(state.done, end, device=device)[None],
                cache=state.cache, use_cache=True, logits_to_keep=1,
            )
        except Exception as exc:  # noqa: BLE001
            logger.exception("prefill failed")
            self._prefilling.pop(0)
            _resolve(job.future, exc=exc)
            return
        state.done = end
        if end == len(job.prompt):
            self._prefilling.pop(0)
            mask = torch.ones((1, end), dtype=torch.long, device=device)
            self._prefilled([job], state.cache, mask, out.logits[:, -1, :])

    def _prefilled(self, jobs: list[GenerationJob], cache: DynamicCache, mask: torch.Tensor,
                   logits: torch.Tensor) -> None:
        """Sample the first tokens and put the new rows into a batch of similar width."""
        self.stats.prefill_rows.append(len(jobs))
        for job in jobs:
            _prepare_sampling(job, mask.device)
        next_tokens, done = self._sample(jobs, logits)
        new = _Batch(list(jobs), cache, mask, mask.sum(-1), next_tokens)
        width = mask.shape[1]
        for i, batch in enumerate(self._batches):
            if _similar_width(batch.mask.shape[1], width):
                self._batches[i] = _merge(batch, new)
                self._drop(self._batches[i], [len(batch.jobs) + n for n in done])
                return
        self._batches.append(new)
        self._drop(new, done)

    def _decode_steps(self) -> None:
        for batch in list(self._batches):
            self._decode_step(batch)

    @torch.inference_mode()
    def _decode_step(self, batch: _Batch) -> None:
        rows = len(batch.jobs)
        device = batch.mask.device
        mask = torch.cat([batch.mask, torch.ones((rows, 1), dtype=batch.mask.dtype, device=device)], 1)
        try:
            out = self.forward(
                [j.adapter for j in batch.jobs],
                input_ids=batch.next_tokens[:, None],
                attention_mask=mask,
                position_ids=batch.positions[:, None],
                cache=batch.cache,
                use_cache=True,
                logits_to_keep=1,
            )
        except Exception as exc:  # noqa: BLE001 - the rows of this batch cannot continue
            logger.exception("decode step failed")
            for job in batch.jobs:
                _resolve(job.future, exc=exc)
            self._batches.remove(batch)
            return
        self.stats.decode_rows.append(rows)
        batch.mask, batch.positions = mask, batch.positions + 1
        batch.next_tokens, done = self._sample(batch.jobs, out.logits[:, -1, :])
        self._drop(batch, done)

    def _sample(self, jobs: list[GenerationJob], logits: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """Pick each row's next token; returns the tokens and the rows that finished."""
        logits = logits.float()
        greedy = logits.argmax(-1).tolist()
        wants_logprobs = any(j.sampling.top_logprobs is not None for j in jobs)
        logprobs = logits.log_softmax(-1) if wants_logprobs else None
        chosen: list[int] = []
        done: list[int] = []
        for i, job in enumerate(jobs):
            token = greedy[i]
            if job._processors is not None:
                scores = job._processors(None, logits[i : i + 1].clone())  # type: ignore[arg-type]
                probs = scores.softmax(-1)
                token = int(torch.multinomial(probs, 1, generator=job._generator).item())
            chosen.append(token)
            if token in job.eos:
                job.finish = "stop"
                done.append(i)
                continue
            job.tokens.append(token)
            if logprobs is not None and job.sampling.top_logprobs is not None:
                job.logprobs.append(float(logprobs[i, token]))
                if job.sampling.top_logprobs:
                    values, indices = logprobs[i].topk(job.sampling.top_logprobs)
                    job.top.append((indices.tolist(), values.tolist()))
            if job.stopped is not None and job.stopped(job.tokens):
                job.finish = "stop"
                done.append(i)
            elif len(job.tokens) >= job.max_new_tokens:
                done.append(i)
        return torch.tensor(chosen, dtype=torch.long, device=logits.device), done

    def _drop(self, batch: _Batch, rows: list[int]) -> None:
        """Remove finished (or cancelled) rows, answer them, and trim all-padding columns."""
        if not rows:
            return
        gone = set(rows)
        for i in gone:
            _resolve(batch.jobs[i].future, batch.jobs[i])
        keep = [i for i in range(len(batch.jobs)) if i not in gone]
        if not keep:
            self._batches.remove(batch)
            return
        index = torch.tensor(keep, device=batch.mask.device)
        mask = batch.mask[index]
        start = int(mask.any(0).nonzero()[0])
        for layer in batch.cache.layers:
            layer.keys = layer.keys[keep, :, start:, :]
            layer.values = layer.values[keep, :, start:, :]
        batch.jobs = [batch.jobs[i] for i in keep]
        batch.mask = mask[:, start:]
        batch.positions = batch.positions[index]
        batch.next_tokens = batch.next_tokens[index]

    # ------------------------------------------------------------------ static batching
    def _run_static(self) -> None:
        """Groups of requests with equal sampling run to their longest request
        (``model.generate``); for models the continuous path does not serve."""
        pending = [j for j in self._waiting if not j.future.cancelled()]
        self._waiting = []
        for group in _sampling_groups(pending, self.max_batch):
            try:
                self._generate_static(group)
            except Exception as exc:  # noqa: BLE001
                for job in group:
                    _resolve(job.future, exc=exc)
            for job in group:
                _resolve(job.future, job)

    def generate_here(self, jobs: list[GenerationJob]) -> None:
        """Generate ``jobs`` in the calling thread, which holds `lock` (static batching)."""
        for group in _sampling_groups(jobs, self.max_batch):
            self._generate_static(group)

    @torch.inference_mode()
    def _generate_static(self, jobs: list[GenerationJob]) -> None:
        key = jobs[0].sampling
        width = max(len(j.prompt) for j in jobs)
        ids = torch.full((len(jobs), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, job in enumerate(jobs):
            ids[i, width - len(job.prompt) :] = torch.tensor(job.prompt, dtype=torch.long)
            mask[i, width - len(job.prompt) :] = 1
        sample = key.temperature > 0
        if key.seed is not None:
            torch.manual_seed(key.seed)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max(j.max_new_tokens for j in jobs),
            do_sample=sample,
            pad_token_id=self.pad_token_id,
            eos_token_id=sorted(jobs[0].eos),
            return_dict_in_generate=True,
            output_logits=key.top_logprobs is not None,
        )
        if sample:
            kwargs.update(temperature=key.temperature, top_p=key.top_p or 1.0, top_k=key.top_k or 0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        device = self.input_device
        with self._routed([j.adapter for j in jobs]):
            out = self.model_of().generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        self.stats.static_rows.append(len(jobs))
        rows = out.sequences[:, width:].tolist()
        step_logprobs = torch.stack(out.logits, 1).float().log_softmax(-1) if out.logits else None
        for i, (job, row) in enumerate(zip(jobs, rows)):
            for n, token in enumerate(row[: job.max_new_tokens]):
                if token in job.eos:
                    job.finish = "stop"
                    break
                job.tokens.append(token)
                if step_logprobs is not None:
                    job.logprobs.append(float(step_logprobs[i, n, token]))
                    if key.top_logprobs:
                        values, indices = step_logprobs[i, n].topk(key.top_logprobs)
                        job.top.append((indices.tolist(), values.tolist()))
                if job.stopped is not None and job.stopped(job.tokens):
                    job.finish = "stop"
                    break


def _resolve(future: Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    """Answer a future unless it is already done (e.g. cancelled by its caller)."""
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:  # cancelled meanwhile
        pass


def _settle(future: Future[Any], fn: Callable[[], Any]) -> None:
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        future.set_exception(exc)


def _prepare_sampling(job: GenerationJob, device: torch.device) -> None:
    """Per-request sampling: its own warpers and, with a seed, its own generator."""
    s = job.sampling
    if s.temperature <= 0:
        return
    warpers = LogitsProcessorList()
    if s.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(s.temperature))
    if s.top_k:
        warpers.append(TopKLogitsWarper(s.top_k))
    if s.top_p is not None and s.top_p < 1.0:
        warpers.append(TopPLogitsWarper(s.top_p))
    job._processors = warpers
    seed = s.seed if s.seed is not None else job.drawn_seed
    if seed is not None:
        job._generator = torch.Generator(device=device).manual_seed(seed)


def _sampling_groups(jobs: list[GenerationJob], size: int) -> list[list[GenerationJob]]:
    """Jobs with equal sampling settings, at most ``size`` per group, in arrival order."""
    by_key: dict[Sampling, list[GenerationJob]] = {}
    for job in jobs:
        by_key.setdefault(job.sampling, []).append(job)
    return [group[i : i + size] for group in by_key.values() for i in range(0, len(group), size)]


def _length_groups(jobs: list[GenerationJob]) -> list[list[GenerationJob]]:
    """Prefill groups of similar prompt length (padding at most doubles a group's work)."""
    groups: list[list[GenerationJob]] = []
    for job in sorted(jobs, key=lambda j: len(j.prompt)):
        if groups:
            group = groups[-1]
            width = len(job.prompt)
            shortest = len(group[0].prompt)
            if width <= 2 * shortest + 16 and width * (len(group) + 1) <= PREFILL_TOKENS:
                group.append(job)
                continue
        groups.append([job])
    return groups


def _similar_width(a: int, b: int) -> bool:
    """Rows share a batch (and its padding) when their cache widths are close."""
    return max(a, b) <= 2 * min(a, b) + 64


def _left_pad(t: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - t.shape[dim]
    if missing == 0:
        return t
    pad = [0, 0] * (t.dim() - 1 - (dim % t.dim())) + [missing, 0]
    return F.pad(t, pad)


def _merge(running: _Batch, new: _Batch) -> _Batch:
    """One batch from two: caches and masks left-padded to the wider one, rows concatenated."""
    width = max(running.mask.shape[1], new.mask.shape[1])
    for old_layer, new_layer in zip(running.cache.layers, new.cache.layers, strict=True):
        old_layer.keys = torch.cat([_left_pad(old_layer.keys, width, -2), _left_pad(new_layer.keys, width, -2)])
        old_layer.values = torch.cat(
            [_left_pad(old_layer.values, width, -2), _left_pad(new_layer.values, width, -2)]
        )
    return _Batch(
        running.jobs + new.jobs,
        running.cache,
        torch.cat([_left_pad(running.mask, width, 1), _left_pad(new.mask, width, 1)]),
        torch.cat([running.positions, new.positions]),
        torch.cat([running.next_tokens, new.next_tokens]),
    )
