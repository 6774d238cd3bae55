"""Turn files into :class:`Document` text: .txt, .md, .html (visible text) and .pdf (with pages).

Every loader returns the exact text that chunk offsets point into. A file that cannot be
read as text raises :class:`LoadError` with a reason a person can act on. Text that is not
UTF-8 is decoded from the encoding charset-normalizer detects (see :func:`decode`).
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True)
class Loaded:
    """A loaded document and the encoding its bytes were decoded from (None: UTF-8 or PDF)."""

    doc: Document
    encoding: str | None = None


SkipFn = Callable[[str, str], None]


def display_path(path: Path | str) -> str:
    """``path`` as text that any UTF-8 consumer accepts: bytes that are not UTF-8 in a file
    name (``caf\\xe9.txt``) are written as ``\\xe9`` escapes instead of lone surrogates."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


def make_doc_id(path: Path, root: Path) -> str:
    """``<root name>/<path relative to root>``; a single file indexed alone is its own root.

    A name that is not valid UTF-8 is escaped (see :func:`display_path`), because the store
    only holds UTF-8 text.
    """
    path, root = path.resolve(), root.resolve()
    if path == root:
        return display_path(path.name)
    return display_path(f"{root.name}/{path.relative_to(root).as_posix()}")


def walk(target: Path, extensions: list[str], on_skip: SkipFn | None = None) -> Iterator[Source]:
    """Files under ``target`` (recursively, sorted, hidden entries skipped) with an indexed extension.

    Links are followed only while they stay inside ``target``; a link out of it, a link
    loop, a broken link and a folder that cannot be read are reported to ``on_skip(path,
    reason)`` (logged as a warning when there is none) and left out. A file reached twice
    (through a link inside the folder) is indexed once.
    """
    skip = on_skip or _log_skip
    target = target.resolve()
    if target.is_file():
        yield Source(target, target)
        return
    walker = _Walker(target, {e.lower() for e in extensions}, skip)
    yield from walker.folder(str(target), str(target))


def _log_skip(path: str, reason: str) -> None:
    log.warning("skipped path=%s reason=%r", path, reason)


