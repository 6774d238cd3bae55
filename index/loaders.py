"""Turn files into :class:`Document` text: .txt, .md, .html (visible text) and .pdf (with pages).

Every loader returns the exact text that chunk offsets point into. A file that cannot be
read as text raises :class:`LoadError` with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index.schema import Document

log = logging.getLogger(__name__)


class LoadError(Exception):
    """A file was skipped; the message says why."""


@dataclass(frozen=True)
class Source:
    """A file to index and the root it was found under (for a stable doc id)."""

    path: Path
    root: Path

    @property
    def doc_id(self) -> str:
        return make_doc_id(self.path, self.root)


def make_doc_id(path: Path, root: Path) -> str:
    """``<root name>/<path relative to root>``; a single file indexed alone is its own root."""
    path, root = path.resolve(), root.resolve()
    if path == root:
        return path.name
    return f"{root.name}/{path.relative_to(root).as_posix()}"


def walk(target: Path, extensions: list[str]) -> Iterator[Source]:
    """Files under ``target`` (recursively, sorted, hidden entries skipped) with an indexed extension."""
    target = target.resolve()
    if target.is_file():
        yield Source(target, target)
        return
    exts = {e.lower() for e in extensions}
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in exts:
            yield Source(path, target)


def load(source: Source, max_bytes: int | None = None) -> Document:
    path = source.path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot be read ({exc.strerror or exc})") from exc
    if max_bytes is not None and len(data) > max_bytes:
        raise LoadError(
            f"is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit (QA_INDEX_MAX_FILE_MB)"
        )
    if not data.strip():
        raise LoadError("is empty")
    suffix = path.suffix.lower()
    page_starts: tuple[int, ...] = ()
    if suffix == ".pdf":
        text, page_starts = _pdf_text(data)
    else:
        raw = _decode(data)
        text = _html_text(raw) if suffix in (".html", ".htm") else raw
    if not text.strip():
        raise LoadError("has no extractable text")
    return Document(
        doc_id=source.doc_id,
        path=str(path),
        title=_title(text, path, suffix),
        text=text,
        content_hash=hashlib.sha256(data).hexdigest(),
        page_starts=page_starts,
    )


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("looks binary (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"is not valid UTF-8 (byte {exc.start}); convert it with `iconv -t UTF-8`"
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "blockquote", "pre", "title", "dt", "dd",
}  # fmt: skip


def _html_text(raw: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]):
        if tag.name == "head":
            title = tag.find("title")
            tag.replace_with(f"{title.get_text()}\n\n" if title else "")
        else:
            tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _pdf_text(data: bytes) -> tuple[str, tuple[int, ...]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except LoadError:
        raise
    except (PdfReadError, Exception) as exc:  # pypdf raises many kinds on broken files
        raise LoadError(f"is not a readable PDF ({type(exc).__name__}: {exc})") from exc
    parts, starts, offset = [], [], 0
    for page in pages:
        page = _clean_pdf_page(page)
        starts.append(offset)
        parts.append(page)
        offset += len(page) + 2
    return "\n\n".join(parts), tuple(starts)


def _clean_pdf_page(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "")
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)  # words hyphenated across lines
    return re.sub(r"[ \t]+", " ", text).strip()


def _title(text: str, path: Path, suffix: str) -> str:
    if suffix in (".md", ".markdown"):
        for line in text.splitlines():
            m = re.match(r"\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1)[:200]
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if len(line) >= 3 and line.lower() not in {"all news", "news", "home", "menu"}:
            return line[:200]
    return path.stem
