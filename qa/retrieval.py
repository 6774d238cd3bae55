"""Hybrid retrieval: BM25 and dense vectors fused by reciprocal rank, then cut down to a few
exact sentence-window passages so the model reads little and every offset is exact."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunking import continues_item, in_list_item, split_sentences
from index.embedder import Embedder
from index.schema import Chunk
from index.store import DocRecord, Store
from qa.errors import IndexMissingError
from qa.language import active
from qa.schema import Passage
from qa.settings import RetrievalSettings
from qa.text import content_terms, open_quotation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentenceRules:
    """How qa cuts passages into sentences: the same for retrieval, the reader and the
    citation checker, so a quote is always a span the retriever also saw."""

    fragment_chars: int = 30  # shorter pieces (datelines, "/AP/.") join the next sentence
    quotation_sentences: int = 3  # how far an open quotation is followed to its close
    # A sentence ending in one of these announces what follows it ("To deactivate it, type:"
    # then "deactivate"): a quote that ends with it takes the next sentence too.
    introducers: tuple[str, ...] = (":",)

    def split(self, text: str) -> list[tuple[int, int]]:
        return split_sentences(text, min_chars=self.fragment_chars)

    def points_back(self, sentence: str) -> bool:
        """Whether ``sentence`` opens with a word that points at the sentence before it
        ("It appoints the Commissioners ...": it is the European Council of the one before)."""
        return re.match(active().pointing_opening, sentence.lstrip(), re.IGNORECASE) is not None

    def introduces(self, sentence: str) -> bool:
        """Whether ``sentence`` announces the one after it (ends with one of ``introducers``)."""
        return sentence.rstrip().endswith(self.introducers)


SENTENCES = SentenceRules()


@dataclass(frozen=True)
class RetrieverTuning:
    """How the retriever scores the sentences of the fused chunks (the counts and the fusion
    constant are :class:`qa.settings.RetrievalSettings`)."""

    extra_chunks: int = 2  # best fused chunks read beyond the k passages asked for
    min_chunks: int = 6  # and never fewer
    overlap_weight: float = 0.35  # times the share of the query's words in the sentence
    fused_weight: float = 0.15  # times the chunk's fused score over the best chunk's
    # Neighbouring sentences are joined in a window when only whitespace with at most this
    # many line breaks lies between them. Indenting spaces do not count: a wrapped line of a
    # nested list item ("\n    ") is as close as a wrapped line of prose.
    max_gap_lines: int = 4
    sentences: SentenceRules = SENTENCES  # how chunks are cut (the reader and checker agree)


TUNING = RetrieverTuning()


TOKENS_VERSION = "t2"  # bump when content_terms changes: cached BM25 indexes are rebuilt


def bm25_tokens(text: str) -> list[str]:
    return content_terms(text) or ["_empty_"]


def _bm25s() -> Any:
    """The bm25s package. Its import sets its own logger to DEBUG, which would print "Building
    index from tokens" on every command whatever the application's logging says; that level is
    reset so the logger follows the application's configuration."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class BM25Side:
    """A bm25s index over the visible chunks, cached on disk per index generation."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self.generation: str | None = None
        self.ids: list[str] = []
        self._bm25 = None

    def ensure(self, store: Store, committed: dict[str, DocRecord], generation: str) -> None:
        if self.generation == generation and self._bm25 is not None:
            return
        if not self._load(generation):
            chunks = list(store.iter_chunks(committed))
            self._build(chunks)
            self._save(generation)
        self.generation = generation

    def _build(self, chunks: Sequence[Chunk]) -> None:
        bm25s = _bm25s()

        self.ids = [c.chunk_id for c in chunks]
        self._bm25 = None
        if chunks:
            bm25 = bm25s.BM25()
            bm25.index([bm25_tokens(f"{c.title}\n{c.text}") for c in chunks], show_progress=False)
            self._bm25 = bm25

    def _path(self, generation: str) -> Path | None:
        if self.cache_dir is None or not generation:
            return None
        return self.cache_dir / f"{generation}-{TOKENS_VERSION}"

    def _load(self, generation: str) -> bool:
        bm25s = _bm25s()

        path = self._path(generation)
        if path is None or not (path / "ids.json").exists():
            return False
        try:
            self.ids = json.loads((path / "ids.json").read_text())
            self._bm25 = bm25s.BM25.load(str(path), show_progress=False) if self.ids else None
            return True
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            log.warning("bm25 cache unreadable path=%s error=%r; rebuilding", path, exc)
            return False

    def _save(self, generation: str) -> None:
        path = self._path(generation)
        if path is None:
            return
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp), show_progress=False)
        (tmp / "ids.json").write_text(json.dumps(self.ids))
        for old in path.parent.iterdir():  # keep only the newest generation
            if old != tmp:
                shutil.rmtree(old, ignore_errors=True)
        tmp.rename(path)

    def search(self, query: str, n: int) -> list[tuple[str, float]]:
        if self._bm25 is None or not self.ids:
            return []
        _bm25s()  # the index object needs the package loaded

        k = min(n, len(self.ids))
        docs, scores = self._bm25.retrieve(
            [bm25_tokens(query)], k=k, show_progress=False, n_threads=1
        )
        return [
            (self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0
        ]


@dataclass(frozen=True)
class Candidate:
    chunk: Chunk
    fused: float  # reciprocal-rank-fusion score


def rrf(rankings: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings an id appears in."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class Retriever:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: RetrievalSettings,
        cache_dir: Path | None,
        tuning: RetrieverTuning = TUNING,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.tuning = tuning
        self.bm25 = BM25Side(cache_dir)
        self._marker: str | None = None
        self._committed: dict[str, DocRecord] = {}
        self._total = 0  # chunks in the store (orphans included) at the last refresh
        self._sentence_vecs: dict[tuple[str, int, int], np.ndarray] = {}
        self._lock = threading.RLock()

    # -- index state ---------------------------------------------------------------------------

    def refresh(self) -> dict[str, DocRecord]:
        """Pick up changes committed by any process since the last question."""
        with self._lock:
            marker = self.store.generation_marker()
            if marker != self._marker:
                if self._marker is not None:
                    self.store = self.store.reopened()
                self._committed = self.store.committed()
                self._total = self.store.count_chunks()
                self.bm25.ensure(self.store, self._committed, marker or self.store.generation())
                self._sentence_vecs.clear()
                self._marker = marker
            if not self._committed:
                raise IndexMissingError(
                    "The index is empty: nothing has been indexed yet. Run `qa index seeds/` "
                    "(or `qa index <folder>`) first."
                )
            return self._committed

    # -- search --------------------------------------------------------------------------------

    def candidates(self, query: str, qvec: np.ndarray | None = None) -> list[Candidate]:
        committed = self.refresh()
        n = self.settings.candidates
        if qvec is None:
            qvec = self.embedder.embed([query])[0]
        bm25_ids = [cid for cid, _ in self.bm25.search(query, n)]
        dense_ids, chunks = self._dense(qvec, n, committed, also=bm25_ids)
        fused = rrf([dense_ids, bm25_ids], self.settings.rrf_k)
        return [
            Candidate(chunk=chunks[cid], fused=score)
            for cid, score in sorted(fused.items(), key=lambda kv: -kv[1])
            if cid in chunks
        ]

    def _dense(
        self, qvec: np.ndarray, n: int, committed: dict[str, DocRecord], also: Sequence[str]
    ) -> tuple[list[str], dict[str, Chunk]]:
        """The ``n`` nearest visible chunk ids, and the chunks of those and of ``also``.

        One nearest-neighbour query for ids only, then one read of every chunk the fusion
        needs: at 50k chunks that is about a third of the time of a query that returns the
        texts and metadata, a count and a second read. When invisible chunks (orphans of an
        interrupted run) leave fewer than ``n``, the store's own widening query is used.
        """
        want = min(self._total, n + Store.QUERY_SLACK)
        try:
            got = self.store.chunks.query(
                query_embeddings=[np.asarray(qvec, dtype=np.float32).tolist()],
                n_results=want,
                include=["distances"],
            )
            near = [str(cid) for cid in got["ids"][0]]
        except Exception as exc:  # e.g. chunks deleted since the count: the careful path
            log.debug("dense ids query failed error=%r; using store.query", exc)
            near = []
            want = -1
        visible = [cid for cid in near if _visible_id(cid, committed)][:n]
        if len(visible) < n and want < self._total:
            hits = self.store.query(qvec, n, committed)
            chunks = {h.chunk.chunk_id: h.chunk for h in hits}
            missing = [cid for cid in also if cid not in chunks]
            chunks.update((c.chunk_id, c) for c in self.store.get_chunks(missing))
            return [h.chunk.chunk_id for h in hits], chunks
        wanted = list(dict.fromkeys([*visible, *also]))
        return visible, {c.chunk_id: c for c in self.store.get_chunks(wanted)}

    def passages(self, query: str, k: int | None = None) -> list[Passage]:
        """The best ``k`` sentence windows for ``query``, numbered 1..k, best first."""
        k = k or self.settings.k
        t = self.tuning
        qvec = self.embedder.embed([query])[0]
        cands = self.candidates(query, qvec)[: max(k + t.extra_chunks, t.min_chunks)]
        if not cands:
            return []
        sents = self._sentences(cands, self._neighbours(cands))
        scored = [i for i, s in enumerate(sents) if not s.context]
        sims = np.full(len(sents), -np.inf)
        sims[scored] = self._vectors([sents[i] for i in scored]) @ qvec
        qterms = set(content_terms(query))
        best_fused = cands[0].fused
        scores = []
        for i, s in enumerate(sents):
            if s.context:
                scores.append(-np.inf)  # joins a window, never starts one
                continue
            overlap = len(qterms & set(content_terms(s.text))) / max(1, len(qterms))
            fused = s.fused / best_fused
            scores.append(float(sims[i]) + t.overlap_weight * overlap + t.fused_weight * fused)
        # Windows are chosen best first until they make k passages once neighbours are
        # joined, or until they hold the tokens of k full windows: six windows around one
        # paragraph join into one or two passages, and the sentence that answers ("There is
        # more detail on this process in PEP 3147.") often sits a little further down.
        texts = [" ".join(s.text.split()) for s in sents]  # to find a page's repeated chrome
        chosen: list[tuple[int, int, int]] = []  # (doc index lo, hi, best sentence)
        merged: list[tuple[int, int, int]] = []
        budget = k * self.settings.passage_tokens
        used = 0
        for i in np.argsort(scores)[::-1]:
            if len(merged) >= k or used >= budget or sents[i].context:
                break  # context sentences score -inf: they come last
            if any(lo <= i <= hi for lo, hi, _ in chosen):
                continue
            if _repeats(sents, texts, int(i), chosen):
                continue
            lo, hi, tokens = self._window(sents, int(i), chosen)
            chosen.append((lo, hi, int(i)))
            used += tokens
            merged = _merge_adjacent(sents, chosen, scores, t.max_gap_lines)
        out = []
        for n, (lo, hi, best) in enumerate(merged, start=1):
            first, last = sents[lo], sents[hi]
            start, end = first.start, last.end
            text = _span_text(sents, lo, hi, t.max_gap_lines)
            out.append(
                Passage(
                    n=n,
                    doc_id=first.chunk.doc_id,
                    title=first.chunk.title,
                    text=text,
                    start=start,
                    end=end,
                    line=first.line,
                    page=first.chunk.page,
                    score=round(scores[best], 4),
                    similarity=round(float(sims[best]), 4),
                    path=first.chunk.metadata.get("path", ""),
                )
            )
        return out

    # -- sentence windows ----------------------------------------------------------------------

    def _neighbours(self, cands: Sequence[Candidate]) -> list[Chunk]:
        """The chunks just before and after each candidate that are not candidates: a
        window grows into them, so a sentence on a chunk boundary keeps its neighbours (an
        option's "Default: 1000" on the line after its description)."""
        have = {c.chunk.chunk_id for c in cands}
        want: list[str] = []
        for cand in cands:
            parts = _id_parts(cand.chunk.chunk_id)
            if parts is None or not parts[2].isdigit():
                continue
            for n in (int(parts[2]) - 1, int(parts[2]) + 1):
                cid = f"{parts[0]}::{parts[1]}::{n}"
                if n >= 0 and cid not in have:
                    have.add(cid)
                    want.append(cid)
        return self.store.get_chunks(want)

    def _sentences(
        self, cands: Sequence[Candidate], context: Sequence[Chunk] = ()
    ) -> list[_Sentence]:
        """The sentences of the candidate chunks, and of the ``context`` chunks marked as
        context: a window may take them, but they are not scored or chosen."""
        seen: dict[tuple[str, int], _Sentence] = {}
        scored = {c.chunk.chunk_id for c in cands}
        for cand in [*cands, *(Candidate(chunk=c, fused=0.0) for c in context)]:
            c = cand.chunk
            base_line = int(c.metadata.get("line") or 1)
            for a, b in self.tuning.sentences.split(c.text):
                key = (c.doc_id, c.start + a)
                if key in seen:
                    continue
                seen[key] = _Sentence(
                    chunk=c,
                    start=c.start + a,
                    end=c.start + b,
                    text=c.text[a:b],
                    line=base_line + c.text.count("\n", 0, a),
                    fused=cand.fused,
                    context=cand.chunk.chunk_id not in scored,
                )
        # Order by document then position, so neighbours in the list are neighbours in the text.
        ordered = sorted(seen.values(), key=lambda s: (s.chunk.doc_id, s.start))
        # A chunk that begins inside a paragraph may cut it into other sentences than the
        # chunk before did ("This option makes sense only if" alone on its first line looks
        # like a title): a context sentence that overlaps another sentence is left out.
        out: list[_Sentence] = []
        for i, s in enumerate(ordered):
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            if s.context and (
                (out and out[-1].chunk.doc_id == s.chunk.doc_id and s.start < out[-1].end)
                or (nxt is not None and nxt.chunk.doc_id == s.chunk.doc_id and nxt.start < s.end)
            ):
                continue
            out.append(s)
        return out

    def _vectors(self, sents: Sequence[_Sentence]) -> np.ndarray:
        keys = [(s.chunk.doc_id, s.start, s.end) for s in sents]
        todo = [i for i, key in enumerate(keys) if key not in self._sentence_vecs]
        if todo:
            new = self.embedder.embed([sents[i].text for i in todo])
            for i, vec in zip(todo, new, strict=True):
                self._sentence_vecs[keys[i]] = vec
        return np.stack([self._sentence_vecs[key] for key in keys])

    def _window(self, sents: Sequence[_Sentence], i: int, chosen) -> tuple[int, int, int]:
        """Grow sentence i by up to ``window`` neighbours each side within the token budget:
        the window's first and last sentence, and its tokens."""
        budget = self.settings.passage_tokens
        gap = self.tuning.max_gap_lines
        lo = hi = i
        used = self.embedder.count_tokens(sents[i].text)
        taken = {j for a, b, _ in chosen for j in range(a, b + 1)}
        for _ in range(self.settings.window):
            for j in (hi + 1, lo - 1):
                if not 0 <= j < len(sents) or j in taken or sents[j].context:
                    continue
                if sents[j].chunk.doc_id != sents[i].chunk.doc_id or not _adjacent(
                    sents, min(j, lo), max(j, hi), gap
                ):
                    continue
                cost = self.embedder.count_tokens(sents[j].text)
                if used + cost > budget:
                    continue
                used += cost
                lo, hi = min(lo, j), max(hi, j)
        rules = self.tuning.sentences
        # A quotation runs on to its attribution ("..., the mayor said on Tuesday."): who
        # said it and when are only there. Follow it, past the budget, for a few sentences.
        lo, hi, used = self._run_on(
            sents,
            lo,
            hi,
            used,
            taken,
            lambda last: open_quotation(" ".join(s.text for s in sents[lo : last + 1])),
        )
        # A window that ends on a sentence announcing the next ("Author:", "The options
        # are:") takes that next sentence too, past the budget: what it announces is there.
        lo, hi, used = self._run_on(
            sents, lo, hi, used, taken, lambda last: rules.introduces(sents[last].text)
        )
        # A window inside a list item takes the whole item, past the budget, both ways: an
        # option's name opens it and its default often closes it ("**Default:** `30`.").
        item = lambda a: _item_goes_on(sents, a)  # noqa: E731
        lo, hi, used = self._run_on(sents, lo, hi, used, taken, item)
        lo, hi, used = self._run_on(sents, lo, hi, used, taken, item, back=True)
        return lo, hi, used

    def _run_on(
        self,
        sents: Sequence[_Sentence],
        lo: int,
        hi: int,
        used: int,
        taken: set[int],
        joins: Callable[[int], bool],
        back: bool = False,
    ) -> tuple[int, int, int]:
        """Extend the window ``lo..hi`` (``used`` tokens) past its budget, one sentence of its
        document at a time (the following one, or with ``back`` the preceding one) and at
        most ``quotation_sentences``, while ``joins(a)``: sentence a+1 goes with sentence a.
        The window's new first and last sentence, and its tokens."""
        gap = self.tuning.max_gap_lines
        for _ in range(self.tuning.sentences.quotation_sentences):
            j = lo - 1 if back else hi + 1
            a = j if back else hi  # the first of the pair that must join
            if (
                not 0 <= j < len(sents)
                or j in taken
                or sents[j].chunk.doc_id != sents[lo].chunk.doc_id
                or not _adjacent(sents, a, a + 1, gap)
                or not joins(a)
            ):
                break
            lo, hi = min(lo, j), max(hi, j)
            used += self.embedder.count_tokens(sents[j].text)
        return lo, hi, used


def _item_goes_on(sents: Sequence[_Sentence], j: int) -> bool:
    """Whether sentence j lies in a list item that sentence j+1 goes on with."""
    if j + 1 >= len(sents):
        return False
    gap = _gap(sents, j + 1, most=1)
    if gap is None or not continues_item(gap, sents[j + 1].text):
        return False
    # Is sentence j in an item? Its chunk may begin inside the paragraph: then the
    # sentences before it, back to the paragraph's start, tell.
    for i in range(j, -1, -1):
        c = sents[i].chunk
        inside = in_list_item(c.text, sents[i].start - c.start)
        if inside is not None:
            return inside
        if i == 0 or _gap(sents, i, most=1) is None:
            return False
    return False


def _repeats(
    sents: Sequence[_Sentence],
    texts: Sequence[str],
    i: int,
    chosen: Sequence[tuple[int, int, int]],
) -> bool:
    """Whether sentence i says word for word (``texts``: the sentences, whitespace collapsed)
    what a sentence of a chosen window of its document says: a page's repeated chrome (a table
    of contents, a running header, a title shown twice) would otherwise fill several passages
    with one text."""
    doc = sents[i].chunk.doc_id
    return any(
        sents[lo].chunk.doc_id == doc and texts[i] in texts[lo : hi + 1] for lo, hi, _ in chosen
    )


def _id_parts(chunk_id: str) -> list[str] | None:
    """A chunk id's ``<doc_id>``, ``<hash16>`` and ``<n>`` (index.chunking), else None."""
    parts = chunk_id.rsplit("::", 2)
    return parts if len(parts) == 3 else None


def _visible_id(chunk_id: str, committed: dict[str, DocRecord]) -> bool:
    """A chunk id is visible when its document is committed with its hash."""
    parts = _id_parts(chunk_id)
    if parts is None:
        return False
    rec = committed.get(parts[0])
    return rec is not None and rec.content_hash == parts[1]


@dataclass(frozen=True)
class _Sentence:
    chunk: Chunk
    start: int
    end: int
    text: str
    line: int
    fused: float
    context: bool = False  # from a neighbouring chunk: joins a window, never starts one


def _merge_adjacent(sents, chosen, scores, gap: int):
    """Join windows that touch in the same document, so a fact and its attribution stay together.

    Keeps the order of the best window of each merged group (best first).
    """
    groups: list[list[int]] = []
    for lo, hi, best in sorted(chosen):
        if groups and groups[-1][1] + 1 == lo and _adjacent(sents, groups[-1][1], lo, gap):
            g = groups[-1]
            g[1] = hi
            if scores[best] > scores[g[2]]:
                g[2] = best
        else:
            groups.append([lo, hi, best])
    return [tuple(g) for g in sorted(groups, key=lambda g: -scores[g[2]])]


def _gap(sents: Sequence[_Sentence], j: int, most: int) -> str | None:
    """The exact text between sentence j-1 and sentence j, if a chunk holds it and it is
    whitespace with at most ``most`` line breaks."""
    a, b = sents[j - 1], sents[j]
    if a.chunk.doc_id != b.chunk.doc_id or b.start < a.end:
        return None
    for chunk in (b.chunk, a.chunk):
        if chunk.start <= a.end and b.start <= chunk.end:
            text = chunk.text[a.end - chunk.start : b.start - chunk.start]
            return text if not text.strip() and text.count("\n") <= most else None
    return None


def _adjacent(sents: Sequence[_Sentence], lo: int, hi: int, gap: int) -> bool:
    """True when sentences lo..hi are consecutive in their document (no unseen text between,
    only whitespace with at most ``gap`` line breaks between)."""
    return all(_gap(sents, j, gap) is not None for j in range(lo + 1, hi + 1))


def _span_text(sents: Sequence[_Sentence], lo: int, hi: int, gap: int) -> str:
    """The exact document text from sentence lo's start to sentence hi's end."""
    parts = [sents[lo].text]
    for j in range(lo + 1, hi + 1):
        parts.append(_gap(sents, j, gap) or "")
        parts.append(sents[j].text)
    return "".join(parts)
