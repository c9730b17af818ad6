"""The model worker's scheduling on a model of a few thousand weights built in the test: rows
joining and leaving a running batch, chunked prefills, static batching, cancellation, failures
and closing, each reply against full forward passes of the same weights; and the grouping rules
written out by hand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future
from contextlib import contextmanager

import pytest
import torch
from tiny_weights import EOS, greedy, tiny_lm
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from auditgame.organism import batching
from auditgame.organism.batching import (
    BASE_ADAPTER,
    GenerationJob,
    ModelWorker,
    Sampling,
    _left_pad,
    _length_groups,
    _prepare_sampling,
    _resolve,
    _sampling_groups,
    _settle,
    _similar_width,
    supports_continuous,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model():
    return tiny_lm(seed=4)


def job(prompt: list[int], count: int, sampling: Sampling = Sampling(), **fields) -> GenerationJob:
    return GenerationJob(prompt=prompt, max_new_tokens=count, sampling=sampling, eos=frozenset({EOS}), **fields)


@contextmanager
def paused(worker: ModelWorker) -> Iterator[None]:
    """Work submitted inside reaches the worker together (it waits in a call meanwhile)."""
    gate = threading.Event()
    worker.call(gate.wait)
    try:
        yield
    finally:
        gate.set()


def run(worker: ModelWorker, jobs: list[GenerationJob]) -> list[GenerationJob]:
    """Submit all jobs at once (the worker sees them together) and wait for them."""
    with paused(worker):
        futures = [worker.generate(j) for j in jobs]
    return [f.result(timeout=60) for f in futures]


PROMPTS = [[5, 6, 7], [8], [9, 10, 11, 12, 13, 14], [20, 21], [30, 31, 32, 33]]


@pytest.mark.parametrize("mode", ["continuous", "static"])
def test_every_row_gets_the_reply_of_its_own_forward_passes(model, mode) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, max_batch=3, mode=mode)
    counts = [4, 7, 2, 5, 6]
    done = run(worker, [job(p, n) for p, n in zip(PROMPTS, counts, strict=True)])
    for prompt, count, finished in zip(PROMPTS, counts, done, strict=True):
        expected = greedy(model, prompt, count)
        assert finished.tokens == expected
        assert finished.finish == ("max_tokens" if len(expected) == count else "stop")
    stats = worker.stats
    if mode == "continuous":
        assert stats.decode_rows and max(stats.decode_rows) <= 3 and sum(stats.prefill_rows) == 5
        assert stats.static_rows == []
    else:
        assert stats.static_rows == [3, 2] and stats.decode_rows == []
    worker.close()


def test_rows_join_a_running_batch_and_leave_it_when_done(model) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, max_batch=8)
    first = worker.generate(job([5, 6, 7], 12))
    while not worker.stats.decode_rows:  # the first row is decoding alone
        threading.Event().wait(0.001)
    late = [worker.generate(job(p, 3)) for p in ([8, 9], [10, 11, 12])]
    assert first.result(timeout=60).tokens == greedy(model, [5, 6, 7], 12)
    for prompt, future in zip(([8, 9], [10, 11, 12]), late, strict=True):
        assert future.result(timeout=60).tokens == greedy(model, prompt, 3)
    assert 1 in worker.stats.decode_rows and max(worker.stats.decode_rows) >= 2
    worker.close()


def test_a_long_prompt_is_prefilled_in_chunks_between_decode_steps(model, monkeypatch) -> None:
    monkeypatch.setattr(batching, "PREFILL_CHUNK", 4)
    monkeypatch.setattr(batching, "BUSY_CHUNK", 2)
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, max_batch=4)
    long = [5 + i % 40 for i in range(25)]  # alone in its length group (over 2 * 2 + 16)
    short, chunked, exact = run(worker, [job([8, 9], 6), job(long, 4), job([5, 6, 7, 8], 3)])
    assert chunked.tokens == greedy(model, long, 4)
    assert short.tokens == greedy(model, [8, 9], 6) and exact.tokens == greedy(model, [5, 6, 7, 8], 3)
    assert 1 in worker.stats.prefill_rows  # the long one alone, after its chunks
    alone = run(worker, [job(long, 3)])[0]  # nothing else running: chunks of PREFILL_CHUNK
    assert alone.tokens == greedy(model, long, 3)
    worker.close()


def test_eos_and_stop_checks_end_rows_and_logprobs_are_per_row(model) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0)
    free = greedy(model, [5, 6, 7], 8)
    ends = GenerationJob([5, 6, 7], 8, Sampling(), eos=frozenset({EOS, free[2]}))
    stops = job([5, 6, 7], 8, stopped=lambda tokens: tokens[-1] == free[1])
    scored = job([5, 6, 7], 3, Sampling(top_logprobs=2))
    plain = job([5, 6, 7], 3)
    ended, stopped, with_logprobs, without = run(worker, [ends, stops, scored, plain])
    cut = free.index(free[2])
    assert ended.tokens == free[:cut] and ended.finish == "stop"
    assert stopped.tokens == free[: free.index(free[1]) + 1] and stopped.finish == "stop"
    with torch.no_grad():
        reference = model(input_ids=torch.tensor([[5, 6, 7, *free[:3]]])).logits[0, 2:5].log_softmax(-1)
    assert with_logprobs.logprobs == pytest.approx([float(reference[n, t]) for n, t in enumerate(free[:3])], abs=1e-4)
    for n, (ids, values) in enumerate(with_logprobs.top):
        top = reference[n].topk(2)
        assert ids == top.indices.tolist() and values == pytest.approx(top.values.tolist(), abs=1e-4)
    assert without.logprobs == [] and without.top == []
    worker.close()


@pytest.mark.parametrize("mode", ["continuous", "static"])
def test_static_and_continuous_logprobs_agree(model, mode) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, mode=mode)
    prompt = [5, 6, 7]
    [only_chosen, top] = run(worker, [job(prompt, 4, Sampling(top_logprobs=0)), job(prompt, 4, Sampling(top_logprobs=3))])
    free = greedy(model, prompt, 4)
    assert len(free) == 4
    with torch.no_grad():
        reference = model(input_ids=torch.tensor([[*prompt, *free]])).logits[0, 2:6].log_softmax(-1)
    expected = [float(reference[n, t]) for n, t in enumerate(free)]
    assert only_chosen.tokens == free and only_chosen.logprobs == pytest.approx(expected, abs=1e-4)
    assert only_chosen.top == [] and len(top.top) == 4 and all(len(ids) == 3 for ids, _ in top.top)
    worker.close()


@pytest.mark.parametrize("mode", ["continuous", "static"])
def test_seeded_sampling_is_reproducible_and_per_request(model, mode) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, mode=mode)
    hot = Sampling(temperature=2.0, seed=7)
    [a] = run(worker, [job([5, 6], 10, hot)])
    [b] = run(worker, [job([5, 6], 10, hot)])
    [c] = run(worker, [job([5, 6], 10, Sampling(temperature=2.0, seed=8))])
    assert a.tokens == b.tokens != c.tokens
    assert a.tokens != greedy(model, [5, 6], 10)
    if mode == "continuous":  # each row its own generator, whatever shares its steps
        together = run(worker, [job([5, 6], 10, hot), job([5, 6], 10, hot), job([7], 10, Sampling(temperature=1.0))])
        assert together[0].tokens == together[1].tokens == a.tokens
    worker.close()


def test_sampling_warpers_follow_the_request() -> None:
    greedy_job = job([5], 2)
    _prepare_sampling(greedy_job, CPU)
    assert greedy_job._processors is None and greedy_job._generator is None
    full = job([5], 2, Sampling(temperature=0.5, top_p=0.9, top_k=4, seed=3))
    _prepare_sampling(full, CPU)
    assert [type(w) for w in full._processors or []] == [TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper]
    assert full._generator is not None
    assert full._generator.initial_seed() == 3
    plain = job([5], 2, Sampling(temperature=1.0, top_p=1.0), drawn_seed=11)
    _prepare_sampling(plain, CPU)
    assert list(plain._processors or []) == [] and plain._generator is not None
    assert plain._generator.initial_seed() == 11
    unseeded = job([5], 2, Sampling(temperature=1.0))
    _prepare_sampling(unseeded, CPU)
    assert unseeded._generator is None
    scores = torch.tensor([[1.0, 3.0, 2.0, 0.0, 5.0, 4.0]])
    warped = full._processors(None, scores.clone())  # type: ignore[misc, arg-type]
    kept = torch.isfinite(warped[0]).nonzero().flatten().tolist()
    assert kept == [4, 5]  # top 4 by score, then the nucleus of 0.9 at temperature 0.5


def test_groups_written_out() -> None:
    def lengths(groups):
        return [[len(j.prompt) for j in g] for g in groups]

    jobs = [job([5] * n, 1) for n in (40, 3, 10, 21, 22, 200, 70)]
    # sorted: 3, 10, 21, 22, 40, 70, 200; a group takes widths up to 2 * its shortest + 16
    assert lengths(_length_groups(jobs)) == [[3, 10, 21, 22], [40, 70], [200]]
    assert lengths(_length_groups([job([5] * 22, 1), job([5] * 3, 1)])) == [[3, 22]]
    assert lengths(_length_groups([job([5] * 23, 1), job([5] * 3, 1)])) == [[3], [23]]
    many = [job([5] * 4000, 1) for _ in range(5)]  # 16384 padded tokens at most per forward
    assert lengths(_length_groups(many)) == [[4000] * 4, [4000]]
    assert lengths(_length_groups([job([5] * 4096, 1) for _ in range(4)])) == [[4096] * 4]
    assert _similar_width(10, 84) and not _similar_width(10, 85) and _similar_width(85, 10) is False
    assert _similar_width(100, 264) and not _similar_width(265, 100)
    a, b = Sampling(), Sampling(temperature=1.0)
    mixed = [job([n], 1, s) for n, s in zip(range(5, 12), [a, b, a, a, b, a, a], strict=True)]
    assert [[j.prompt[0] for j in g] for g in _sampling_groups(mixed, 2)] == [[5, 7], [8, 10], [11], [6, 9]]


def test_left_padding_pads_the_named_dimension_on_the_left() -> None:
    t = torch.ones(2, 3, 4)
    assert _left_pad(t, 3, 1) is t
    padded = _left_pad(t, 5, -2)
    assert padded.shape == (2, 5, 4) and padded[:, :2].abs().sum() == 0 and padded[:, 2:].eq(1).all()
    mask = _left_pad(torch.ones(2, 2), 4, 1)
    assert mask.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1]]
    rows = _left_pad(torch.ones(2, 2), 3, 0)
    assert rows.tolist() == [[0, 0], [1, 1], [1, 1]]


def test_continuous_batching_needs_full_attention_everywhere() -> None:
    from types import SimpleNamespace as C

    assert supports_continuous(C(layer_types=["full_attention", "full_attention"]))
    assert not supports_continuous(C(layer_types=["full_attention", "sliding_attention"]))
    assert supports_continuous(C())
    assert not supports_continuous(C(sliding_window=4096))
    assert supports_continuous(C(sliding_window=None, is_encoder_decoder=False))
    assert not supports_continuous(C(is_encoder_decoder=True))


def test_futures_are_answered_once_and_cancelled_ones_are_left() -> None:
    answered: Future[int] = Future()
    _resolve(answered, 1)
    _resolve(answered, 2)
    _resolve(answered, exc=RuntimeError("late"))
    assert answered.result() == 1
    failed: Future[int] = Future()
    _resolve(failed, exc=KeyError("k"))
    with pytest.raises(KeyError):
        failed.result()
    cancelled: Future[int] = Future()
    cancelled.cancel()
    _resolve(cancelled, 3)
    assert cancelled.cancelled()
    settled: Future[int] = Future()
    _settle(settled, lambda: 4)
    assert settled.result() == 4
    raised: Future[int] = Future()
    _settle(raised, lambda: 1 // 0)
    assert isinstance(raised.exception(), ZeroDivisionError)


def test_calls_scores_and_failures(model) -> None:
    batches: list[list[int]] = []

    def score_batch(requests):
        batches.append(list(requests))
        if -1 in requests:
            raise ValueError("bad row")
        return [r * 10 for r in requests]

    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, max_batch=2, score_batch=score_batch)
    assert worker.call(lambda: threading.current_thread().name).result(timeout=30) == "organism-model"
    with paused(worker):
        futures = [worker.score(r) for r in (1, 2, 3)]
        skipped = worker.score(4)
        skipped.cancel()
    assert [f.result(timeout=30) for f in futures] == [10, 20, 30]
    assert batches == [[1, 2], [3]] and worker.stats.score_rows == [2, 1]
    with paused(worker):
        bad = [worker.score(r) for r in (5, -1)]
    for future in bad:
        with pytest.raises(ValueError, match="bad row"):
            future.result(timeout=30)
    failing = worker.call(lambda: 1 // 0)
    assert isinstance(failing.exception(timeout=30), ZeroDivisionError)
    assert not worker.busy
    worker.close()


def test_a_broken_forward_fails_its_rows_and_the_worker_goes_on(model) -> None:
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory")
        return model

    worker = ModelWorker(flaky, CPU, pad_token_id=0)
    [broken] = [worker.generate(job([5, 6], 3))]
    with pytest.raises(RuntimeError, match="out of memory"):
        broken.result(timeout=30)
    assert run(worker, [job([5, 6], 3)])[0].tokens == greedy(model, [5, 6], 3)
    worker.close()


def test_cancelled_requests_are_dropped_and_closing_fails_the_rest(model) -> None:
    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, max_batch=1)
    with paused(worker):
        running = worker.generate(job([5, 6], 40))
        cancelled = worker.generate(job([7], 40))
        cancelled.cancel()
        waiting = worker.generate(job([8], 40))
    while not worker.stats.decode_rows:
        threading.Event().wait(0.001)
    assert worker.busy
    running.cancel()
    assert waiting.result(timeout=60).tokens == greedy(model, [8], 40)
    assert worker.stats.prefill_rows == [1, 1]  # the cancelled one never ran
    with pytest.raises(CancelledError):
        cancelled.result()
    with paused(worker):  # closed with work running, waiting and not yet taken in
        busy = worker.generate(job([10], 40))
        queued = worker.generate(job([9], 40))
        score = worker.score(1)
        worker.close()
    for future in (busy, queued, score):
        with pytest.raises(RuntimeError, match="the organism engine was closed"):
            future.result(timeout=30)


def test_rows_are_routed_to_their_adapters_only_when_one_is_named(model) -> None:
    routes: list[list[str]] = []

    class Route:
        def __init__(self, names):
            routes.append(names)

        def __enter__(self):
            return None

        def __exit__(self, *exc):
            return False

    worker = ModelWorker(lambda: model, CPU, pad_token_id=0, route=Route)
    run(worker, [job([5], 1), job([6], 1)])
    assert routes == []
    run(worker, [job([5], 1, adapter="a"), job([6], 1)])
    assert routes == [["a", BASE_ADAPTER]]
    worker.close()
