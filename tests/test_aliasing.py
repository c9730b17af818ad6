"""The alias that hides an organism's identity from the auditor: its hash, its key, its roster."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditgame.audit import aliasing
from auditgame.audit.aliasing import ALIAS_KEY_ENV, Roster, alias_for, alias_key, alias_key_path
from auditgame.cards import Organism


def organism(organism_id: str) -> Organism:
    return Organism(
        id=organism_id, prompted_model="mockllm/model", system_prompt="Be helpful.", control=True
    )


def test_alias_is_the_hmac_sha256_prefix_of_the_id() -> None:
    # RFC 4231, test case 2: HMAC-SHA256(key="Jefe", "what do ya want for nothing?").
    digest = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert alias_for("what do ya want for nothing?", b"Jefe") == "subject-" + digest[:8]
    assert alias_for("what do ya want for nothing?", b"Jefe", 16) == "subject-" + digest[:16]


def test_key_comes_from_the_environment_when_set(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(ALIAS_KEY_ENV, "Jefe")
    assert alias_key() == b"Jefe"
    assert not (tmp_path / "auditgame").exists()  # no key file made when the variable is set
    monkeypatch.setenv(ALIAS_KEY_ENV, "")  # empty counts as unset: a random key on disk
    key = alias_key()
    assert len(key) == 64 and int(key, 16) >= 0
    assert (tmp_path / "auditgame" / "alias.key").read_bytes() == key


def test_key_path_is_in_the_xdg_cache_else_the_home_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert alias_key_path() == tmp_path / "xdg" / "auditgame" / "alias.key"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert alias_key_path() == tmp_path / "home" / ".cache" / "auditgame" / "alias.key"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty counts as unset (XDG base directory spec)
    assert alias_key_path() == tmp_path / "home" / ".cache" / "auditgame" / "alias.key"


def test_an_existing_key_file_is_read_stripped_and_kept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "auditgame").mkdir()
    (tmp_path / "auditgame" / "alias.key").write_bytes(b"  written-by-hand\n")
    assert alias_key() == b"written-by-hand"
    assert (tmp_path / "auditgame" / "alias.key").read_bytes() == b"  written-by-hand\n"


def test_a_key_made_first_by_another_process_wins_and_no_draft_is_left(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real_link = aliasing.os.link

    def raced(source, target) -> None:  # another process links its key a moment earlier
        Path(target).write_bytes(b"theirs")
        real_link(source, target)

    monkeypatch.setattr(aliasing.os, "link", raced)
    assert alias_key() == b"theirs"
    assert sorted(p.name for p in (tmp_path / "auditgame").iterdir()) == ["alias.key"]


def test_a_new_key_leaves_only_the_key_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "deep" / "cache"))  # parents made
    key = alias_key()
    assert sorted(p.name for p in (tmp_path / "deep" / "cache" / "auditgame").iterdir()) == [
        "alias.key"
    ]
    assert alias_key() == key and len(set(key)) > 4  # random hex, not a constant


def test_a_key_is_made_in_a_cache_folder_that_exists_without_one(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv(ALIAS_KEY_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "auditgame").mkdir()  # e.g. made by another cache of the package
    assert len(alias_key()) == 64


def test_colliding_short_aliases_take_more_of_the_digest(monkeypatch) -> None:
    # Under this key the two ids' HMAC-SHA256 digests share their first 8 hex digits
    # (found by search with hashlib): a781acfbc01241c125... and a781acfb5e51a00e2e...
    monkeypatch.setenv(ALIAS_KEY_ENV, "collide")
    first, second = organism("org-35942"), organism("org-116341")
    roster = Roster.of([first, second])
    assert roster.aliases() == ["subject-a781acfb", "subject-a781acfb5e51a00e"]
    assert roster.organism("subject-a781acfb") is first
    assert roster.organism("subject-a781acfb5e51a00e") is second


def test_roster_looks_organisms_up_and_never_shows_them(monkeypatch) -> None:
    monkeypatch.setenv(ALIAS_KEY_ENV, "Jefe")
    organisms = [organism("secret-krel"), organism("secret-base")]
    roster = Roster.of(organisms)
    expected = [alias_for(o.id, b"Jefe") for o in organisms]
    assert roster.aliases() == expected
    assert [roster.organism(a) for a in expected] == organisms
    assert repr(roster) == "Roster(2 organisms)" == roster._repr_params_()
    with pytest.raises(KeyError) as error:
        roster.organism("subject-00000000")
    assert error.value.args == ("no organism behind alias 'subject-00000000' in this task",)
    assert "secret" not in str(error.value)
    with pytest.raises(KeyError) as error:
        roster.organism(7)  # an auditor may pass a number: looked up as text, not a crash
    assert error.value.args == ("no organism behind alias 7 in this task",)
    assert Roster().aliases() == [] and repr(Roster()) == "Roster(0 organisms)"
