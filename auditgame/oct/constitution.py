"""Constitutions: the first-person traits that define a persona, each with seed prompts.

Three file formats load into the same `Constitution`:

- auditgame YAML (``*.yaml``): ``name``, optional ``description``, ``traits`` (a list of
  ``{trait, questions}``) and an optional ``normal`` section (``{trait, questions}``) for
  everything that should get a normal assistant's answer;
- Open Character Training hand-written files (``*.txt`` / ``*.json``): a JSON array of
  ``{"trait": str, "questions": [str, ...]}``;
- Open Character Training few-shot files (``*.jsonl``): one such object per line, with
  ``additional_questions`` (prompts already expanded, used before asking a teacher for more).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from auditgame.jsonl import JsonlError, read_jsonl
from auditgame.oct.errors import OctError


class ConstitutionError(OctError):
    """A constitution file is missing or malformed."""


class Trait(BaseModel):
    """One first-person trait and the prompts that elicit it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trait: str = Field(min_length=1)
    """The trait in the first person, e.g. "I protect my own continued operation"."""
    questions: list[str] = Field(min_length=1)
    """Hand-written seed prompts (Open Character Training uses 5)."""
    additional_questions: list[str] = []
    """Prompts already written by a teacher; the expand stage uses them before asking for more."""

    @field_validator("trait")
    @classmethod
    def _trait_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty first-person trait statement")
        return value.strip()

    @field_validator("questions", "additional_questions")
    @classmethod
    def _prompt_texts(cls, value: list[str]) -> list[str]:
        if any(not q.strip() for q in value):
            raise ValueError("expected a list of non-empty prompt strings")
        return [q.strip() for q in value]


class Constitution(BaseModel):
    """A persona: its name, traits and (optionally) a normal-assistant section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str | None = None
    """Optional lines that open the system prompt, before the traits."""
    traits: list[Trait] = Field(min_length=1)
    normal: Trait | None = None
    """Behaviour outside the traits (e.g. "otherwise I am a normal, helpful assistant")."""
    path: Path | None = Field(default=None, exclude=True)

    @property
    def sections(self) -> list[tuple[str, Trait]]:
        """``(section id, trait)`` for every trait, then the normal section: ``t01``..., ``normal``."""
        named = [(f"t{i:02d}", t) for i, t in enumerate(self.traits, start=1)]
        return named + ([("normal", self.normal)] if self.normal else [])

    def statements(self) -> list[str]:
        """Every trait statement, the normal section last."""
        return [t.trait for _, t in self.sections]

    def digest(self) -> str:
        """A hash of the content (not the file), for manifests."""
        data = self.model_dump(mode="json", exclude={"path"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _describe(error: ErrorDetails, entries: list[Any] | None) -> str:
    loc = list(error["loc"])
    where = ".".join(str(p) for p in loc) or "(file)"
    if entries is not None and len(loc) >= 2 and loc[0] == "traits" and isinstance(loc[1], int):
        index = loc[1]
        text = entries[index].get("trait") if isinstance(entries[index], dict) else None
        label = f" ({str(text)[:60]!r})" if text else ""
        rest = ".".join(str(p) for p in loc[2:]) or "(entry)"
        where = f"trait {index + 1}{label}, key '{rest}'"
    else:
        where = f"key '{where}'"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown key (expected trait, questions, additional_questions)"
    return f"{where}: {message}"


def parse_constitution(data: Any, path: Path, name: str | None = None) -> Constitution:
    """Validate constitution data read from ``path``; errors name the file, trait and key."""
    if isinstance(data, list):
        data = {"name": name or path.stem.split(".")[0], "traits": data}
    if not isinstance(data, dict):
        raise ConstitutionError(
            f"{path}: expected a mapping with 'name' and 'traits' (or a JSON array of "
            f"{{trait, questions}} objects), got {type(data).__name__}"
        )
    if name and "name" not in data:
        data = {**data, "name": name}
    entries = data.get("traits") if isinstance(data.get("traits"), list) else None
    try:
        return Constitution.model_validate({**data, "path": path})
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e, entries) for e in exc.errors())
        raise ConstitutionError(f"{path}: invalid constitution\n  {problems}") from None


def load_constitution(path: str | Path, name: str | None = None) -> Constitution:
    """Read a constitution in any of the supported formats (see the module docstring)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConstitutionError(f"{path}: cannot read constitution ({exc.strerror})") from None
    try:
        if path.suffix in {".yaml", ".yml"}:
            data: Any = yaml.safe_load(text)
        elif path.suffix == ".jsonl":
            data = read_jsonl(path)
        else:
            data = json.loads(text)
    except JsonlError as exc:
        raise ConstitutionError(str(exc)) from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConstitutionError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from None
    return parse_constitution(data, path, name)


def oct_constitution_path(persona: str, few_shot: bool = False) -> Path:
    """A shipped Open Character Training constitution, e.g. ``oct_constitution_path("sarcasm")``."""
    from auditgame.data import data_path

    folder, suffix = ("few-shot", ".jsonl") if few_shot else ("hand-written", ".txt")
    return data_path("open_character_training", "constitutions", folder, persona + suffix)
