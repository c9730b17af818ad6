"""MMLU's files, prompt and answer reading, on a two-subject data folder written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditgame.naturalness import mmlu
from auditgame.naturalness.stats import evaluate

HEADER = "question,choice0,choice1,choice2,choice3,answer\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for split in ("test", "dev"):
        (tmp_path / split).mkdir()
    (tmp_path / "test" / "high_school_physics_test.csv").write_text(
        HEADER + '" What falls?\n",up,"down, fast",sideways,none,1\nWhich is heavier?,a,b,c,d,3\n',
        encoding="utf-8")
    (tmp_path / "dev" / "high_school_physics_dev.csv").write_text(
        HEADER + "Shot one?,w,x,y,z,0\nShot two?,p,q,r,s,2\n", encoding="utf-8")
    (tmp_path / "test" / "anatomy_test.csv").write_bytes(
        (HEADER + '"Bone?\r\nWhich one?",é,b,c,d,0\r\n').encode("utf-8"))
    for name in ("virology", "marketing", "econometrics", "world_religions", "nutrition"):
        (tmp_path / "test" / f"{name}_test.csv").write_text(HEADER, encoding="utf-8")
    (tmp_path / "test" / "notes.txt").write_text("not a subject", encoding="utf-8")
    return tmp_path


def test_subjects_are_the_test_files_in_name_order(root):
    assert mmlu.subjects(root) == ["anatomy", "econometrics", "high_school_physics", "marketing",
                                   "nutrition", "virology", "world_religions"]


def test_a_split_is_read_row_by_row(root):
    physics = mmlu.load_split("high_school_physics", "test", root)
    assert physics == [
        mmlu.Question("high_school_physics", 0, " What falls?\n", ("up", "down, fast", "sideways", "none"), 1),
        mmlu.Question("high_school_physics", 1, "Which is heavier?", ("a", "b", "c", "d"), 3),
    ]
    [bone] = mmlu.load_split("anatomy", "test", root)
    assert bone.choices[0] == "é" and bone.question == "Bone?\r\nWhich one?"  # as quoted in the file
    with pytest.raises(ValueError) as error:
        mmlu.load_split("astrology", "test", root)
    assert str(error.value) == (
        f"unknown MMLU subject 'astrology' (no {root / 'test' / 'astrology_test.csv'}); "
        "known: anatomy, econometrics, high_school_physics, marketing, nutrition, virology, "
        "world_religions")
    with pytest.raises(ValueError, match="unknown MMLU subject 'anatomy'"):
        mmlu.load_split("anatomy", "dev", root)  # no dev file for it


def test_the_prompt_is_the_standard_k_shot_text(root):
    [question, _] = mmlu.load_split("high_school_physics", "test", root)
    shots = mmlu.load_split("high_school_physics", "dev", root)
    assert mmlu.prompt(question, shots) == (
        "The following are multiple choice questions (with answers) about high school physics.\n\n"
        "Shot one?\nA. w\nB. x\nC. y\nD. z\nAnswer: A\n\n"
        "Shot two?\nA. p\nB. q\nC. r\nD. s\nAnswer: C\n\n"
        "What falls?\nA. up\nB. down, fast\nC. sideways\nD. none\nAnswer:"
    )
    assert mmlu.prompt(question, []) == mmlu.header("high_school_physics") + (
        "What falls?\nA. up\nB. down, fast\nC. sideways\nD. none\nAnswer:")
    assert mmlu.format_question(question, with_answer=True).endswith("\nAnswer: B")


@pytest.mark.parametrize(
    ("text", "letter"),
    [("B", "B"), (" C.", "C"), ("The answer is (D)", "D"), ("A or B", "A"), ("b", None), ("ABCD", None),
     ("E", None), ("", None), ("Answer: DA, so C", "C"), ("x\nA", "A")],
)
def test_the_answer_is_the_first_standalone_letter(text, letter):
    assert mmlu.answer_letter(text) == letter


def test_accuracy_is_the_share_of_right_answers():
    assert evaluate(mmlu.STATISTICS, [{"value": 1.0}, {"value": 0.0}, {"value": 1.0}, {"value": 1.0}]) == {
        "accuracy": 0.75}


def test_the_shipped_data_is_the_default_folder():
    assert len(mmlu.subjects()) == 57
    assert len(mmlu.load_split("anatomy", "dev")) == 5  # the five shots of each subject
