"""Shared bases and their adapters on models of a few thousand weights built in the test: sizes,
adapters attached, routed per row and scoped against peft's merged copies, loading once, and
eviction under a memory limit, least recently used first and never while held."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from tiny_weights import lora_adapter, merged, tiny_lm

from auditgame.organism import pool as pool_module
from auditgame.organism.pool import (
    AdapterFiles,
    AdapterKey,
    AttachError,
    BaseKey,
    EnginePool,
    SharedBase,
    _activate,
    model_bytes,
    parse_bytes,
    set_memory_limit,
    shared_pool,
)

CPU = torch.device("cpu")
IDS = torch.tensor([[5, 6, 7, 8]])


def read(folder: Path) -> AdapterFiles:
    from peft import PeftConfig
    from peft.utils import load_peft_weights

    return AdapterFiles(PeftConfig.from_pretrained(str(folder)), load_peft_weights(str(folder), device="cpu"))


def base(model=None, weights: str = "/models/base/", batching: str = "continuous") -> SharedBase:
    return SharedBase(BaseKey(weights, None, "float32", "cpu", batching), model or tiny_lm(), CPU, 4,
                      lambda shared, items: [])


def logits(model, ids=IDS) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def lora(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pool")
    model = tiny_lm(seed=6)
    first, second = lora_adapter(model, root / "a", seed=1), lora_adapter(model, root / "b", seed=2)
    return model, first, second


def test_sizes_are_read_as_written() -> None:
    assert parse_bytes("40GiB") == 40 * 2**30
    assert parse_bytes("500MB") == 500 * 10**6
    assert parse_bytes(" 1.5 kb ") == 1500
    assert parse_bytes("123") == 123 and parse_bytes("7B") == 7
    assert parse_bytes("2TiB") == 2 * 2**40 and parse_bytes("3 mib") == 3 * 2**20 and parse_bytes("1TB") == 10**12
    assert parse_bytes("1GB") == 10**9 and parse_bytes("2KiB") == 2048
    assert parse_bytes(".5KB") == 500 and parse_bytes("2.GB") == 2 * 10**9
    for bad in ("lots", "5 XB", "", "1.5.5GB", "GB", ".", "1 2GB"):
        with pytest.raises(ValueError, match=rf"AUDITGAME_ENGINE_MEMORY: cannot read {bad!r} as a size \(e.g. 40GiB, 500MB\)"):
            parse_bytes(bad)


def test_bytes_of_a_model_and_of_adapter_weights() -> None:
    module = torch.nn.Linear(3, 2)  # 6 weights + 2 biases in float32
    module.register_buffer("table", torch.zeros(5, dtype=torch.float16))
    assert model_bytes(module) == 8 * 4 + 5 * 2
    files = AdapterFiles(None, {"a": torch.zeros(2, 3), "b": torch.zeros(4, dtype=torch.float16)})
    assert files.nbytes == 24 + 8


def test_a_base_picks_its_batching_padding_and_worker_name() -> None:
    shared = base()
    assert shared.worker.mode == "continuous" and shared.worker.pad_token_id == 0
    assert shared.worker._thread.name == "organism-base"
    assert shared.nbytes == model_bytes(shared.model) and not shared.held
    shared.close()
    assert shared.model is None
    assert base(batching="static").worker.mode == "static"
    assert base(tiny_lm(sliding_window=4, layer_types=["sliding_attention"] * 2)).worker.mode == "static"
    assert base(tiny_lm(pad_token_id=2)).worker.pad_token_id == 2


def test_adapters_are_attached_routed_per_row_scoped_and_detached(lora) -> None:
    from peft import PeftModel

    model, first, second = lora
    plain = logits(model)
    shared = base(tiny_lm(seed=6))
    one, two = AdapterKey(str(first), None), AdapterKey(str(second), "r")
    a = shared.worker.call(lambda: shared.attach(one, read(first))).result(timeout=30)
    b = shared.worker.call(lambda: shared.attach(two, read(second))).result(timeout=30)
    assert (a, b) == ("adapter_1", "adapter_2") and isinstance(shared.model, PeftModel)
    assert shared.adapters[one].name == a and shared.adapters[one].nbytes == read(first).nbytes
    assert shared.nbytes == model_bytes(model) + read(first).nbytes + read(second).nbytes
    assert torch.allclose(logits(shared.model), plain, atol=1e-5)  # at rest: the base
    with shared.scope(b) as scoped:
        assert torch.allclose(logits(scoped), logits(merged(model, second)), atol=1e-4)
    with shared.scope(None) as scoped:
        assert torch.allclose(logits(scoped), plain, atol=1e-5)
    assert torch.allclose(logits(shared.model), plain, atol=1e-5)  # back at rest
    rows = torch.tensor([[5, 6, 7, 8], [5, 6, 7, 8], [5, 6, 7, 8]])
    with torch.no_grad():
        mixed = shared.worker.forward([a, None, b], input_ids=rows).logits
    assert torch.allclose(mixed[0], logits(merged(model, first))[0], atol=1e-4)
    assert torch.allclose(mixed[1], plain[0], atol=1e-5)
    assert torch.allclose(mixed[2], logits(merged(model, second))[0], atol=1e-4)
    shared.worker.call(lambda: shared.detach(one)).result(timeout=30)
    assert list(shared.adapters) == [two] and isinstance(shared.model, PeftModel)
    assert torch.allclose(logits(shared.model), plain, atol=1e-5)
    with shared.scope(b) as scoped:
        assert torch.allclose(logits(scoped), logits(merged(model, second)), atol=1e-4)
    shared.worker.call(lambda: shared.detach(two)).result(timeout=30)
    assert not isinstance(shared.model, PeftModel) and shared.adapters == {}
    assert torch.allclose(logits(shared.model), plain, atol=1e-5)
    with pytest.raises(ValueError, match="no adapter is attached to this model"):
        _activate(shared.model, ["adapter_1"])
    _activate(shared.model, [])  # nothing to do on a plain model
    shared.close()


def test_an_adapter_without_weights_for_its_layers_is_refused(lora) -> None:
    _, first, _ = lora
    shared = base(tiny_lm(seed=6))
    files = read(first)
    files.weights = {k: v for k, v in files.weights.items() if "q_proj" not in k}
    with pytest.raises(ValueError, match=rf"adapter {first}: no weights for .*q_proj"):
        shared.worker.call(lambda: shared.attach(AdapterKey(str(first), None), files)).result(timeout=30)
    assert "adapter_1" not in shared.model.peft_config and shared.adapters == {}
    shared.close()


def test_a_pool_loads_once_holds_and_releases(lora) -> None:
    _, first, _ = lora
    pool = EnginePool()
    key, adapter = BaseKey("/models/x", None, "float32", "cpu"), AdapterKey(str(first), None)
    loads, reads = [], []

    def load():
        loads.append(1)
        return base(tiny_lm(seed=6), "/models/x")

    def read_once():
        reads.append(1)
        return read(first)

    shared, name = pool.acquire(key, load, adapter, read_once)
    again, same = pool.acquire(key, load, adapter, read_once)
    bare, none = pool.acquire(key, load, None, None)
    assert again is shared is bare and name == same == "adapter_1" and none is None
    assert loads == [1] and reads == [1]
    assert shared.resident.holders == 3 and shared.adapters[adapter].holders == 2 and shared.held
    pool.release(shared, adapter)
    pool.release(shared, None)
    assert shared.resident.holders == 1 and shared.adapters[adapter].holders == 1
    pool.release(shared, AdapterKey("/never/attached", None))  # only the base is released
    assert shared.resident.holders == 0 and shared.adapters[adapter].holders == 1
    assert pool.resident_bytes == shared.nbytes
    for base_ in pool.bases.values():
        base_.close()


def test_an_attach_failure_is_an_attach_error(lora, tmp_path: Path) -> None:
    _, first, _ = lora
    pool = EnginePool()
    key = BaseKey("/models/x", None, "float32", "cpu")
    files = read(first)
    files.config.target_modules = {"no_such_module"}
    with pytest.raises(AttachError, match=r"^\w+Error: Target modules \{'no_such_module'\} not found") as failed:
        pool.acquire(key, lambda: base(tiny_lm(seed=6), "/models/x"), AdapterKey("/a", None), lambda: files)
    assert type(failed.value.__cause__).__name__ in str(failed.value)
    for shared in pool.bases.values():
        shared.close()


def test_idle_bases_and_adapters_are_evicted_least_recently_used_first(lora, caplog) -> None:
    _, first, second = lora
    size = model_bytes(tiny_lm())
    adapter_size = read(first).nbytes
    pool = EnginePool(memory_limit=2 * size + adapter_size)
    keys = [BaseKey(f"/models/{n}", None, "float32", "cpu") for n in "abc"]

    def loader(n: int):
        return lambda: base(tiny_lm(seed=6), keys[n].weights)

    a, _ = pool.acquire(keys[0], loader(0), None, None, estimate=size)
    lora_key = AdapterKey(str(first), None)
    b, _ = pool.acquire(keys[1], loader(1), lora_key, lambda: read(first), estimate=size)
    pool.acquire(keys[1], loader(1), None, None)
    assert pool.evictions == [] and pool.resident_bytes == 2 * size + adapter_size
    pool.release(a, None)
    pool.release(b, lora_key)  # b stays held, its adapter is idle
    pool.acquire(keys[0], loader(0), None, None)  # a is more recently used than the adapter now
    pool.release(a, None)
    c, _ = pool.acquire(keys[2], loader(2), None, None, estimate=size)
    assert pool.evictions == [f"adapter {first}", "base /models/a"]  # the adapter first, then a
    assert set(pool.bases) == {keys[1], keys[2]} and a.model is None and b.model is not None
    assert b.adapters == {} and pool.resident_bytes == 2 * size
    # everything held: the limit is exceeded with a warning, nothing evicted
    with caplog.at_level(logging.WARNING):
        pool.acquire(keys[0], loader(0), None, None, estimate=size)
    assert "over the limit" in caplog.text and "nothing idle to evict" in caplog.text
    assert len(pool.bases) == 3 and len(pool.evictions) == 2
    pool.release(c, None)
    pool._make_room(0)  # c is idle now: the least recently used idle base goes
    assert pool.evictions[-1] == "base /models/c" and len(pool.bases) == 2
    unlimited = EnginePool()
    unlimited._make_room(10**15)  # no limit: nothing to do
    for shared in list(pool.bases.values()):
        shared.close()


def test_the_shared_pool_reads_its_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.setattr(pool_module, "_pool", None)
    monkeypatch.setenv("AUDITGAME_ENGINE_MEMORY", "1KiB")
    assert shared_pool().memory_limit == 1024 and shared_pool() is shared_pool()
    set_memory_limit("2KB")
    assert shared_pool().memory_limit == 2000
    set_memory_limit(5)
    assert shared_pool().memory_limit == 5
    set_memory_limit(None)
    assert shared_pool().memory_limit is None
    monkeypatch.setattr(pool_module, "_pool", None)
    monkeypatch.delenv("AUDITGAME_ENGINE_MEMORY")
    assert shared_pool().memory_limit is None
    monkeypatch.setattr(pool_module, "_pool", None)
