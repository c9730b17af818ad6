"""Loaded base models shared by every organism on them, and their LoRA adapters.

One base is loaded per (weights, revision, dtype, device); each organism's LoRA is attached to
it as a named peft adapter and chosen per request (peft's mixed-adapter batches), so organisms
of one base share its memory and its batches. Bases and adapters are evicted, least recently
used first and never while a request holds them, to stay under a memory limit
(``AUDITGAME_ENGINE_MEMORY``, e.g. ``40GiB``; unset: no limit).

Resting state: no adapter is active, so a plain forward of ``base.model`` computes the base
model; requests pick their adapter with ``adapter_names`` and `SharedBase.scope` activates one
for a caller's own forward passes.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from auditgame.organism.batching import ModelWorker, supports_continuous

logger = logging.getLogger(__name__)

MEMORY_ENV = "AUDITGAME_ENGINE_MEMORY"

LOAD_LOCK = threading.RLock()
"""Held while weights load (``from_pretrained``) or an adapter's layers are built: transformers
sets process-wide state while it loads (default dtype, meta-device init), so two loads, or a
load and peft building layers, must not overlap in different threads."""
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(text: str) -> int:
    """``"40GiB"``, ``"500MB"`` or a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in _UNITS:
        raise ValueError(f"{MEMORY_ENV}: cannot read {text!r} as a size (e.g. 40GiB, 500MB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


class AttachError(ValueError):
    """An adapter could not be attached to its base (e.g. it targets modules the base lacks)."""


@dataclass(frozen=True)
class BaseKey:
    """What makes two organisms share loaded weights."""

    weights: str
    revision: str | None
    dtype: str
    device: str
    batching: str = "continuous"
    merged: tuple[str, str | None] | None = None
    """A private copy with this adapter merged in (``merge_adapter``): never shared."""


@dataclass(frozen=True)
class AdapterKey:
    location: str
    revision: str | None


@dataclass
class AdapterFiles:
    """A LoRA read from disk or the hub, ready to attach (reading happens outside the worker)."""

    config: Any
    weights: dict[str, torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.weights.values())


@dataclass
class _Resident:
    name: str
    nbytes: int
    last_used: float = field(default_factory=time.monotonic)
    holders: int = 0


def model_bytes(model: Any) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class SharedBase:
    """One loaded base model, its attached adapters and the worker that runs all its model work."""

    def __init__(self, key: BaseKey, model: Any, input_device: torch.device, max_batch: int,
                 score_batch: Callable[[SharedBase, list[Any]], list[Any]]) -> None:
        self.key = key
        self.model = model
        self.input_device = input_device
        self.resident = _Resident("base", model_bytes(model))
        self.adapters: dict[AdapterKey, _Resident] = {}
        continuous = key.batching == "continuous" and supports_continuous(model.config)
        mode = "continuous" if continuous else "static"
        pad = getattr(model.config, "pad_token_id", None)
        self.worker = ModelWorker(
            lambda: self.model, input_device, pad if isinstance(pad, int) else 0, max_batch, mode,
            name=os.path.basename(key.weights.rstrip("/")),
            score_batch=lambda requests: score_batch(self, requests),
            route=self.route,
        )
        self._names = 0
        self._routing: list[str] | None = None

    @property
    def nbytes(self) -> int:
        return self.resident.nbytes + sum(a.nbytes for a in self.adapters.values())

    @property
    def held(self) -> bool:
        return self.resident.holders > 0 or self.worker.busy

    # ------------------------------------------------------------------ adapters (worker thread)
    def attach(self, key: AdapterKey, files: AdapterFiles) -> str:
        """Attach a LoRA as a new named adapter (runs in the worker, between decode steps)."""
        from peft import PeftModel, set_peft_model_state_dict

        self._names += 1
        name = f"adapter_{self._names}"
        files.config.inference_mode = True
        with LOAD_LOCK:
            if isinstance(self.model, PeftModel):
                self.model.add_adapter(name, files.config)
            else:
                self.model = PeftModel(self.model, files.config, adapter_name=name)
        result = set_peft_model_state_dict(self.model, files.weights, adapter_name=name)
        missing = [k for k in result.missing_keys if name in k]
        if missing:
            self.model.delete_adapter(name)
            raise ValueError(f"adapter {key.location}: no weights for {', '.join(missing[:3])}")
        self.model.eval()
        _activate(self.model, [])
        self._route_layers()
        self.adapters[key] = _Resident(name, files.nbytes)
        return name

    @contextmanager
    def route(self, names: list[str]) -> Iterator[None]:
        """Forward passes inside send row ``i`` through adapter ``names[i]`` (peft's mixed
        batches; ``__base__``: no adapter). Hooks registered once per LoRA layer pass the names
        on, instead of peft registering them on every module at every forward."""
        self._routing = names
        try:
            yield
        finally:
            self._routing = None

    def _route_layers(self) -> None:
        from peft.tuners.lora import LoraLayer
        from peft.utils.other import AuxiliaryTrainingWrapper

        def pass_names(_module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            if self._routing is not None:
                kwargs["adapter_names"] = self._routing
            return args, kwargs

        for module in self.model.modules():
            if isinstance(module, LoraLayer | AuxiliaryTrainingWrapper) and not getattr(
                module, "_routed_by_pool", False
            ):
                module.register_forward_pre_hook(pass_names, with_kwargs=True)
                module._routed_by_pool = True

    def detach(self, key: AdapterKey) -> None:
        resident = self.adapters.pop(key)
        self.model.delete_adapter(resident.name)
        if not self.model.peft_config:  # the last one: back to the plain model
            self.model = self.model.unload()
            return
        self.model.active_adapter = next(iter(self.model.peft_config))  # peft wants one named
        _activate(self.model, [])

    @contextmanager
    def scope(self, adapter: str | None) -> Iterator[Any]:
        """The model with ``adapter`` active (``None``: the base), for the caller's own forward
        passes; holds the worker's lock, so no request runs meanwhile."""
        with self.worker.lock:
            _activate(self.model, [adapter] if adapter else [])
            try:
                yield self.model
            finally:
                _activate(self.model, [])

    def close(self) -> None:
        self.worker.close()
        self.model = None


def _activate(model: Any, adapters: list[str]) -> None:
    """Set the active adapters of every peft layer ([]: none, the base model)."""
    from peft import PeftModel
    from peft.tuners.tuners_utils import BaseTunerLayer

    if not isinstance(model, PeftModel):
        if adapters:
            raise ValueError("no adapter is attached to this model")
        return
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.set_adapter(adapters, inference_mode=True)


class EnginePool:
    """Loaded bases and adapters of this process, under an optional memory limit."""

    def __init__(self, memory_limit: int | None = None) -> None:
        self.memory_limit = memory_limit
        self.bases: dict[BaseKey, SharedBase] = {}
        self._lock = threading.RLock()
        self._loading: dict[Any, threading.Lock] = {}
        self.evictions: list[str] = []
        """What was evicted, in order (for tests and logs)."""

    @property
    def resident_bytes(self) -> int:
        return sum(b.nbytes for b in self.bases.values())

    def _key_lock(self, key: Any) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(key, threading.Lock())

    # ------------------------------------------------------------------ acquiring
    def acquire(self, key: BaseKey, load: Callable[[], SharedBase], adapter: AdapterKey | None,
                read_adapter: Callable[[], AdapterFiles] | None, estimate: int = 0) -> tuple[SharedBase, str | None]:
        """The loaded base and the adapter's name on it, loading what is missing; both are held
        (not evictable) until `release`."""
        base = self._base(key, load, estimate)
        if adapter is None:
            return base, None
        with self._lock:
            resident = base.adapters.get(adapter)
            if resident is not None:
                resident.holders += 1
                resident.last_used = time.monotonic()
                return base, resident.name
        with self._key_lock((key, adapter)):
            with self._lock:
                resident = base.adapters.get(adapter)
            if resident is None:
                assert read_adapter is not None
                files = read_adapter()  # disk or hub reads happen here, outside the worker
                self._make_room(files.nbytes, keep=base)
                try:
                    base.worker.call(lambda: base.attach(adapter, files)).result()
                except Exception as exc:
                    raise AttachError(f"{type(exc).__name__}: {exc}") from exc
            with self._lock:
                resident = base.adapters[adapter]
                resident.holders += 1
                resident.last_used = time.monotonic()
                return base, resident.name

    def _base(self, key: BaseKey, load: Callable[[], SharedBase], estimate: int) -> SharedBase:
        with self._lock:
            base = self.bases.get(key)
            if base is not None:
                base.resident.holders += 1
                base.resident.last_used = time.monotonic()
                return base
        with self._key_lock(key):
            with self._lock:
                base = self.bases.get(key)
            if base is None:
                self._make_room(estimate)
                base = load()
                with self._lock:
                    self.bases[key] = base
                self._make_room(0, keep=base)
            with self._lock:
                base.resident.holders += 1
                base.resident.last_used = time.monotonic()
                return base

    def release(self, base: SharedBase, adapter: AdapterKey | None) -> None:
        with self._lock:
            base.resident.holders -= 1
            base.resident.last_used = time.monotonic()
            if adapter is not None and adapter in base.adapters:
                resident = base.adapters[adapter]
                resident.holders -= 1
                resident.last_used = time.monotonic()

    # ------------------------------------------------------------------ eviction
    def _make_room(self, needed: int, keep: SharedBase | None = None) -> None:
        """Evict idle adapters and bases, least recently used first, until ``needed`` more bytes
        fit under the limit (a limit smaller than what is in use is exceeded, with a warning)."""
        if self.memory_limit is None:
            return
        while self.resident_bytes + needed > self.memory_limit:
            victim = self._least_recent_idle(keep)
            if victim is None:
                logger.warning(
                    "organism engines use %.2f GB (+%.2f GB to load) over the limit of %.2f GB; "
                    "nothing idle to evict", self.resident_bytes / 1e9, needed / 1e9, self.memory_limit / 1e9)
                return
            base, adapter = victim
            if adapter is None:
                with self._lock:
                    del self.bases[base.key]
                base.close()
                self.evictions.append(f"base {base.key.weights}")
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            else:
                base.worker.call(lambda b=base, a=adapter: b.detach(a)).result()
                self.evictions.append(f"adapter {adapter.location}")

    def _least_recent_idle(self, keep: SharedBase | None) -> tuple[SharedBase, AdapterKey | None] | None:
        with self._lock:
            candidates: list[tuple[float, SharedBase, AdapterKey | None]] = []
            for base in self.bases.values():
                for key, resident in base.adapters.items():
                    if resident.holders == 0:
                        candidates.append((resident.last_used, base, key))
                if base is not keep and not base.held and all(a.holders == 0 for a in base.adapters.values()):
                    candidates.append((base.resident.last_used, base, None))
            if not candidates:
                return None
            _, base, key = min(candidates, key=lambda c: c[0])
            return base, key


_pool: EnginePool | None = None


def shared_pool() -> EnginePool:
    """The process's pool (created on first use, reading ``AUDITGAME_ENGINE_MEMORY``)."""
    global _pool
    if _pool is None:
        env = os.environ.get(MEMORY_ENV)
        _pool = EnginePool(parse_bytes(env) if env else None)
    return _pool


def set_memory_limit(limit: int | str | None) -> None:
    """Set the shared pool's limit (bytes, or a size such as ``"40GiB"``; None: no limit)."""
    shared_pool().memory_limit = parse_bytes(limit) if isinstance(limit, str) else limit
    shared_pool()._make_room(0)
