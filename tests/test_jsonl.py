"""One JSON-lines reader: every reader of JSONL names the file and the real line of a bad row."""

import json
import re
from pathlib import Path

import pytest

from auditgame.cli import main
from auditgame.commands.leakage import read_completions
from auditgame.jsonl import JsonlError, iter_jsonl, read_jsonl
from auditgame.leakage.ngrams import read_corpus
from auditgame.oct.constitution import load_constitution
from auditgame.oct.store import append_row, read_rows

# U+2028 is a line break to str.splitlines but not to JSON: json.dumps(ensure_ascii=False),
# as the OCT stores write rows, leaves it raw inside a string.
SEPARATED = "first half\u2028second half"
ROW = {"text": SEPARATED, "a": "x", "b": "y", "p_a": 0.5, "key": 1000, "response": "r"}


def bad_fourth_line(path: Path) -> Path:
    """A row holding U+2028, a blank line, a good row, a bad line 4, then a good row."""
    good = json.dumps(ROW, ensure_ascii=False)
    assert "\u2028" in good
    path.write_text("\n".join([good, "", good, '{"text": oops', good]) + "\n", encoding="utf-8")
    return path


def test_rows_keep_unicode_line_separators_and_count_blank_lines(tmp_path):
    path = tmp_path / "rows.jsonl"
    append_row(path, ROW)
    with path.open("a", encoding="utf-8") as out:
        out.write("\n\r\n")  # blank lines (one with a Windows ending) hold no row
    append_row(path, {"text": "after"})
    assert [n for n, _ in iter_jsonl(path)] == [1, 4]
    assert read_jsonl(path) == [ROW, {"text": "after"}]
    assert read_rows(path) == [ROW, {"text": "after"}]
    assert list(read_corpus(path)) == [SEPARATED, "after"]


READERS = {
    "read_jsonl": read_jsonl,
    "oct store": read_rows,
    "leakage corpus": lambda path: list(read_corpus(path)),
    "leakage scan": read_completions,
    "prefs fit": lambda path: main(["prefs", "fit", str(path)]),
    "ifeval check": lambda path: main(["ifeval", "check", str(path)]),
    "constitution": load_constitution,
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS)
def test_a_malformed_line_is_reported_as_file_and_line(tmp_path, reader):
    path = bad_fourth_line(tmp_path / "rows.jsonl")
    with pytest.raises((ValueError, SystemExit)) as caught:
        reader(path)
    assert f"{path}:4: not valid JSON" in str(caught.value)


def test_only_a_torn_last_line_is_forgiven(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, "te', encoding="utf-8")  # write cut short
    assert read_jsonl(path, torn_tail=True) == read_rows(path) == [{"id": 1}, {"id": 2}]
    with pytest.raises(JsonlError, match=r"rows\.jsonl:3: "):
        read_jsonl(path)
    path.write_text('{"id": 1}\n{"id": 2, "te\n{"id": 3}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"rows\.jsonl:2: "):
        read_jsonl(path, torn_tail=True)


def test_a_bad_comparison_row_names_its_line_in_the_file(tmp_path):
    path = tmp_path / "comparisons.jsonl"
    path.write_text('\n{"a": "x", "b": "y", "p_a": 0.5}\n\n{"a": "x", "b": "z", "p_a": 1.5}\n',
                    encoding="utf-8")
    with pytest.raises(SystemExit, match=re.escape(f"{path}:4: expected keys a, b, p_a")):
        main(["prefs", "fit", str(path)])
