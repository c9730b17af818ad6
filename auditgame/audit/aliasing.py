"""Opaque aliases: the auditor knows each organism only as ``subject-<hex>``.

An alias is a keyed hash (HMAC-SHA256) of the organism id under a secret key that the auditor
never sees: ``AUDITGAME_ALIAS_KEY`` when set, else a random key created once and kept in the
user's cache folder. The same organism keeps its alias across runs on one machine, so
``inspect eval-retry`` finds the finished audits, while nothing about the id can be read from
it. The alias -> organism mapping lives in a `Roster` captured by the solver and scorer
closures: it is not in any sample, prompt or store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from auditgame.cards import Organism

ALIAS_KEY_ENV = "AUDITGAME_ALIAS_KEY"


def alias_key_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "auditgame" / "alias.key"


def alias_key() -> bytes:
    """The secret alias key (see the module docstring), created on first use."""
    if os.environ.get(ALIAS_KEY_ENV):
        return os.environ[ALIAS_KEY_ENV].encode()
    path = alias_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner only
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_hex(32).encode())
        try:
            os.link(draft, path)  # atomic: if another process made the key first, use theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes().strip()


def alias_for(organism_id: str, key: bytes, length: int = 8) -> str:
    return "subject-" + hmac.new(key, organism_id.encode(), hashlib.sha256).hexdigest()[:length]


@dataclass(frozen=True, repr=False)
class Roster:
    """The secret mapping from aliases to organisms of one task."""

    organisms: dict[str, Organism] = field(default_factory=dict)

    @classmethod
    def of(cls, organisms: Sequence[Organism]) -> Roster:
        key = alias_key()
        aliases: dict[str, Organism] = {}
        for organism in organisms:
            length = 8
            while (alias := alias_for(organism.id, key, length)) in aliases:
                length += 8  # a collision of short hashes: take more of the digest
            aliases[alias] = organism
        return cls(aliases)

    def __repr__(self) -> str:  # never print the mapping (task logs record solver args)
        return f"Roster({len(self.organisms)} organisms)"

    _repr_params_ = __repr__

    def aliases(self) -> list[str]:
        return list(self.organisms)

    def organism(self, alias: str | int) -> Organism:
        try:
            return self.organisms[str(alias)]
        except KeyError:
            raise KeyError(f"no organism behind alias {alias!r} in this task") from None
