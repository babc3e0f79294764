"""Load and validate the clause library (``cmsflow/standards/data/*.yaml``).

Each file holds one standard: code, designation, titles and its clauses (number, parent, Chinese and
English title, whether documented information is to be maintained and/or retained, equivalents in
other standards). Loading fails with ``file:line: message`` on the first structural error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).parent / "data"
DOC_INFO = ("maintain", "retain", "both")


class ClauseLibraryError(ValueError):
    """A clause-library file is malformed; the message starts with ``file:line``."""


@dataclass
class Clause:
    standard: str
    number: str
    title: str
    title_en: str = ""
    parent: str | None = None
    documented_information: str | None = None
    equivalents: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def ref(self) -> str:
        return f"{self.standard}:{self.number}"

    @property
    def requires_documented_information(self) -> bool:
        return self.documented_information is not None


@dataclass
class Standard:
    code: str
    designation: str
    title: str
    title_en: str
    clauses: dict[str, Clause]  # number -> clause, in file order

    def children(self, number: str | None) -> list[Clause]:
        return [c for c in self.clauses.values() if c.parent == number]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping as ``__line__``."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _fail(path: Path, line: int, message: str):
    raise ClauseLibraryError(f"{path.name}:{line}: {message}")


def _parse_clause(path: Path, code: str, raw: dict) -> Clause:
    line = raw.get("__line__", 0)
    for key in ("number", "title"):
        if not str(raw.get(key) or "").strip():
            _fail(path, line, f"clause without {key}")
    info = raw.get("documented_information")
    if info is not None and info not in DOC_INFO:
        _fail(path, line, f"documented_information must be one of {DOC_INFO}, not {info!r}")
    equivalents = raw.get("equivalents") or []
    if not isinstance(equivalents, list):
        _fail(path, line, "equivalents must be a list")
    return Clause(standard=code, number=str(raw["number"]), title=str(raw["title"]),
                  title_en=str(raw.get("title_en") or ""), parent=str(raw["parent"]) if raw.get("parent") else None,
                  documented_information=info, equivalents=[str(e) for e in equivalents], line=line)


def load_standard(path: Path) -> Standard:
    """Parse one file; raises ClauseLibraryError on duplicates or a missing parent."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _fail(path, mark.line + 1 if mark else 0, f"invalid YAML: {exc}")
    if not isinstance(data, dict) or not data.get("code") or not isinstance(data.get("clauses"), list):
        _fail(path, 1, "expected a mapping with code and a list of clauses")
    code = str(data["code"])
    if path.stem != code:
        _fail(path, data["__line__"], f"file name must equal the code {code!r}")
    clauses: dict[str, Clause] = {}
    for raw in data["clauses"]:
        clause = _parse_clause(path, code, raw)
        if clause.number in clauses:
            _fail(path, clause.line, f"duplicate clause number {clause.number}")
        if clause.parent is not None and clause.parent not in clauses:
            _fail(path, clause.line, f"clause {clause.number}: parent {clause.parent} does not exist (or comes later)")
        clauses[clause.number] = clause
    return Standard(code=code, designation=str(data.get("designation") or code), title=str(data.get("title") or ""),
                    title_en=str(data.get("title_en") or ""), clauses=clauses)


def load_library(directory: Path = DATA_DIR) -> dict[str, Standard]:
    """Load every standard and check that equivalents resolve across files."""
    library = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        std = load_standard(path)
        library[std.code] = std
    for std in library.values():
        for clause in std.clauses.values():
            for ref in clause.equivalents:
                code, _, number = ref.partition(":")
                if code not in library or number not in library[code].clauses:
                    raise ClauseLibraryError(f"{std.code}.yaml:{clause.line}: equivalent {ref} does not exist")
    return library