class _Walker:
    def __init__(self, root: Path, exts: set[str], skip: SkipFn) -> None:
        self.root = str(root)
        self.exts = exts
        self.skip = skip
        self.files: set[str] = set()  # real paths already yielded
        self.folders: set[str] = set()  # real paths already walked

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def _wanted(self, name: str) -> bool:
        return os.path.splitext(name)[1].lower() in self.exts

    def folder(self, shown: str, real: str) -> Iterator[Source]:
        """Walk the folder ``real`` (the path it resolves to), reached as ``shown``."""
        self.folders.add(real)
        try:
            with os.scandir(shown) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.skip(
                display_path(shown),
                f"is a folder that cannot be read ({exc.strerror or exc}); its files are not indexed",
            )
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_symlink():
                    yield from self._link(entry, real)
                elif entry.is_dir(follow_symlinks=False):
                    yield from self.folder(entry.path, os.path.join(real, entry.name))
                elif entry.is_file(follow_symlinks=False) and self._wanted(entry.name):
                    yield from self._file(entry.path, os.path.join(real, entry.name))
            except OSError as exc:  # vanished or unreadable while walking
                if self._wanted(entry.name) or entry.is_dir():
                    self.skip(display_path(entry.path), f"cannot be read ({exc.strerror or exc})")

    def _file(self, shown: str, real: str) -> Iterator[Source]:
        if real not in self.files:
            self.files.add(real)
            yield Source(Path(shown), Path(self.root))

    def _link(self, entry: os.DirEntry, here: str) -> Iterator[Source]:
        shown = display_path(entry.path)
        try:
            real = os.path.realpath(entry.path, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.skip(shown, "is a symbolic link loop (it never reaches a file)")
            elif self._wanted(entry.name):
                self.skip(shown, f"is a broken link (to {display_path(os.readlink(entry.path))})")
            return
        is_dir = os.path.isdir(real)
        if not self._inside(real):
            if is_dir or self._wanted(entry.name):
                self.skip(
                    shown,
                    f"is a link to {display_path(real)}, outside the indexed folder "
                    "(links are not followed out of it)",
                )
            return
        if is_dir:
            if here == real or here.startswith(real.rstrip(os.sep) + os.sep):
                self.skip(
                    shown,
                    f"is a symbolic link loop (it points to {display_path(real)}, a folder above it)",
                )
            elif real not in self.folders:
                yield from self.folder(entry.path, real)
        elif self._wanted(entry.name):
            yield from self._file(entry.path, real)


def load(source: Source, max_bytes: int | None = None) -> Document:
    """The document at ``source``; raises :class:`LoadError` when it cannot be indexed."""
    return read(source, max_bytes).doc


def read(source: Source, max_bytes: int | None = None) -> Loaded:
    """Like :func:`load`, and says which encoding a text file was decoded from."""
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
    encoding: str | None = None
    if suffix == ".pdf":
        text, page_starts = _pdf_text(data)
    else:
        raw, encoding = decode(data)
        text = _html_text(raw) if suffix in (".html", ".htm") else raw
    if not text.strip():
        raise LoadError("has no extractable text")
    doc = Document(
        doc_id=source.doc_id,
        path=display_path(path),
        title=_title(text, path, suffix),
        text=text,
        content_hash=hashlib.sha256(data).hexdigest(),
        page_starts=page_starts,
    )
    return Loaded(doc, encoding)


# Single-byte code pages of Latin-script text. When the guess is one of these, Windows-1252
# is used: it is what such files nearly always are, and a short text cannot tell them apart.
_WESTERN = {
    "cp1252", "latin_1", "iso8859_15", "iso8859_1", "cp1250", "iso8859_2", "cp1254",
    "iso8859_9", "mac_roman", "mac_latin2", "cp850", "cp437", "cp858", "iso8859_3", "iso8859_4",
    "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_16", "cp1257", "cp1258",
}  # fmt: skip
# Below this many bytes charset-normalizer's guess of a non-Latin code page is not trusted.
_MIN_GUESS_BYTES = 512
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode(data: bytes) -> tuple[str, str | None]:
    """The text of ``data`` with ``\\n`` line ends, and the encoding it was decoded from
    (None for UTF-8).

    UTF-8 is tried first: nearly every file is UTF-8, and bytes that happen to be valid UTF-8
    but are really another encoding are very rare. Otherwise charset-normalizer guesses. A
    Latin-script guess (Latin-1, Windows-1252, Mac Roman, ...) is decoded as Windows-1252,
    or Latin-1 when the bytes use one that Windows-1252 leaves undefined: on a short text
    those guesses are often wrong, and Windows-1252 is what such files nearly always are.
    Another script's guess (Cyrillic, Greek, CJK, ...) is trusted on longer texts only.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _newlines(data.decode("utf-16")), "utf-16"
        except UnicodeDecodeError as exc:
            raise LoadError(f"is not valid UTF-16 (byte {exc.start})") from exc
    if b"\x00" in data[:8192]:
        raise LoadError("looks binary (it contains NUL bytes)")
    try:
        return _newlines(data.decode("utf-8-sig")), None
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    guess = _guess_encoding(data)
    if guess is None or guess in _WESTERN:
        encoding = "cp1252"
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            encoding, text = "latin-1", data.decode("latin-1")
    else:
        encoding, text = guess, data.decode(guess)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 1000):
        raise LoadError(
            f"looks binary (not UTF-8 from byte {first_bad}, and full of control characters)"
        )
    return _newlines(text), encoding


def _guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's best guess, or None when it has none or the text is too short."""
    from charset_normalizer import from_bytes

    logging.getLogger("charset_normalizer").setLevel(logging.ERROR)
    best = from_bytes(data[:200_000]).best()
    if best is None:
        return None
    encoding = str(best.encoding)
    if encoding not in _WESTERN and (len(data) < _MIN_GUESS_BYTES or not _foreign_words(data)):
        return None
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):  # guessed on the sample only
        return None
    return encoding


