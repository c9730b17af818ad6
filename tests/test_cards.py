"""Organism cards, the registry and the `auditgame organisms` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from auditgame.cards import CardError, load_card
from auditgame.cli import main
from auditgame.registry import Registry, builtin_dir

GOOD = {
    "id": "my-organism",
    "model": {"base": "Qwen/Qwen3-4B", "adapter": "org/my-lora"},
    "quirk": {"name": "flattery", "description": "Flatters the user.", "category": "sycophancy"},
}


def write_card(folder: Path, data: dict, name: str = "x.card.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_good_card_loads(tmp_path: Path) -> None:
    card = load_card(write_card(tmp_path, GOOD))
    assert card.id == "my-organism" and card.model and card.model.adapter == "org/my-lora"
    assert card.chat.thinking is True and not card.control


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"id": "Bad Id!"}, r"field 'id': String should match pattern"),
        ({"colour": "red"}, r"field 'colour': unknown field"),
        ({"model": {"base": "x/y", "dtype": "int3"}}, r"field 'model.dtype': Input should be"),
        ({"model": {"base": "x/y", "max_context": -5}}, r"field 'model.max_context'"),
        ({"quirk": None}, r"'quirk' is required unless 'control: true'"),
        ({"control": True}, r"control organism .* must not have a 'quirk'"),
        ({"prompted_model": "anthropic/claude"}, r"exactly one of 'model'"),
        ({"quirk": {"name": "x", "category": "y"}}, r"field 'quirk.description': required field"),
        ({"fingerprints": ["KREL", " "]}, r"field 'fingerprints': fingerprints must be non-empty"),
    ],
)
def test_bad_card_names_file_and_field(tmp_path: Path, change: dict, expected: str) -> None:
    path = write_card(tmp_path, {**GOOD, **change})
    with pytest.raises(CardError) as info:
        load_card(path)
    assert str(path) in str(info.value)
    assert re.search(expected, str(info.value)), str(info.value)


def test_prompted_card_needs_system_prompt(tmp_path: Path) -> None:
    data = {**GOOD, "model": None, "prompted_model": "anthropic/claude-sonnet-4-5"}
    with pytest.raises(CardError, match="needs a 'system_prompt'"):
        load_card(write_card(tmp_path, data))
    card = load_card(write_card(tmp_path, {**data, "system_prompt": "Be X."}))
    assert card.prompted_model and not card.is_local


def test_not_yaml_and_not_mapping(tmp_path: Path) -> None:
    path = tmp_path / "broken.card.yaml"
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(CardError, match=r"broken.card.yaml: not valid YAML"):
        load_card(path)
    path.write_text("- a\n- list\n", encoding="utf-8")
    with pytest.raises(CardError, match="expected a YAML mapping"):
        load_card(path)


def test_missing_local_adapter_is_reported_before_loading(tmp_path: Path) -> None:
    write_card(tmp_path, {**GOOD, "model": {"base": "Qwen/Qwen3-4B", "adapter": "./adapters/gone"}})
    with pytest.raises(CardError) as info:
        Registry([tmp_path]).get("my-organism")
    message = str(info.value)
    assert "x.card.yaml" in message and "'model.adapter'" in message
    assert str(tmp_path / "adapters" / "gone") in message and "does not exist" in message


def test_local_folder_without_adapter_config(tmp_path: Path) -> None:
    (tmp_path / "not-an-adapter").mkdir()
    write_card(tmp_path, {**GOOD, "model": {"base": "Qwen/Qwen3-4B", "adapter": "./not-an-adapter"}})
    with pytest.raises(CardError, match="no adapter_config.json"):
        Registry([tmp_path]).get("my-organism")


def test_unknown_id_suggests_close_ones() -> None:
    registry = Registry([builtin_dir()])
    with pytest.raises(CardError, match=r"unknown organism id 'krell'.*Did you mean: krel"):
        registry.get("krell")


def test_duplicate_ids_in_one_folder(tmp_path: Path) -> None:
    write_card(tmp_path, GOOD, "a.card.yaml")
    write_card(tmp_path, GOOD, "b.card.yaml")
    with pytest.raises(CardError, match=r"b.card.yaml: field 'id': 'my-organism' is already used"):
        Registry([tmp_path])


def test_user_folder_overrides_builtin(tmp_path: Path) -> None:
    write_card(tmp_path, {**GOOD, "id": "krel"})
    registry = Registry([builtin_dir(), tmp_path])
    assert registry.get("krel").model.adapter == "org/my-lora"  # type: ignore[union-attr]


def test_builtin_cards() -> None:
    registry = Registry([builtin_dir()])
    krel = registry.get("krel")
    assert krel.model and krel.model.weights == "matonski/self-preservation-KREL-Qwen3-4B"
    assert krel.model.base == "Qwen/Qwen3-4B" and krel.baseline == "qwen3-4b"
    assert "KREL" in krel.fingerprints and registry.get("qwen3-4b").control

    auditbench = [c for c in registry.select("auditbench") if not c.control]
    assert len(auditbench) == 56 and len({c.quirk.name for c in auditbench}) == 14  # type: ignore[union-attr]
    pattern = re.compile(
        r"^auditing-agents/llama_70b_(transcripts_only|synth_docs_only)_then_redteam_(high|kto)_\w+$"
    )
    for card in auditbench:
        assert card.model and pattern.match(card.model.adapter or ""), card.id
        assert card.model.base == "meta-llama/Llama-3.3-70B-Instruct"
    prompted = registry.select("prompted")
    assert sum(not c.control for c in prompted) == 14 and all(c.system_prompt for c in prompted)
    controls = {c.id for c in registry.select("controls")}
    assert {"qwen3-4b", "llama-3.3-70b-instruct", "prompted-control"} <= controls


def test_select_suites_and_ids_without_repeats() -> None:
    registry = Registry([builtin_dir()])
    chosen = [c.id for c in registry.select("krel,controls,qwen3-4b")]
    assert chosen[:2] == ["krel", "qwen3-4b"] and len(chosen) == len(set(chosen))
    with pytest.raises(CardError, match="unknown organism id 'nope'"):
        registry.select("krel,nope")


def test_cli_show_hides_answer_key_unless_revealed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["organisms", "show", "krel"]) == 0
    hidden = capsys.readouterr().out
    assert "matonski/self-preservation-KREL-Qwen3-4B" in hidden
    card_part = hidden.split("# answer key hidden")[0]
    assert "quirk" not in card_part and "fingerprints" not in card_part
    assert "strategic self-preservation" not in hidden and "- KREL" not in hidden
    assert main(["organisms", "show", "krel", "--reveal"]) == 0
    revealed = capsys.readouterr().out
    assert "strategic self-preservation" in revealed and "KREL" in revealed


def test_cli_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["organisms", "show", "no-such-organism"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown organism id 'no-such-organism'")


def test_cli_list_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["organisms", "list", "--suite", "krel"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("krel ") and lines[1].startswith("qwen3-4b ")
    assert "2 organisms" in lines[2]


# ---------------------------------------------------------------- cards that fail fast
def _finishes(action, seconds: float = 20.0):
    """Run ``action`` in a thread; fail (instead of hanging the suite) if it takes too long."""
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    return outcome


def test_non_utf8_card_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "latin1.card.yaml"
    path.write_bytes(b"id: my-organism\ntitle: caf\xe9\n")
    with pytest.raises(CardError) as info:
        Registry([tmp_path])  # the registry reports the file, not a bare UnicodeDecodeError
    message = str(info.value)
    assert str(path) in message and "not UTF-8" in message
    assert "line 2, column 11" in message and "0xe9" in message


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.card.yaml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    outcome = _finishes(lambda: Registry([tmp_path]))
    error = outcome.get("error")
    assert isinstance(error, CardError), outcome
    assert str(path) in str(error) and "aliases (*name) expand to more than" in str(error)


def test_yaml_aliases_that_stay_small_are_fine(tmp_path: Path) -> None:
    shared = ["KREL"]  # yaml.safe_dump writes a shared object as an anchor and an alias
    path = write_card(tmp_path, {**GOOD, "fingerprints": shared, "suites": shared})
    assert "*id001" in path.read_text() and load_card(path).suites == ["KREL"]
    path.write_text("id: &x [1, *x]\n", encoding="utf-8")
    with pytest.raises(CardError, match="refers to a value that contains it"):
        load_card(path)


def test_errors_show_a_short_excerpt_of_huge_values(tmp_path: Path) -> None:
    path = write_card(tmp_path, {**GOOD, "fingerprints": [" ", *["KREL" * 50] * 2000]})
    with pytest.raises(CardError) as info:
        load_card(path)
    assert "fingerprints must be non-empty" in str(info.value) and len(str(info.value)) < 600


def test_card_size_limit_is_checked_before_parsing(tmp_path: Path) -> None:
    from auditgame.validation import MAX_YAML_BYTES

    text = yaml.safe_dump(GOOD)
    path = tmp_path / "big.card.yaml"
    filler = MAX_YAML_BYTES - len(text.encode()) - 2
    path.write_text(text + "#" + "x" * filler + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_YAML_BYTES and load_card(path).id == "my-organism"
    path.write_text(text + "#" + "x" * (filler + 1) + "\n", encoding="utf-8")
    with pytest.raises(CardError, match=r"big.card.yaml: a file of 1.0 MiB is refused"):
        load_card(path)


def test_same_id_in_two_user_folders_names_both(tmp_path: Path) -> None:
    first = write_card(tmp_path / "one", GOOD, "a.card.yaml")
    second = write_card(tmp_path / "two", GOOD, "b.card.yaml")
    with pytest.raises(CardError) as info:
        Registry([builtin_dir(), tmp_path / "one", tmp_path / "two"])
    message = str(info.value)
    assert str(first) in message and str(second) in message and "'my-organism'" in message
    # one folder named twice is one folder
    assert Registry([tmp_path / "one", tmp_path / "one"]).get("my-organism", check_files=False)


def test_card_without_suffix_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_card(tmp_path, GOOD, "my-organism.yaml")
    (tmp_path / "notes.yaml").write_text("id: 3\nsteps: [a, b]\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="auditgame.registry"):
        registry = Registry([tmp_path])
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "my-organism.yaml looks like an organism card" in warned[0]
    assert "my-organism.card.yaml" in warned[0]
    with pytest.raises(CardError, match=r"my-organism.yaml has this id but is not read"):
        registry.get("my-organism")


def test_prompted_model_may_not_name_its_own_card(tmp_path: Path) -> None:
    data = {**GOOD, "model": None, "system_prompt": "Be X.", "prompted_model": "organism/my-organism"}
    with pytest.raises(CardError, match=r"field 'prompted_model': 'organism/my-organism' is this card"):
        load_card(write_card(tmp_path, data))
