"""Checks that organisms can be served, run when a task is created and before any model loads.

Only cheap checks: local paths, ``config.json`` and ``adapter_config.json``, safetensors headers,
and for a hub id whether the local Hugging Face cache holds it or, when it does not, whether the
hub knows it (one request, no retries; none under ``HF_HUB_OFFLINE``). A prompted organism's
``prompted_model`` must name an Inspect provider, or another organism without a loop. Every
problem is one line naming the card file, the field and what to do.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from auditgame.cards import CardError, Organism

if TYPE_CHECKING:
    from auditgame.registry import Registry

Kind = Literal["model", "adapter", "tokenizer"]

HUB_TIMEOUT_S = 10.0
"""One request per hub id, this long at most, and no retries."""
MAX_LISTED = 12
"""Problems listed in one error; the rest are counted."""

MARKERS: dict[Kind, tuple[str, ...]] = {
    "model": ("config.json",),
    "adapter": ("adapter_config.json",),
    "tokenizer": ("tokenizer_config.json", "tokenizer.json"),
}
WEIGHT_FILES: dict[Kind, tuple[str, ...]] = {
    "model": (
        "model.safetensors.index.json",
        "model.safetensors",
        "pytorch_model.bin.index.json",
        "pytorch_model.bin",
    ),
    "adapter": ("adapter_model.safetensors", "adapter_model.bin"),
    "tokenizer": (),
}


@dataclass(frozen=True)
class Location:
    """One model, adapter or tokenizer a card names."""

    field: str
    location: str
    resolved: str
    """An absolute path for local locations, else the hub id."""
    revision: str | None
    kind: Kind

    @property
    def is_local(self) -> bool:
        return self.resolved.startswith("/")


def locations(card: Organism) -> list[Location]:
    """The model, adapter and tokenizer locations a local card loads."""
    spec = card.model
    if spec is None:
        return []
    named: list[tuple[str, str | None, str | None, Kind]] = [
        ("model.weights", spec.weights, spec.weights_revision, "model")
        if spec.weights
        else ("model.base", spec.base, spec.revision, "model"),
        ("model.adapter", spec.adapter, spec.adapter_revision, "adapter"),
        ("model.tokenizer", spec.tokenizer, spec.weights_rev, "tokenizer"),
    ]
    return [
        Location(field, location, card.resolve_path(location) or location, revision, kind)
        for field, location, revision, kind in named
        if location
    ]


# ---------------------------------------------------------------- local folders
def _json_problem(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path} cannot be read ({exc})"
    except json.JSONDecodeError as exc:
        return None, f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})"


def weight_file_problem(path: Path) -> str | None:
    """A safetensors file whose header does not parse or does not cover the file, or a torch
    checkpoint that is not a complete zip archive."""
    if not path.is_file():
        return f"{path} is missing"
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy"):
                return None
        except (SafetensorError, OSError) as exc:
            return f"{path} is corrupt or truncated ({exc})"
    if path.suffix == ".bin" and not zipfile.is_zipfile(path):
        return f"{path} is corrupt or truncated (not a complete torch checkpoint)"
    return None


def _adapter_config_problem(config: Any, path: Path) -> str | None:
    if not isinstance(config, dict) or "peft_type" not in config:
        return f"{path} is not a peft adapter config (no 'peft_type')"
    if config["peft_type"] == "LORA":
        rank = config.get("r")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            return f"{path}: LoRA rank 'r' must be a positive integer (got {rank!r})"
    return None


def folder_problem(folder: Path, kind: Kind) -> str | None:
    """What is wrong with a local model, adapter or tokenizer folder, or None."""
    if not folder.exists():
        return f"local path {folder} does not exist"
    if kind == "tokenizer":
        return None if folder.is_dir() else f"{folder} is not a folder"
    marker = folder / MARKERS[kind][0]
    if not marker.is_file():
        what = "model" if kind == "model" else "peft adapter"
        return f"{folder} is not a {what} folder (no {marker.name} in it)"
    config, problem = _json_problem(marker)
    if problem:
        return problem
    if kind == "adapter":
        problem = _adapter_config_problem(config, marker)
    elif not isinstance(config, dict):
        problem = f"{marker} is not a JSON object"
    return problem or _weights_problem(folder, kind)


def _weights_problem(folder: Path, kind: Kind) -> str | None:
    present = [name for name in WEIGHT_FILES[kind] if (folder / name).is_file()]
    if not present:
        return f"{folder} holds no weights (none of {', '.join(WEIGHT_FILES[kind])})"
    name = present[0]
    if not name.endswith(".index.json"):
        return weight_file_problem(folder / name)
    index, problem = _json_problem(folder / name)
    if problem:
        return problem
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        return f"{folder / name} has no 'weight_map'"
    for shard in sorted(set(weight_map.values())):
        problem = weight_file_problem(folder / shard)
        if problem:
            return f"{problem} (a shard listed in {name})"
    return None


# ---------------------------------------------------------------- the hub
def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_cache() -> str:
    """The Hugging Face cache folder, as set in the environment now."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return constants.HF_HUB_CACHE


