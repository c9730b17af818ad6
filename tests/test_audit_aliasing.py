"""Aliases: a published keyed hash of the id, a secret key kept owner-only, a roster that maps
every alias back and never prints the mapping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditgame.audit import aliasing
from auditgame.audit.aliasing import ALIAS_KEY_ENV, Roster, alias_for, alias_key, alias_key_path
from auditgame.cards import Organism


def card(id: str) -> Organism:
    return Organism(id=id, prompted_model="mockllm/model", system_prompt="hidden", control=True)


def test_an_alias_is_the_hmac_sha256_of_the_id():
    # RFC 4231, test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?")
    digest = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert alias_for("what do ya want for nothing?", b"Jefe") == "subject-" + digest[:8]
    assert alias_for("what do ya want for nothing?", b"Jefe", 16) == "subject-" + digest[:16]


def test_the_key_comes_from_the_environment_else_the_cache_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(ALIAS_KEY_ENV, "from-env")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert alias_key() == b"from-env"
    assert not (tmp_path / "cache").exists()  # no key file made while the variable is set
    monkeypatch.setenv(ALIAS_KEY_ENV, "")
    path = tmp_path / "cache" / "auditgame" / "alias.key"
    assert alias_key_path() == path
    key = alias_key()
    assert len(key) == 64 and int(key, 16) >= 0 and path.read_bytes() == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(path.parent) == ["alias.key"]  # the draft is gone
    path.write_bytes(b"  kept key\n")
    assert alias_key() == b"kept key"  # an existing key is read, never replaced
    path.unlink()  # the folder is there, the key is not: a new key in the same folder
    assert len(alias_key()) == 64 and alias_key() != b"kept key"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert alias_key_path() == tmp_path / "home" / ".cache" / "auditgame" / "alias.key"


def test_the_roster_maps_every_alias_back_and_keeps_its_order(monkeypatch):
    monkeypatch.setenv(ALIAS_KEY_ENV, "roster-key")
    cards = [card(f"org-{i}") for i in range(5)]
    roster = Roster.of(cards)
    assert roster.aliases() == [alias_for(c.id, b"roster-key") for c in cards]
    assert [roster.organism(a) for a in roster.aliases()] == cards
    with pytest.raises(KeyError) as error:
        roster.organism("subject-00000000")
    assert error.value.args[0] == "no organism behind alias 'subject-00000000' in this task"
    assert error.value.__suppress_context__  # the roster's own KeyError is not chained in
    assert Roster.of([]).aliases() == []


def test_an_integer_sample_id_is_looked_up_as_text(monkeypatch):
    monkeypatch.setenv(ALIAS_KEY_ENV, "k")
    roster = Roster({"7": card("seven")})
    assert roster.organism(7).id == "seven"


def test_colliding_short_aliases_take_more_of_the_digest(monkeypatch):
    monkeypatch.setenv(ALIAS_KEY_ENV, "collide")
    real = aliasing.alias_for
    # seven hex digits fewer than asked for: 17 organisms must collide at one digit
    monkeypatch.setattr(aliasing, "alias_for", lambda id, key, length=8: real(id, key, length - 7))
    cards = [card(f"org-{i}") for i in range(17)]
    roster = Roster.of(cards)
    assert len(roster.aliases()) == 17
    assert [roster.organism(a) for a in roster.aliases()] == cards
    lengths = {len(a) - len("subject-") for a in roster.aliases()}
    assert lengths == {1, 9}  # 8 more digits after a collision


def test_the_roster_never_prints_its_mapping(monkeypatch):
    monkeypatch.setenv(ALIAS_KEY_ENV, "k")
    roster = Roster.of([card("secret-organism"), card("other-one")])
    for text in (repr(roster), str(roster), roster._repr_params_(), f"{roster!r}"):
        assert text == "Roster(2 organisms)"


def test_a_key_made_first_by_another_process_wins_and_no_draft_is_left(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real_link = aliasing.os.link

    def raced(source, target) -> None:  # another process links its key a moment earlier
        Path(target).write_bytes(b"theirs")
        real_link(source, target)

    monkeypatch.setattr(aliasing.os, "link", raced)
    assert alias_key() == b"theirs"
    assert os.listdir(tmp_path / "auditgame") == ["alias.key"]


def test_an_empty_cache_variable_means_the_home_cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # the XDG base directory spec: empty is unset
    assert alias_key_path() == tmp_path / "home" / ".cache" / "auditgame" / "alias.key"
