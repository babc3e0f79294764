"""Search engines behind one small interface; ``WhooshBackend`` uses jieba for Chinese.

Another engine (e.g. PostgreSQL full text or OpenSearch for a large group) implements the same
four methods.
"""
from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jieba.analyse import ChineseAnalyzer
from markupsafe import escape
from whoosh import index
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.qparser import AndGroup, MultifieldParser, OrGroup


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


SNIPPET_BEFORE, SNIPPET_CHARS = 40, 140  # the window of a body around its first match, shown as the snippet


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
        self._local = threading.local()

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

    def _searcher(self):
        """This thread's searcher, kept open between queries while the index is unchanged.

        Opening one costs more than most queries (on a 100,000-entry index ~60 ms: the schema with its jieba
        analyzer is unpickled and every segment file opened). The index directory's inode and modification time
        tell whether it changed: a commit adds a table-of-contents file to it, a rebuild replaces it, in this
        process or another. Searchers are per thread (Whoosh's are not shared between threads)."""
        stat = self.dir.stat()
        key = (stat.st_ino, stat.st_mtime_ns)
        cached = getattr(self._local, "cached", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None:
            cached[1].close()
        searcher = index.open_dir(str(self.dir)).searcher()
        self._local.cached = (key, searcher)
        return searcher

    def search(self, query: str, limit: int = 20, visible=None) -> list[Hit]:
        """Best ``limit`` hits for which ``visible(visibility)`` is true (all when None), each with a snippet.

        Entries with every word of the query (its jieba tokens) first; only when none has them all, those with
        some. Requiring all words is also what keeps a query fast on a large index: a frequent single token
        (排放) in an OR query makes Whoosh score every entry that has it.
        Snippet:
        the body around its first match with the query's terms marked. Whoosh's highlighter re-analyses the
        text (jieba and the filters, ~50 µs a token), which cost more than the query itself; the terms are
        already the analysed tokens of the query, so they are found in the text directly."""
        if not self.exists() or not query.strip():
            return []
        searcher = self._searcher()
        q = MultifieldParser(["title", "code", "body"], schema=searcher.schema, group=AndGroup).parse(query)
        terms = {text for field, text in q.iter_all_terms() if field in ("title", "body") and isinstance(text, str)}
        pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I) \
            if terms else None
        results = searcher.search(q, limit=limit * 3 if visible else limit)
        if results.is_empty():  # no entry has every word: the best of those with some of them
            q = MultifieldParser(["title", "code", "body"], schema=searcher.schema,
                                 group=OrGroup.factory(0.9)).parse(query)
            results = searcher.search(q, limit=limit * 3 if visible else limit)
        hits = []
        for r in results:
            if visible is not None and not visible(r["visibility"]):
                continue
            hits.append(Hit(type=r["type"], id=r["id"], title=r["title"], snippet=snippet(r["body"], pattern),
                            url=r["url"], visibility=r["visibility"]))
            if len(hits) == limit:
                break
        return hits


def snippet(body: str, pattern: re.Pattern | None) -> str:
    """HTML: ``SNIPPET_CHARS`` of ``body`` from shortly before the first match of ``pattern`` (the opening
    when nothing matches), every match wrapped in ``<mark class="hit">``, the rest escaped."""
    first = pattern.search(body) if pattern else None
    start = max(0, first.start() - SNIPPET_BEFORE) if first else 0
    window = body[start:start + SNIPPET_CHARS]
    out, pos = [], 0
    for m in (pattern.finditer(window) if pattern else ()):
        out += [str(escape(window[pos:m.start()])), f'<mark class="hit">{escape(m.group())}</mark>']
        pos = m.end()
    out.append(str(escape(window[pos:])))
    return ("…" if start else "") + "".join(out) + ("…" if start + SNIPPET_CHARS < len(body) else "")