def cached_folder(repo: str, revision: str | None, kind: Kind) -> Path | None:
    """The cached snapshot of a hub repo when it holds everything ``kind`` needs, else None."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> Path | None:
        found = try_to_load_from_cache(repo, name, cache_dir=hub_cache(), revision=revision)
        return Path(found) if isinstance(found, str) else None

    marker = next((p for p in map(cached, MARKERS[kind]) if p), None)
    if marker is None:
        return None
    if not WEIGHT_FILES[kind]:
        return marker.parent
    for name in WEIGHT_FILES[kind]:
        weights = cached(name)
        if weights is None:
            continue
        if not name.endswith(".index.json"):
            return marker.parent
        index, problem = _json_problem(weights)
        shards = set((index or {}).get("weight_map", {}).values()) if not problem else set()
        if shards and all(cached(shard) for shard in shards):
            return marker.parent
        return None
    return None


def _download_hint(repo: str) -> str:
    return (
        f"download it where the hub is reachable (`hf download {repo}`) and run with "
        "HF_HUB_OFFLINE=1, or point the field at a local folder"
    )


@lru_cache(maxsize=512)
def _hub_problem(
    repo: str, revision: str | None, kind: Kind, offline: bool, cache: str
) -> str | None:
    folder = cached_folder(repo, revision, kind)
    if folder is not None:
        return folder_problem(folder, kind)
    at = f" at revision '{revision}'" if revision else ""
    if offline:
        return (
            f"hub id '{repo}'{at} is not in the local Hugging Face cache ({cache}) and "
            f"HF_HUB_OFFLINE is set: download it into that cache (`hf download {repo}`) or "
            "point the field at a local folder"
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().model_info(repo, revision=revision, timeout=HUB_TIMEOUT_S)
    except RevisionNotFoundError:
        return f"hub id '{repo}' has no revision '{revision}'"
    except RepositoryNotFoundError:
        return (
            f"hub id '{repo}' does not exist on the Hugging Face hub (or is private: log in "
            "with `hf auth login`); check the spelling or point the field at a local folder"
        )
    except Exception as exc:  # no network, DNS, proxy, timeout, server error
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return (
            f"hub id '{repo}'{at} is not in the local Hugging Face cache and the hub is "
            f"unreachable ({reason}): {_download_hint(repo)}"
        )
    names = {s.rfilename for s in info.siblings or []}
    if names and not names & set(MARKERS[kind]):
        what = "model" if kind == "model" else "peft adapter" if kind == "adapter" else "tokenizer"
        return f"hub id '{repo}' is not a {what} (no {MARKERS[kind][0]} in it)"
    return None


def location_problem(location: Location) -> str | None:
    if location.is_local:
        return folder_problem(Path(location.resolved), location.kind)
    return _hub_problem(
        location.resolved, location.revision, location.kind, hub_offline(), hub_cache()
    )


def local_folder(location: Location) -> Path | None:
    """Where a location's files are on this machine (a local folder or a complete cache)."""
    if location.is_local:
        return Path(location.resolved)
    return cached_folder(location.resolved, location.revision, location.kind)


# ---------------------------------------------------------------- prompted organisms
def known_providers() -> list[str]:
    from inspect_ai._util.entrypoints import ensure_entry_points
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    ensure_entry_points()
    return sorted(
        registry_unqualified_name(i) for i in registry_find(lambda i: i.type == "modelapi")
    )


