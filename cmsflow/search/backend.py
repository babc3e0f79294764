"""Search engines behind one small interface; ``WhooshBackend`` uses jieba for Chinese.

Another engine (e.g. PostgreSQL full text or OpenSearch for a large group) implements the same
four methods.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jieba.analyse import ChineseAnalyzer
from markupsafe import escape
from whoosh import index
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.highlight import ContextFragmenter, HtmlFormatter
from whoosh.index import LockError
from whoosh.qparser import MultifieldParser, OrGroup


@dataclass
class Entry:
    """What gets indexed for one searchable object."""

    key: str  # "<type>:<id>"
    type: str
    id: int
    title: str
    code: str
    body: str
    url: str
    visibility: str  # "all" or a space-separated list of "dept:<id>" / "user:<id>" / "role:<name>"


@dataclass
class Hit:
    type: str
    id: int
    title: str
    snippet: str
    url: str
    visibility: str


HIGHLIGHT_CHARS = 1500  # characters of a body analysed to build its snippet (re-tokenising is the cost)


class IndexBusy(Exception):
    """Another process holds the index writer lock; retry later."""


class SearchBackend(Protocol):
    def upsert(self, entries: list[Entry], deletes: list[str]) -> None: ...
    def search(self, query: str, limit: int = 20, visible=None) -> list[Hit]: ...
    def rebuild(self, entries: list[Entry]) -> None: ...
    def exists(self) -> bool: ...


def _schema() -> Schema:
    analyzer = ChineseAnalyzer()
    return Schema(key=ID(stored=True, unique=True), type=ID(stored=True), id=NUMERIC(stored=True),
                  title=TEXT(stored=True, analyzer=analyzer, field_boost=3.0),
                  code=KEYWORD(stored=True, lowercase=True, field_boost=3.0),
                  body=TEXT(stored=True, analyzer=analyzer), url=STORED, visibility=STORED)


class WhooshBackend:
    """Whoosh index in a directory; one writer at a time (Whoosh's lock), readers unlimited."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    def exists(self) -> bool:
        return index.exists_in(str(self.dir))

    def _open(self):
        if not self.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            return index.create_in(str(self.dir), _schema())
        return index.open_dir(str(self.dir))

    def _write(self, ix, entries, deletes, timeout=5.0):
        try:
            writer = ix.writer(timeout=timeout)
        except LockError as exc:
            raise IndexBusy(str(exc)) from exc
        try:
            for key in deletes:
                writer.delete_by_term("key", key)
            for e in entries:
                writer.update_document(key=e.key, type=e.type, id=e.id, title=e.title, code=e.code,
                                       body=e.body, url=e.url, visibility=e.visibility)
        except Exception:
            writer.cancel()
            raise
        writer.commit()

    def upsert(self, entries: list[Entry], deletes: list[str]) -> None:
        self._write(self._open(), entries, deletes)

    def rebuild(self, entries: list[Entry]) -> None:
        tmp = self.dir.with_name(self.dir.name + ".rebuild")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self._write(index.create_in(str(tmp), _schema()), entries, [])
        shutil.rmtree(self.dir, ignore_errors=True)
        tmp.rename(self.dir)

    def search(self, query: str, limit: int = 20, visible=None) -> list[Hit]:
        """Best ``limit`` hits for which ``visible(visibility)`` is true (all when None). Snippets are
        highlighted only for the hits returned, within the first ``HIGHLIGHT_CHARS`` of a body: analysing
        whole regulations for every candidate was what made queries slow."""
        if not self.exists() or not query.strip():
            return []
        ix = index.open_dir(str(self.dir))
        parser = MultifieldParser(["title", "code", "body"], schema=ix.schema, group=OrGroup.factory(0.9))
        q = parser.parse(query)
        with ix.searcher() as searcher:
            results = searcher.search(q, limit=limit * 3 if visible else limit)
            results.fragmenter = ContextFragmenter(maxchars=80, surround=30, charlimit=HIGHLIGHT_CHARS)
            results.formatter = HtmlFormatter(tagname="mark", classname="hit", termclass="hit", between="…")
            hits = []
            for r in results:
                if visible is not None and not visible(r["visibility"]):
                    continue
                snippet = r.highlights("body", top=2) or r.highlights("title") or str(escape(r["body"][:120]))
                hits.append(Hit(type=r["type"], id=r["id"], title=r["title"], snippet=snippet,
                                url=r["url"], visibility=r["visibility"]))
                if len(hits) == limit:
                    break
            return hits