def _foreign_words(data: bytes) -> bool:
    """Whether most non-ASCII bytes come in runs of three or more, as the letters of words
    in another script do (Cyrillic, Greek, CJK), rather than alone between ASCII letters,
    as accented letters of Latin-script text do ("caf\\xe9", "Gr\\xfc\\xdfe")."""
    high = sum(len(run) for run in _HIGH_RUN.findall(data))
    in_words = sum(len(run) for run in _HIGH_RUN.findall(data) if len(run) >= 3)
    return high > 0 and in_words >= high / 2


_HIGH_RUN = re.compile(rb"[\x80-\xff]+")


def _newlines(text: str) -> str:
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
    _join_fields(soup)
    _join_rows(soup)
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


# A field's value joined to its label stays short: a longer definition keeps its own lines.
_FIELD_CHARS = 300


def _one_line(tag) -> str | None:
    """The text of ``tag`` on one line ("" when it has none), or None when it is too long for
    one (over :data:`_FIELD_CHARS`) or runs over several blocks."""
    text = " ".join(tag.get_text().split())
    blocks = [t for t in tag.find_all(_BLOCK_TAGS) if t.get_text(strip=True)]
    return None if len(text) > _FIELD_CHARS or len(blocks) > 1 else text


def _join_fields(soup) -> None:
    """Write a definition list's field ("<dt>Author:</dt><dd>Andrew Dalke</dd>") as one line,
    "Author: Andrew Dalke", so the label and its value are one sentence (they would be two
    blocks, and a passage could end on the label). A term is a field label when it ends with
    a colon; a value that runs over several blocks or lines keeps its own lines."""
    for dt in soup.find_all("dt"):
        label = " ".join(dt.get_text().split())
        dd = dt.find_next_sibling()
        if not label.endswith(":") or dd is None or dd.name != "dd":
            continue
        value = _one_line(dd)
        if not value:
            continue
        line = soup.new_tag("p")
        line.string = f"{label} {value}"
        dt.replace_with(line)
        dd.decompose()


def _join_rows(soup) -> None:
    """Write a table row of short cells as one line, "| DEBUG | Detailed information ... |"
    (as a Markdown table row reads, which the sentence splitter keeps whole), so a value stays
    with its label. The cells of another row (a layout table, a cell of several paragraphs)
    go on lines of their own; in neither case do two cells run together ("2.5.2Added")."""
    for tr in soup.find_all("tr"):
        cells = tr.find_all(["td", "th"], recursive=False)
        texts = [None if c.find("table") else _one_line(c) for c in cells]
        if len(cells) >= 2 and any(texts) and all(t is not None for t in texts):
            line = soup.new_tag("p")
            line.string = "| " + " | ".join(texts) + " |"  # type: ignore[arg-type]
            tr.replace_with(line)
        else:
            for cell in cells:
                cell.insert_before("\n")
                cell.insert_after("\n")


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
    """A Markdown file's title (see :func:`_markdown_title`), else the first title candidate.

    A candidate is a non-blank line of at least three characters (Markdown ``#`` marks
    stripped). Site chrome that an export keeps above the headline (a section name, a
    breadcrumb, "Home", "Alle Nachrichten") is passed over by its shape, not by its words:
    a line of at most :data:`_NAV_WORDS` words without sentence punctuation is skipped when
    the next candidate is a heading (no sentence end, not longer than a title) with more
    words, the better title (see :func:`_is_chrome`). A short title followed by its body
    text ("Normans" above a paragraph) stays the title; a short title above a longer
    subtitle gives way to the subtitle, which names the document as well.
    """
    if suffix in (".md", ".markdown"):
        title, text = _markdown_title(text)
        if title:
            return title[:_TITLE_CHARS]
    candidates = _title_candidates(text)
    start = 0
    while start < _NAV_SKIP_MAX and _is_chrome(candidates, start):
        start += 1
    if start < len(candidates):
        return candidates[start][:_TITLE_CHARS]
    return display_path(path.stem)