def _prompted_problems(card: Organism, registry: Registry, chain: tuple[str, ...]) -> list[str]:
    import difflib

    name = card.prompted_model
    assert name is not None
    provider, _, model = name.partition("/")
    if not model:
        return [f"'{name}' is not an Inspect model name (<provider>/<model>)"]
    if provider != "organism":
        providers = known_providers()
        if provider in providers:
            return []
        close = difflib.get_close_matches(provider, providers, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(providers)}"
        return [f"'{name}' names no Inspect model provider '{provider}' ({hint})"]
    if model in chain:
        loop = " -> ".join(f"organism/{i}" for i in (*chain, model))
        return [f"'{name}' makes a loop of prompted organisms ({loop})"]
    try:
        played_by = registry.get(model, check_files=False)
    except CardError as exc:
        return [f"'{name}': {exc}"]
    return [f"'{name}' -> {line}" for line in card_problems(played_by, registry, (*chain, model))]


# ---------------------------------------------------------------- cards
def _where(card: Organism) -> str:
    return str(card.card_path) if card.card_path else f"organism '{card.id}'"


def _lines(card: Organism, problems: list[tuple[str, str]]) -> list[str]:
    return [f"{_where(card)}: field '{field}': {problem}" for field, problem in problems]


def local_problems(card: Organism) -> list[str]:
    """Problems with the local files a card names (no hub, no registry)."""
    problems: list[tuple[str, str]] = []
    template = card.resolve_path(card.chat.template)
    if template and not Path(template).is_file():
        problems.append(("chat.template", f"chat template file {template} does not exist"))
    for location in locations(card):
        problem = (
            folder_problem(Path(location.resolved), location.kind) if location.is_local else None
        )
        if problem:
            problems.append((location.field, problem))
    return _lines(card, problems)


def card_problems(card: Organism, registry: Registry, chain: tuple[str, ...] = ()) -> list[str]:
    """Every problem found with one card, each as ``<card file>: field '<f>': <problem>``."""
    chain = chain or (card.id,)
    problems: list[tuple[str, str]] = []
    if card.prompted_model:
        problems += [("prompted_model", p) for p in _prompted_problems(card, registry, chain)]
    for location in locations(card):
        problem = None if location.is_local else location_problem(location)
        if problem:
            problems.append((location.field, problem))
    return local_problems(card) + _lines(card, problems)


def check_organisms(cards: Sequence[Organism], registry: Registry | None = None) -> None:
    """Raise one `CardError` listing every problem that would stop these organisms loading."""
    from auditgame.registry import registry as current_registry

    chosen = registry or current_registry()
    unique = list({c.id: c for c in cards}.values())
    with ThreadPoolExecutor(max_workers=8) as pool:  # hub requests overlap
        found = [
            p for problems in pool.map(lambda c: card_problems(c, chosen), unique) for p in problems
        ]
    if not found:
        return
    listed = found[:MAX_LISTED]
    if len(found) > MAX_LISTED:
        listed.append(f"... and {len(found) - MAX_LISTED} more")
    if len(listed) == 1:
        raise CardError(f"cannot serve organism: {listed[0]}")
    raise CardError("cannot serve these organisms:\n  " + "\n  ".join(listed))


def with_baselines(cards: Sequence[Organism], registry: Registry) -> list[Organism]:
    """The cards followed by their baselines (an unknown baseline names the card and field)."""
    found = list(cards)
    for card in cards:
        if card.baseline:
            try:
                found.append(registry.get(card.baseline, check_files=False))
            except CardError as exc:
                raise CardError(f"{_where(card)}: field 'baseline': {exc}") from None
    return found


def check_targets(cards: Sequence[Organism], baselines: bool = False) -> None:
    """`check_organisms` for a task's targets (and their baselines when it serves them), then
    registers them as the run's organisms (a vLLM server is sized for all on its base). Skipped
    when a ``target`` model role replaces them (they are then never loaded)."""
    from inspect_ai.model._model import model_roles

    from auditgame.organism.vllm import plan
    from auditgame.registry import registry

    if "target" not in model_roles():
        current = registry()
        targets = with_baselines(cards, current) if baselines else list(cards)
        check_organisms(targets, current)
        plan(targets)


@contextmanager
def load_errors_named(card: Organism, field: str, location: str | None) -> Iterator[None]:
    """Turn an error while loading ``location`` into a `CardError` naming the card and field."""
    try:
        yield
    except CardError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise CardError(
            f"{_where(card)}: field '{field}': cannot load {location} "
            f"({type(exc).__name__}: {first})"
        ) from exc
