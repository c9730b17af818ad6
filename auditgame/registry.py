"""The organism registry: built-in cards plus the user's own card folders.

Cards are files named ``*.card.yaml``. Built-in cards ship in ``auditgame.organisms``; user
folders come from ``AUDITGAME_ORGANISMS`` (``os.pathsep``-separated) or ``extra_dirs``. A
user card with the id of a built-in one replaces it; two user cards with one id are an error.
A YAML file that looks like a card but lacks the suffix is reported, not read.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from auditgame.cards import CardError, Organism, load_card

CARD_SUFFIX = ".card.yaml"
ENV_VAR = "AUDITGAME_ORGANISMS"

logger = logging.getLogger(__name__)

_CARD_ID_LINE = re.compile(r"^id:\s*['\"]?([a-z0-9][a-z0-9._-]*)", re.MULTILINE)
_CARD_KEY_LINE = re.compile(r"^(model|prompted_model|quirk):", re.MULTILINE)

AUTOMATIC_SUITES = {
    "controls": lambda o: o.control,
    "prompted": lambda o: o.prompted_model is not None,
    "local": lambda o: o.model is not None,
    "all": lambda o: True,
}
"""Suites every registry has, computed from the cards."""


def builtin_dir() -> Path:
    return Path(str(files("auditgame.organisms")))


def user_dirs(extra_dirs: Iterable[str | Path] = ()) -> list[Path]:
    env = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in [*env, *extra_dirs]]


def misnamed_card_id(path: Path) -> str | None:
    """The id of a YAML file that looks like an organism card but is not named ``*.card.yaml``."""
    if path.name.endswith(CARD_SUFFIX) or not path.name.endswith((".yaml", ".yml")):
        return None
    try:
        with path.open("rb") as stream:
            head = stream.read(64 * 1024).decode("utf-8", errors="replace")
    except OSError:
        return None
    found = _CARD_ID_LINE.search(head)
    return found.group(1) if found and _CARD_KEY_LINE.search(head) else None


def _cards_in(folder: Path) -> tuple[dict[str, Organism], dict[str, Path]]:
    """The cards in ``folder`` and, by id, the card-like files ignored for their name."""
    if not folder.is_dir():
        raise CardError(f"organism folder {folder} does not exist (from {ENV_VAR} or --organisms)")
    found: dict[str, Organism] = {}
    misnamed: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*.y*ml") if p.is_file()):
        if not path.name.endswith(CARD_SUFFIX):
            organism_id = misnamed_card_id(path)
            if organism_id:
                misnamed.setdefault(organism_id, path)
                logger.warning(
                    "%s looks like an organism card but is not read: card files end in '%s' "
                    "(rename it to %s%s)", path, CARD_SUFFIX, organism_id, CARD_SUFFIX,
                )
            continue
        card = load_card(path)
        if card.id in found:
            raise CardError(
                f"{path}: field 'id': '{card.id}' is already used by {found[card.id].card_path}"
            )
        found[card.id] = card
    return found, misnamed


class Registry:
    """All organisms known in this process, by id and by suite."""

    def __init__(self, folders: Sequence[Path]):
        self.folders = list(dict.fromkeys(Path(f).resolve() for f in folders))
        self._cards: dict[str, Organism] = {}
        self._misnamed: dict[str, Path] = {}
        builtin = builtin_dir().resolve()
        for folder in self.folders:
            cards, misnamed = _cards_in(folder)
            for organism_id, card in cards.items():
                earlier = self._cards.get(organism_id)
                if (
                    earlier is not None
                    and earlier.card_path != card.card_path
                    and folder != builtin
                    and not _is_in(earlier, builtin)
                ):
                    raise CardError(
                        f"{card.card_path}: field 'id': '{organism_id}' is also the id of "
                        f"{earlier.card_path} (two organism folders define it; rename one)"
                    )
            self._cards.update(cards)
            for organism_id, path in misnamed.items():
                self._misnamed.setdefault(organism_id, path)

    def ids(self) -> list[str]:
        return sorted(self._cards)

    def all(self) -> list[Organism]:
        return [self._cards[i] for i in self.ids()]

    def suites(self) -> dict[str, list[str]]:
        named: dict[str, list[str]] = {}
        for card in self.all():
            for suite in card.suites:
                named.setdefault(suite, []).append(card.id)
        for suite, member in AUTOMATIC_SUITES.items():
            listed = named.setdefault(suite, [])
            listed += [c.id for c in self.all() if member(c) and c.id not in listed]
        return named

    def get(self, organism_id: str, check_files: bool = True) -> Organism:
        """The card for ``organism_id``; unknown ids and missing local files raise `CardError`."""
        card = self._cards.get(organism_id)
        if card is None:
            close = difflib.get_close_matches(organism_id, self.ids(), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            if organism_id in self._misnamed:
                hint = (
                    f" {self._misnamed[organism_id]} has this id but is not read: card files "
                    f"end in '{CARD_SUFFIX}'."
                )
            raise CardError(
                f"unknown organism id '{organism_id}'.{hint} "
                f"`auditgame organisms list` shows the {len(self._cards)} known ids."
            )
        if check_files:
            card.check_local_files()
        return card

    def select(self, spec: str | Sequence[str]) -> list[Organism]:
        """Organisms named by a comma-separated list of suite names and ids, in order, no repeats."""
        names = spec.split(",") if isinstance(spec, str) else list(spec)
        suites = self.suites()
        chosen: dict[str, Organism] = {}
        for name in (n.strip() for n in names):
            if not name:
                continue
            if name in suites:
                for organism_id in suites[name]:
                    chosen.setdefault(organism_id, self.get(organism_id))
            else:
                chosen.setdefault(name, self.get(name))
        if not chosen:
            raise CardError(f"no organisms selected by '{spec}'")
        return list(chosen.values())


def _is_in(card: Organism, folder: Path) -> bool:
    return card.card_path is not None and card.card_path.resolve().is_relative_to(folder)


@lru_cache(maxsize=8)
def _cached_registry(env_value: str, extra: tuple[str, ...]) -> Registry:
    return Registry([builtin_dir(), *user_dirs(extra)])


def registry(extra_dirs: Iterable[str | Path] = ()) -> Registry:
    """The registry for the current environment (cached per ``AUDITGAME_ORGANISMS`` value)."""
    return _cached_registry(os.environ.get(ENV_VAR, ""), tuple(str(d) for d in extra_dirs))


def get_organism(organism_id: str, check_files: bool = True) -> Organism:
    return registry().get(organism_id, check_files=check_files)