_FRONT_MATTER = re.compile(r"\ufeff?(---|\+\+\+)[ \t]*\n(.*?\n)\1[ \t]*(?:\n|$)", re.S)
_FRONT_TITLE = re.compile(r"^title[ \t]*[:=][ \t]*(.+?)[ \t]*$", re.M)
_ATX = re.compile(r" {0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])\s")  # a list item, not a setext title


def _markdown_title(text: str) -> tuple[str, str]:
    """The title of a Markdown file, and its text after any front matter: the front matter's
    ``title`` (the "---" block of Jekyll, Hugo, MkDocs, Docusaurus; "+++" for TOML), else its
    first heading, "# Title" or "Title" underlined with "=" or "-". Lines in code fences are
    code, not headings. "" when there is none."""
    m = _FRONT_MATTER.match(text)
    if m:
        text = text[m.end() :]
        found = _FRONT_TITLE.search(m.group(2))
        title = found.group(1).strip("\"'").strip() if found else ""
        if title:
            return title, text
    lines = text.splitlines()
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or not line.strip():
            continue
        atx = _ATX.match(line)
        if atx:
            return atx.group(1), text
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _SETEXT.match(nxt) and not _ITEM.match(line):
            return line.strip(), text
    return "", text


# A title is cut to this many characters; a longer line is body text, not a heading.
_TITLE_CHARS = 200
# At most this many words make a navigation-like line ("All news", "Home", "Sport > Tennis").
_NAV_WORDS = 3
# Leading candidates passed over at most (a banner, a breadcrumb, a section name).
_NAV_SKIP_MAX = 3
# Punctuation that a line of running text has and a navigation line has not.
_SENTENCE_MARK = re.compile(r"[.!?;:,…。！？]")
# A sentence end (or a colon that leads into a list): a line holding one is running text.
_TEXT_END = re.compile(r"[.!?:;…。！？][\"'”’»)\]]*$")
_WORD = re.compile(r"\w+")
_SENTENCE_BREAK = re.compile(r"[.!?…。！？][\"'”’»)\]]*\s+(\w)")


def _title_candidates(text: str, limit: int = _NAV_SKIP_MAX + 2) -> list[str]:
    """The first ``limit`` non-blank lines of at least three characters, ``#`` marks stripped."""
    found: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if len(line) >= 3 and any(c.isalnum() for c in line):  # not a rule ("---", "***")
            found.append(line)
            if len(found) == limit:
                break
    return found


def _is_heading(line: str) -> bool:
    """A line that reads as a heading: no sentence end at its close and none inside it
    (a full stop before a capital letter), so not a paragraph of body text."""
    if len(line) > _TITLE_CHARS or _TEXT_END.search(line):
        return False
    return not any(m.group(1).isupper() for m in _SENTENCE_BREAK.finditer(line))


def _is_chrome(candidates: list[str], i: int) -> bool:
    """Whether candidate ``i`` looks like site navigation above a heading: it is short and
    has no sentence punctuation, and the next candidate is a heading with more words (or
    is navigation itself, as in a breadcrumb written one part a line)."""
    if i + 1 >= len(candidates):
        return False
    line, following = candidates[i], candidates[i + 1]
    words = len(_WORD.findall(line))
    if not 0 < words <= _NAV_WORDS or _SENTENCE_MARK.search(line) or not _is_heading(following):
        return False
    return len(_WORD.findall(following)) > words or (
        i + 1 < _NAV_SKIP_MAX and _is_chrome(candidates, i + 1)
    )
