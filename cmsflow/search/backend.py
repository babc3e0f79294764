"""Search engines behind one small interface; ``WhooshBackend`` uses jieba for Chinese.

Another engine (e.g. PostgreSQL full text or OpenSearch for a large group) implements the same
four methods.
"""
from __future__ import annotations

import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jieba.analyse import ChineseAnalyzer
from markupsafe import escape
from whoosh import index
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.index import LockError
from whoosh.qparser import AndGroup, MultifieldParser, OrGroup
from whoosh.query import NullQuery, Phrase
from whoosh.util.filelock import FileLock


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
    """Another process holds the index writer lock (or is rebuilding the index); retry later."""


class IndexUnavailable(Exception):
    """The index is missing (deleted) or unreadable (a truncated, garbled or lost file): rebuild it from the
    database. ``reason`` says which, for the log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SearchBackend(Protocol):
    def upsert(self, entries: list[Entry], deletes: list[str]) -> None: ...
    def search(self, query: str, limit: int = 20, visible=None) -> list[Hit]: ...
    def rebuild(self, entries: list[Entry]) -> None: ...
    def exists(self) -> bool: ...
    def check(self, deep: bool = False) -> str | None: ...


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

    def _lock(self, timeout: float):
        """The cross-process lock that keeps a rebuild (which swaps the directory) and writes apart; raises
        IndexBusy after ``timeout`` seconds (0: do not wait)."""
        lock = FileLock(str(self.dir.with_name(self.dir.name + ".lock")))
        deadline = time.monotonic() + timeout
        while not lock.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise IndexBusy("搜索索引正在重建或写入")
            time.sleep(0.05)
        return lock

    def _open(self, create: bool = False):
        """The index (a new empty one with ``create``); IndexUnavailable when it is missing or cannot be opened."""
        if not self.exists():
            if not create:
                raise IndexUnavailable("missing")
            self.dir.mkdir(parents=True, exist_ok=True)
            return index.create_in(str(self.dir), _schema())
        try:
            return index.open_dir(str(self.dir))
        except Exception as exc:  # Whoosh raises EOFError, OSError, struct.error, its IndexError, ...
            raise IndexUnavailable(f"unreadable: {type(exc).__name__}: {exc}") from exc

    def check(self, deep: bool = False) -> str | None:
        """None when the index opens and reads, else the reason ("missing", "unreadable: …").

        The quick check (every worker pass) opens the index and every segment; ``deep`` also decodes every stored
        document and every posting list (``reindex --if-needed``; about the cost of a rebuild's reading)."""
        try:
            ix = self._open()
            with ix.searcher() as searcher:
                searcher.doc_count_all()
                if deep:
                    reader = searcher.reader()
                    for _fields in reader.all_stored_fields():
                        pass
                    for _posting in reader.iter_postings():
                        pass
        except IndexUnavailable as exc:
            return exc.reason
        except Exception as exc:
            return f"unreadable: {type(exc).__name__}: {exc}"
        return None

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
        """Apply changes (to a new index when there is none: callers with a database rebuild instead, see
        ``search.service.process_outbox``); IndexBusy (retry later), IndexUnavailable (damaged: rebuild)."""
        lock = self._lock(timeout=5.0)
        try:
            ix = self._open(create=True)
            try:
                self._write(ix, entries, deletes)
            except IndexBusy:
                raise
            except Exception as exc:  # a damaged segment fails the writer's merge
                raise IndexUnavailable(f"unreadable: {type(exc).__name__}: {exc}") from exc
        finally:
            lock.release()

    def rebuild(self, entries: list[Entry]) -> None:
        """Replace the index with ``entries``, built aside and swapped in; IndexBusy if another rebuild runs."""
        lock = self._lock(timeout=0)
        try:
            tmp = self.dir.with_name(self.dir.name + ".rebuild")
            old = self.dir.with_name(self.dir.name + ".old")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
            tmp.mkdir(parents=True)
            self._write(index.create_in(str(tmp), _schema()), entries, [])
            if self.dir.exists():
                self.dir.rename(old)
            tmp.rename(self.dir)
            shutil.rmtree(old, ignore_errors=True)
            self._drop_searcher()
        finally:
            lock.release()

    def _drop_searcher(self) -> None:
        cached = getattr(self._local, "cached", None)
        self._local.cached = None
        if cached is not None:
            try:
                cached[1].close()
            except Exception:  # a searcher over a damaged or deleted index may fail to close; it is dropped anyway
                pass

    def _searcher(self):
        """This thread's searcher, kept open between queries while the index is unchanged.

        Opening one costs more than most queries (on a 100,000-entry index ~60 ms: the schema with its jieba
        analyzer is unpickled and every segment file opened). The index directory's inode and modification time
        tell whether it changed: a commit adds a table-of-contents file to it, a rebuild replaces it, in this
        process or another. Searchers are per thread (Whoosh's are not shared between threads).
        IndexUnavailable when the index is missing or cannot be opened."""
        try:
            stat = self.dir.stat()
        except FileNotFoundError:
            self._drop_searcher()
            raise IndexUnavailable("missing") from None
        key = (stat.st_ino, stat.st_mtime_ns)
        cached = getattr(self._local, "cached", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        self._drop_searcher()
        ix = self._open()
        try:
            searcher = ix.searcher()
        except Exception as exc:  # a segment that does not open
            raise IndexUnavailable(f"unreadable: {type(exc).__name__}: {exc}") from exc
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
        already the analysed tokens of the query, so they are found in the text directly.
        Raises IndexUnavailable when the index is missing or a file of it cannot be read (rebuild it)."""
        if not query.strip():
            return []
        searcher = self._searcher()
        fields = ["title", "code", "body"]
        all_words = _without_code_phrases(MultifieldParser(fields, schema=searcher.schema, group=AndGroup).parse(query))
        some_words = lambda: _without_code_phrases(MultifieldParser(  # noqa: E731 - only when needed
            fields, schema=searcher.schema, group=OrGroup.factory(0.9)).parse(query))
        terms = {text for field, text in all_words.iter_all_terms()
                 if field in ("title", "body") and isinstance(text, str)}
        pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I) \
            if terms else None
        try:
            return self._hits(searcher, (all_words, some_words), limit, visible, pattern)
        except Exception as exc:  # reading postings or stored fields of a damaged segment
            self._drop_searcher()
            raise IndexUnavailable(f"unreadable: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _hits(searcher, queries, limit: int, visible, pattern) -> list[Hit]:
        all_words, some_words = queries
        results = searcher.search(all_words, limit=limit * 3 if visible else limit)
        if results.is_empty():  # no entry has every word: the best of those with some of them
            results = searcher.search(some_words(), limit=limit * 3 if visible else limit)
        hits = []
        for r in results:
            if visible is not None and not visible(r["visibility"]):
                continue
            hits.append(Hit(type=r["type"], id=r["id"], title=r["title"], snippet=snippet(r["body"], pattern),
                            url=r["url"], visibility=r["visibility"]))
            if len(hits) == limit:
                break
        return hits


def _without_code_phrases(q):
    """The parsed query without phrase searches on ``code`` (a KEYWORD field keeps no positions: Whoosh raises
    QueryError at search time for ``"a b"``, which would look like a damaged index); title and body keep them."""
    return q.accept(lambda sub: NullQuery if isinstance(sub, Phrase) and sub.fieldname == "code" else sub).normalize()


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
