"""The Chroma store: chunk vectors plus one committed record per document.

Chroma is the only record of what is indexed, so the two can never drift apart.
A document's chunks carry its *version*: its content hash together with the key of the
chunker that cut them (:func:`chunk_version`). A document is *committed* when its record
in the ``<prefix>-docs`` collection names that version; readers only see chunks whose version
matches a committed record. Writing new chunks, then the record, then deleting the old
chunks means an interrupted run leaves only invisible orphans, which the next run purges,
whether the text changed or only the chunker did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.schema import MINILM_VARIANTS, Chunk, Document

log = logging.getLogger(__name__)

STATE_ID = "__state__"


class StoreError(RuntimeError):
    """The vector store could not be opened or used; the message says how to fix it."""


@dataclass(frozen=True)
class DocRecord:
    """One committed document. ``content_hash`` is the version its visible chunks carry
    (:func:`chunk_version`), ``source_hash`` the file's own content hash and ``chunker`` the
    key of the chunker that cut it ("" in an index from before chunker keys were recorded)."""

    doc_id: str
    path: str
    root: str
    title: str
    content_hash: str
    chunks: int
    page_starts: tuple[int, ...] = ()
    source_hash: str = ""
    chunker: str = ""


def chunk_version(content_hash: str, chunker: str) -> str:
    """The version of a document's chunks: its content hash as cut by the chunker ``chunker``.

    Re-chunking unchanged text writes a new version beside the old one, which stays the visible
    one until the new record is committed. Without a key (an index from before chunker keys,
    or a caller of the store itself) it is the content hash.
    """
    if not chunker:
        return content_hash
    return hashlib.sha256(f"{content_hash[:16]}\n{chunker}".encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # cosine similarity for vector hits


def _client(data_dir: Path, host: str | None, port: int) -> Any:
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
    if host:
        try:
            client = chromadb.HttpClient(host=host, port=port, settings=config)
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"Cannot reach the Chroma server at {host}:{port} ({exc}). Start it with "
                f"`chroma run --host {host} --port {port}`, or unset QA_CHROMA_HOST to use the embedded store."
            ) from exc
        return client
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=config)


class Store:
    PAGE = 5000  # records read per get when reading a whole collection
    QUERY_SLACK = 8  # nearest chunks asked for beyond n (invisible orphans may be among them)
    QUERY_WIDEN = 4  # and, while too few are visible, times as many again
    DELETE_BATCH = 100  # documents' deletions joined into one delete call

    def __init__(
        self, client: Any, prefix: str = "qa", remote: bool = False, data_dir: Path | None = None
    ) -> None:
        self.client = client
        self.remote = remote
        self.prefix = prefix
        self.data_dir = data_dir
        self.chunks = client.get_or_create_collection(
            f"{prefix}-chunks", embedding_function=None, metadata={"hnsw:space": "cosine"}
        )
        self.docs = client.get_or_create_collection(f"{prefix}-docs", embedding_function=None)
        self._batch = max(1, min(1000, int(client.get_max_batch_size())))

    @classmethod
    def open(
        cls, data_dir: Path, host: str | None = None, port: int = 8000, prefix: str = "qa"
    ) -> Store:
        return cls(
            _client(Path(data_dir), host, port),
            prefix=prefix,
            remote=bool(host),
            data_dir=Path(data_dir),
        )

    def generation_marker(self) -> str:
        """Changes whenever any process commits a change to this index.

        The embedded store also writes it to a small file, because a long-lived client does
        not see another process's writes until it is reopened (see :meth:`reopened`).
        """
        if not self.remote and self.data_dir is not None:
            try:
                return (self.data_dir / "generation").read_text().strip()
            except FileNotFoundError:
                return ""
        return self.generation()

    def reopened(self) -> Store:
        """A fresh client on the same store, seeing every other process's writes."""
        if self.remote:
            return self
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        assert self.data_dir is not None
        return Store.open(self.data_dir, prefix=self.prefix)

    # -- reading ---------------------------------------------------------------------------

    def committed(self) -> dict[str, DocRecord]:
        out: dict[str, DocRecord] = {}
        # In pages: one get of every record fails past ~32k documents ("too many SQL variables").
        offset = 0
        while True:
            got = self.docs.get(include=["metadatas"], limit=self.PAGE, offset=offset)
            if not got["ids"]:
                return out
            offset += len(got["ids"])
            for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
                if doc_id == STATE_ID or not meta:
                    continue
                out[doc_id] = DocRecord(
                    doc_id=doc_id,
                    path=str(meta.get("path", "")),
                    root=str(meta.get("root", "")),
                    title=str(meta.get("title", doc_id)),
                    content_hash=str(meta.get("hash", "")),
                    chunks=int(meta.get("chunks", 0)),
                    page_starts=tuple(json.loads(str(meta.get("pages", "[]")))),
                    source_hash=str(meta.get("source_hash", meta.get("hash", ""))),
                    chunker=str(meta.get("chunker", "")),
                )

    def state(self) -> dict[str, Any]:
        got = self.docs.get(ids=[STATE_ID], include=["metadatas"])
        if got["ids"] and got["metadatas"]:
            return dict(got["metadatas"][0] or {})
        return {}

    def generation(self) -> str:
        return str(self.state().get("generation", ""))

    def document_text(self, doc_id: str) -> str | None:
        got = self.docs.get(ids=[doc_id], include=["documents"])
        if got["ids"] and got["documents"]:
            return got["documents"][0]
        return None

    def count_chunks(self) -> int:
        return int(self.chunks.count())

    def query(self, vector: np.ndarray, n: int, committed: dict[str, DocRecord]) -> list[Hit]:
        total = self.count_chunks()
        if total == 0:
            return []
        # Invisible chunks (orphans of an interrupted run) can crowd the nearest ones out,
        # so ask for more until n visible hits are found or every chunk was considered.
        want = min(total, n + self.QUERY_SLACK)
        while True:
            got = self.chunks.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
                n_results=want,
                include=["documents", "metadatas", "distances"],
            )
            hits = []
            for cid, text, meta, dist in zip(
                got["ids"][0],
                got["documents"][0],
                got["metadatas"][0],
                got["distances"][0],
                strict=False,
            ):
                if _visible(meta, committed):
                    hits.append(Hit(_chunk(cid, text, meta), 1.0 - float(dist)))
            if len(hits) >= n or want >= total:
                return hits[:n]
            want = min(total, want * self.QUERY_WIDEN)

    def iter_chunks(self, committed: dict[str, DocRecord]) -> Iterator[Chunk]:
        """Every visible chunk, in pages (for building the BM25 side)."""
        offset, page = 0, self.PAGE
        while True:
            got = self.chunks.get(include=["documents", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            for cid, text, meta in zip(
                got["ids"], got["documents"], got["metadatas"], strict=False
            ):
                if _visible(meta, committed):
                    yield _chunk(cid, text, meta)
            offset += len(got["ids"])

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk(cid, text, meta)
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        }
        return [by_id[i] for i in ids if i in by_id]

    def close(self) -> None:
        """Release the Chroma client.

        Embedded clients of one path share a single in-process system that keeps the
        vector index it loaded, so vectors another process adds later are not searched
        until every Store of that path in this process is closed and one is opened again.
        """
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    # -- writing ---------------------------------------------------------------------------

    def add_chunks(
        self,
        doc: Document,
        root: str,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        chunker: str = "",
    ) -> None:
        self.add_many([(doc, chunks, vectors)], chunker=chunker)

    def add_many(
        self,
        items: Sequence[tuple[Document, Sequence[Chunk], np.ndarray]],
        chunker: str = "",
    ) -> None:
        """Write the chunks of several documents (invisible until each is committed), in as
        few calls as Chroma's batch limit allows. The chunks are those ``chunker`` cut (their
        ids name :func:`chunk_version` of the document's hash with it)."""
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        rows: list[np.ndarray] = []
        for doc, chunks, vectors in items:
            lines = _lines_at(doc.text, [c.start for c in chunks])
            version = chunk_version(doc.content_hash, chunker)[:16]
            for c, line in zip(chunks, lines, strict=True):
                meta: dict[str, Any] = {
                    "doc_id": c.doc_id,
                    "hash": version,
                    "title": c.title,
                    "path": doc.path,
                    "start": c.start,
                    "end": c.end,
                    "line": line,
                }
                if c.page is not None:
                    meta["page"] = c.page
                ids.append(c.chunk_id)
                texts.append(c.text)
                metas.append(meta)
            rows.append(np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1))
        if not ids:
            return
        matrix = np.concatenate(rows)
        for lo in range(0, len(ids), self._batch):
            hi = lo + self._batch
            self.chunks.upsert(
                ids=ids[lo:hi],
                embeddings=matrix[lo:hi],
                documents=texts[lo:hi],
                metadatas=metas[lo:hi],
            )

    def commit(self, doc: Document, root: str, n_chunks: int, chunker: str = "") -> None:
        """Make ``doc``'s chunks (its current hash, cut by ``chunker``) the visible ones."""
        self.commit_many([(doc, root, n_chunks)], chunker=chunker)

    def commit_many(self, items: Sequence[tuple[Document, str, int]], chunker: str = "") -> None:
        """Commit several documents (``(doc, root, n_chunks)``), all cut by ``chunker``, in as
        few calls as possible."""
        for lo in range(0, len(items), self._batch):
            part = items[lo : lo + self._batch]
            self.docs.upsert(
                ids=[doc.doc_id for doc, _, _ in part],
                embeddings=[[1.0]] * len(part),
                documents=[doc.text for doc, _, _ in part],
                metadatas=[
                    {
                        "path": doc.path,
                        "root": root,
                        "title": doc.title,
                        "hash": chunk_version(doc.content_hash, chunker)[:16],
                        "source_hash": doc.content_hash[:16],
                        "chunker": chunker,
                        "chunks": n_chunks,
                        "pages": json.dumps(list(doc.page_starts)),
                    }
                    for doc, root, n_chunks in part
                ],
            )

    def uncommit(self, doc_id: str) -> None:
        self.uncommit_many([doc_id])

    def uncommit_many(self, doc_ids: Sequence[str]) -> None:
        """Drop the records of ``doc_ids``: their chunks are invisible from now on."""
        for lo in range(0, len(doc_ids), self._batch):
            self.docs.delete(ids=list(doc_ids[lo : lo + self._batch]))

    def delete_stale_chunks(self, doc_id: str, keep_hash: str | None) -> None:
        """Delete ``doc_id``'s chunks except those of ``keep_hash`` (all of them when None)."""
        self.delete_stale_many([(doc_id, keep_hash)])

    def delete_stale_many(self, docs: Sequence[tuple[str, str | None]]) -> None:
        """:meth:`delete_stale_chunks` for several documents in one call."""
        wheres: list[dict[str, Any]] = []
        for doc_id, keep_hash in docs:
            if keep_hash is None:
                wheres.append({"doc_id": doc_id})
            else:
                wheres.append({"$and": [{"doc_id": doc_id}, {"hash": {"$ne": keep_hash[:16]}}]})
        step = self.DELETE_BATCH
        for lo in range(0, len(wheres), step):
            part = wheres[lo : lo + step]
            self.chunks.delete(where=part[0] if len(part) == 1 else {"$or": part})

    def delete_version(self, doc_id: str, content_hash: str) -> None:
        """Delete the chunks of one version of ``doc_id`` (an abandoned partial write)."""
        self.chunks.delete(where={"$and": [{"doc_id": doc_id}, {"hash": content_hash[:16]}]})

    def written_chunks(self, chunks: Sequence[Chunk]) -> set[str]:
        """Which of ``chunks`` are already stored with the same text (a resumed write).

        Chunks of the same document version that are not among ``chunks`` (left by a run
        that cut the text differently) are deleted, so a commit shows exactly ``chunks``.
        """
        if not chunks:
            return set()
        doc_id, want = chunks[0].doc_id, {c.chunk_id: c.text for c in chunks}
        version = chunks[0].chunk_id.split("::")[-2]
        got = self.chunks.get(
            where={"$and": [{"doc_id": doc_id}, {"hash": version}]}, include=["documents"]
        )
        extra = [cid for cid in got["ids"] if cid not in want]
        for lo in range(0, len(extra), self._batch):
            self.chunks.delete(ids=extra[lo : lo + self._batch])
        return {
            cid
            for cid, text in zip(got["ids"], got["documents"] or [], strict=False)
            if want.get(cid) == text
        }

    def purge_orphans(self, keep: Collection[tuple[str, str]] = ()) -> int:
        """Delete chunks no committed record points at (left by an interrupted run), except
        those of the ``(doc_id, hash)`` versions in ``keep`` (partial writes to resume)."""
        committed = self.committed()
        kept = {(doc_id, h[:16]) for doc_id, h in keep}
        stale: list[str] = []
        offset, page = 0, self.PAGE
        while True:
            got = self.chunks.get(include=["metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                break
            stale.extend(
                cid
                for cid, meta in zip(got["ids"], got["metadatas"], strict=False)
                if not _visible(meta, committed)
                and (str((meta or {}).get("doc_id")), str((meta or {}).get("hash"))) not in kept
            )
            offset += len(got["ids"])
        for lo in range(0, len(stale), self._batch):
            self.chunks.delete(ids=stale[lo : lo + self._batch])
        return len(stale)

    def set_state(self, **values: Any) -> None:
        meta = self.state()
        meta.update(values)
        self.docs.upsert(ids=[STATE_ID], embeddings=[[1.0]], documents=[""], metadatas=[meta])

    def bump_generation(self, dirty: bool = False) -> str:
        """Tell readers the index changed. ``dirty`` keeps the interrupted-run flag set."""
        gen = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        self.set_state(generation=gen, dirty=dirty)
        if not self.remote and self.data_dir is not None:
            tmp = self.data_dir / f"generation.tmp{os.getpid()}"
            tmp.write_text(gen)
            os.replace(tmp, self.data_dir / "generation")
        return gen


def _lines_at(text: str, offsets: Sequence[int]) -> list[int]:
    """The 1-based line of each offset, counting newlines once over the text (a 20 MB file
    has some 20,000 chunks: counting from the start for each one took minutes)."""
    order = sorted(range(len(offsets)), key=lambda i: offsets[i])
    out = [0] * len(offsets)
    line, pos = 1, 0
    for i in order:
        at = max(0, offsets[i])
        if at > pos:
            line += text.count("\n", pos, at)
            pos = at
        out[i] = line
    return out


def _visible(meta: dict[str, Any] | None, committed: dict[str, DocRecord]) -> bool:
    if not meta:
        return False
    rec = committed.get(str(meta.get("doc_id")))
    return rec is not None and rec.content_hash == meta.get("hash")


def _chunk(cid: str, text: str | None, meta: dict[str, Any]) -> Chunk:
    page = meta.get("page")
    return Chunk(
        chunk_id=cid,
        doc_id=str(meta["doc_id"]),
        title=str(meta.get("title", "")),
        text=text or "",
        start=int(meta["start"]),
        end=int(meta["end"]),
        page=int(page) if page is not None else None,
        metadata={"path": str(meta.get("path", "")), "line": str(meta.get("line", ""))},
    )


# -- which embedder built the index -----------------------------------------------------------


@dataclass(frozen=True)
class EmbedderRecord:
    """The embedder whose vectors an index holds; vectors of another one cannot be compared."""

    mode: str
    model: str
    dim: int

    def describe(self) -> str:
        return f"{self.model} ({self.mode}, dim {self.dim})"

    def setting(self) -> str:
        if self.mode == "openai":
            return f"QA_EMBED_MODE=openai with QA_EMBED_MODEL={self.model}"
        if self.mode == "local" and self.model in MINILM_VARIANTS:
            return f"QA_EMBED_MODE=local with QA_EMBED_INT8={MINILM_VARIANTS[self.model]}"
        return f"QA_EMBED_MODE={self.mode}"


class EmbedderMismatchError(StoreError):
    """The index was built with another embedder than the current one."""


def recorded_embedder(store: Store) -> EmbedderRecord | None:
    state = store.state()
    if "embed_model" not in state:
        return None
    return EmbedderRecord(
        mode=str(state.get("embed_mode", "")),
        model=str(state["embed_model"]),
        dim=int(state.get("embed_dim", 0)),
    )


def check_embedder(store: Store, current: EmbedderRecord, write: bool = False) -> None:
    """Refuse to mix embedders in one index; record the current one when about to ``write``.

    An index made before embedders were recorded has no record: reading it is allowed (only
    a dimension mismatch with its stored vectors is refused), and the first write records
    the current embedder. An index without chunks takes the current embedder on a write.
    """
    where = f"The index {store.prefix!r} on the Chroma server"
    if store.data_dir and not store.remote:
        where = f"The index in {store.data_dir}/"
    fix = "Re-index into a new --data-dir (or QA_DATA_DIR) with the current embedder, or set "
    recorded = recorded_embedder(store)
    if recorded is None:
        stored = _stored_dim(store)
        if stored and stored != current.dim:
            raise EmbedderMismatchError(
                f"{where} holds {stored}-dimensional vectors; the current embedder is "
                f"{current.describe()}. {fix}QA_EMBED_MODE back to the embedder that built it."
            )
    elif recorded != current:
        if not (write and store.count_chunks() == 0):
            raise EmbedderMismatchError(
                f"{where} was built with embedder {recorded.describe()}; the current setting is "
                f"{current.describe()}. {fix}{recorded.setting()} to use this index."
            )
        log.info("empty index takes embedder old=%s new=%s", recorded, current)
    else:
        return
    if write:
        store.set_state(embed_mode=current.mode, embed_model=current.model, embed_dim=current.dim)


def _stored_dim(store: Store) -> int:
    got = store.chunks.get(limit=1, include=["embeddings"])
    embeddings = got.get("embeddings")
    if embeddings is None or len(embeddings) == 0:
        return 0
    return len(embeddings[0])


# -- which chunker cut the documents ----------------------------------------------------------


def stale_chunker(records: Iterable[DocRecord], current: str) -> list[DocRecord]:
    """The records cut by another chunker than the one of key ``current`` (or by one from
    before keys were recorded)."""
    return [r for r in records if r.chunker != current]
