"""Loaders: each format gives the exact text offsets point into; bad files raise LoadError."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from index.loaders import LoadError, Source, decode, display_path, load, make_doc_id, read, walk

# shared/ sits beside the checkout (as in CI)
SHARED_PDF = (
    Path(__file__).resolve().parents[2]
    / "shared/datasets/blockchain_solana/source_files/BlockchainSolana.pdf"
)
EXTS = [".txt", ".md", ".html", ".htm", ".pdf"]


def make_pdf(pages: list[str]) -> bytes:
    """A minimal PDF whose pages hold ``pages`` as real text (Helvetica, one Tj per line)."""
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _load(path: Path, max_bytes: int | None = None):
    return load(Source(path, path.parent), max_bytes)


# -- formats -------------------------------------------------------------------------------


def test_txt_keeps_text_and_hashes_bytes(tmp_path: Path) -> None:
    raw = b"All news\r\n\r\nSnow in Cairo\r\nIt snowed on Tuesday.\r\n"
    path = tmp_path / "a.txt"
    path.write_bytes(raw)
    doc = _load(path)
    assert doc.text == "All news\n\nSnow in Cairo\nIt snowed on Tuesday.\n"
    assert doc.title == "Snow in Cairo"  # a site's "All news" banner is not a title
    assert doc.content_hash == hashlib.sha256(raw).hexdigest()
    assert doc.doc_id == f"{tmp_path.name}/a.txt"
    assert doc.page_starts == () and doc.page_at(5) is None
    assert doc.line_at(doc.text.index("It snowed")) == 4


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffCafé au lait.\n".encode())
    assert _load(path).text == "Café au lait.\n"


def test_md_title_comes_from_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(
        "Some intro line first.\n\n## Harbour tides ##\n\nBody text.\n# Later heading\n"
    )
    doc = _load(path)
    assert doc.title == "Harbour tides"
    assert doc.text.startswith("Some intro line first.")  # markdown is kept as written


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Tide tables</title><style>p { color: red }</style>"
        "<script>var secret = 'hidden-script';</script></head>"
        "<body><h1>Harbour</h1><p>High tide at&nbsp;6 &amp; low at 12.</p>"
        "<script>alert('also-hidden')</script><noscript>enable-js</noscript>"
        "<ul><li>first item</li><li>second item</li></ul></body></html>"
    )
    doc = _load(path)
    assert doc.title == "Tide tables"
    for hidden in ("hidden-script", "also-hidden", "color: red", "enable-js", "<p>"):
        assert hidden not in doc.text
    assert "High tide at 6 & low at 12." in doc.text
    lines = doc.text.splitlines()
    assert "first item" in lines and "second item" in lines  # block tags break lines


@pytest.mark.parametrize(
    ("text", "title"),
    [
        # front matter of a static-site generator (YAML, TOML): its title, not a rule or a
        # later section heading
        (
            '---\ntitle: "Configure the proxy"\nweight: 3\n---\n\nSet it.\n\n## Details\n',
            "Configure the proxy",
        ),
        ("+++\ntitle = 'Install'\n+++\n\nRun the installer.\n", "Install"),
        ("---\nlayout: page\n---\n\nRun the installer.\n\n## Steps\n", "Steps"),
        ("---\nlayout: page\n---\n\nRun the installer.\n", "Run the installer."),
        # a title underlined with "=" comes before a later "##" heading
        ("My Project\n==========\n\nIntro text.\n\n## Install\n", "My Project"),
        # a comment in a code block is not a heading
        ("```sh\n# install deps\npip install qa\n```\n\n# Real title\n", "Real title"),
    ],
)
def test_md_title_from_front_matter_and_either_heading_style(
    tmp_path: Path, text: str, title: str
) -> None:
    path = tmp_path / "page.md"
    path.write_text(text)
    doc = _load(path)
    assert doc.title == title
    assert doc.text == text  # the file's text is kept whole: offsets stay the file's


def test_html_field_lists_keep_label_and_value_on_one_line(tmp_path: Path) -> None:
    # Sphinx writes a page's authors as a field list; a glossary's terms have no colon, and a
    # long value keeps its own lines.
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><h1>Sorting</h1>"
        '<dl class="field-list"><dt>Author<span class="colon">:</span></dt>'
        "<dd><p>Jane Roe and Ann Poe</p></dd>"
        "<dt>author:</dt><dd><p>Ann Poe</p></dd>"
        "<dt>Notes:</dt><dd><p>First paragraph.</p><p>Second paragraph.</p></dd></dl>"
        "<dl><dt>key function</dt><dd><p>A callable that returns a sort key.</p></dd></dl>"
        "</body></html>"
    )
    lines = _load(path).text.splitlines()
    assert "Author: Jane Roe and Ann Poe" in lines
    assert "author: Ann Poe" in lines
    assert "Notes:" in lines and "First paragraph." in lines
    assert "key function" in lines and "A callable that returns a sort key." in lines


def test_html_table_rows_keep_their_cells_apart(tmp_path: Path) -> None:
    # A row of short cells is one line, as a Markdown table row; the cells of a row that holds
    # paragraphs (a layout table) get lines of their own. No two cells run together.
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><table><thead><tr><th>Version</th><th>Change</th></tr></thead>"
        "<tbody><tr><td><p>2.5.2</p></td><td>Added Matter support</td></tr></tbody></table>"
        "<table><tr><td><p>Intro paragraph.</p><p>More text.</p></td><td>Sidebar</td></tr>"
        "</table></body></html>"
    )
    lines = _load(path).text.splitlines()
    assert "| Version | Change |" in lines
    assert "| 2.5.2 | Added Matter support |" in lines
    assert {"Intro paragraph.", "More text.", "Sidebar"} <= set(lines)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        # a German news-site export: the banner repeats above every headline
        (
            "Alle Nachrichten\n\nSchnee in Kairo am Dienstag\n\nEs schneite.\n",
            "Schnee in Kairo am Dienstag",
        ),
        (
            "Startseite\n\nZürich baut eine neue Brücke\n\nDie Stadt plant.\n",
            "Zürich baut eine neue Brücke",
        ),
        # a breadcrumb written one part a line
        (
            "Home\nSport\nTennis\nLocal player wins the final\nShe won in three sets.\n",
            "Local player wins the final",
        ),
        (
            "Accueil › Monde\n\nLa Seine déborde à Paris\n\nL'eau monte.\n",
            "La Seine déborde à Paris",
        ),
        # a short title above its body text stays the title
        ("Normans\n\nThe Normans were the people who gave their name to Normandy.\n", "Normans"),
        (
            "Huguenot\n\nA term used in derision. Its origins are unclear [citation needed]\n",
            "Huguenot",
        ),
        ("Glossary\n\nThe terms used below:\n\nfoo bar\n", "Glossary"),
        # a short line that is a sentence, or a long first line, is not navigation
        ("Go now!\n\nWhy we left early on Monday\n", "Go now!"),
        ("Quarterly report for the board\n\nApples rose\n", "Quarterly report for the board"),
        # nothing better follows: the short line is all there is
        ("Menu\n\n\n", "Menu"),
    ],
)
def test_title_passes_over_navigation_lines_by_shape(tmp_path: Path, text: str, title: str) -> None:
    path = tmp_path / "page.txt"
    path.write_text(text, encoding="utf-8")
    assert _load(path).title == title


def test_title_rule_names_no_words(tmp_path: Path) -> None:
    """The same banner is kept as the title when it stands above body text: no word list."""
    path = tmp_path / "n.txt"
    path.write_text("All news\n\nIt snowed in Cairo on Tuesday. Roads closed.\n")
    assert _load(path).title == "All news"


def test_html_without_title_uses_first_visible_line(tmp_path: Path) -> None:
    path = tmp_path / "x.htm"
    path.write_text("<body><h2>Ferry timetable</h2><p>Boats leave hourly.</p></body>")
    assert _load(path).title == "Ferry timetable"


def test_pdf_records_where_each_page_starts(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(
        make_pdf(["Quarterly report\nApples rose.", "Pears fell sharply.", "Plums held."])
    )
    doc = _load(path)
    assert len(doc.page_starts) == 3 and doc.page_starts[0] == 0
    assert doc.title == "Quarterly report"
    for page, needle in ((1, "Apples rose"), (2, "Pears fell sharply"), (3, "Plums held")):
        at = doc.text.index(needle)
        assert doc.page_at(at) == page
        assert doc.page_at(at + len(needle) - 1) == page
    # each recorded start points at that page's own text
    assert doc.text[doc.page_starts[1] :].startswith("Pears")
    assert doc.text[doc.page_starts[2] :].startswith("Plums")


@pytest.mark.skipif(
    not SHARED_PDF.exists(), reason=f"shared PDF {SHARED_PDF} is not on this machine"
)
def test_real_world_pdf_has_a_start_per_page() -> None:
    from pypdf import PdfReader

    doc = load(Source(SHARED_PDF, SHARED_PDF))
    n_pages = len(PdfReader(str(SHARED_PDF)).pages)
    assert len(doc.page_starts) == n_pages > 1
    assert list(doc.page_starts) == sorted(doc.page_starts)
    assert "Solana" in doc.title
    assert doc.page_at(len(doc.text) - 1) == n_pages


# -- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (
            "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.\n",
            "latin-1",
            "cp1252",
        ),  # charset-normalizer says cp1006
        ("\u201cSmart\u201d quotes \u2013 and 5 \u20ac, na\u00efve.\n", "cp1252", "cp1252"),
        (
            "Gr\u00fc\u00dfe aus M\u00fcnchen.\r\nDie Stra\u00dfe ist sch\u00f6n.\r\n",
            "cp1252",
            "cp1252",
        ),
        ("Le caf\u00e9 est tr\u00e8s bon. " * 40 + "\n", "latin-1", "cp1252"),  # guessed cp1250
        (
            "\u041c\u043e\u0441\u043a\u0432\u0430 \u2014 \u0441\u0442\u043e\u043b\u0438\u0446\u0430 \u0420\u043e\u0441\u0441\u0438\u0438, \u043a\u0440\u0443\u043f\u043d\u0435\u0439\u0448\u0438\u0439 \u0433\u043e\u0440\u043e\u0434. "
            * 12,
            "cp1251",
            "cp1251",
        ),
        ("Hello w\u00f6rld\r\nline two\n", "utf-16", "utf-16"),
    ],
    ids=["latin1-short", "cp1252-punctuation", "cp1252-crlf", "latin1-long", "cp1251", "utf16"],
)
def test_text_that_is_not_utf8_is_decoded(
    tmp_path: Path, text: str, codec: str, label: str
) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(text.encode(codec))
    loaded = read(Source(path, tmp_path))
    want = text.replace("\r\n", "\n")
    assert (loaded.doc.text, loaded.encoding) == (want, label)
    assert loaded.doc.content_hash == hashlib.sha256(text.encode(codec)).hexdigest()


def test_utf8_comes_first_and_reports_no_encoding(tmp_path: Path) -> None:
    path = tmp_path / "u.txt"
    path.write_text(
        "Caf\u00e9 \u00fcber na\u00efve \u041c\u043e\u0441\u043a\u0432\u0430\n", encoding="utf-8"
    )
    loaded = read(Source(path, tmp_path))
    assert loaded.encoding is None and loaded.doc.text.startswith("Caf\u00e9 \u00fcber")
    assert decode(b"plain ascii\r\n") == ("plain ascii\n", None)


def test_decoded_offsets_point_into_the_decoded_text(tmp_path: Path, fake_embedder) -> None:
    from index.chunking import chunk_document

    text = "".join(f"Sentence {i} about the caf\u00e9 and cr\u00e8me. " for i in range(60))
    path = tmp_path / "w.txt"
    path.write_bytes(text.encode("cp1252"))
    doc = load(Source(path, tmp_path))
    chunks = chunk_document(doc, fake_embedder.count_tokens, fake_embedder.token_spans, 40, 1)
    assert len(chunks) > 3
    assert all(doc.text[c.start : c.end] == c.text and "caf\u00e9" in c.text for c in chunks)


# -- bad inputs ----------------------------------------------------------------------------


def _broken_pdf() -> bytes:
    good = make_pdf(["Some text"])
    return good[: len(good) // 2]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("nul.txt", b"abc\x00\x01\x02def" * 10, "looks binary"),
        ("empty.txt", b"", "is empty"),
        ("blank.md", b" \n\t\n  ", "is empty"),
        ("controls.txt", bytes(range(1, 256)) * 4, "looks binary"),
        ("broken.pdf", _broken_pdf(), "not a readable PDF"),
        ("junk.pdf", b"this is not a pdf at all", "not a readable PDF"),
        ("scripts.html", b"<script>var x = 1;</script><style>p{}</style>", "no extractable text"),
    ],
)
def test_bad_files_raise_a_readable_load_error(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError) as err:
        _load(path)
    msg = str(err.value)
    assert reason in msg
    assert "\n" not in msg and len(msg) < 300  # one line a person can read


def test_pdf_without_text_and_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    def write(name: str, encrypt: bool) -> Path:
        writer = PdfWriter()
        writer.add_blank_page(200, 200)
        if encrypt:
            writer.encrypt("secret")
        buf = io.BytesIO()
        writer.write(buf)
        (tmp_path / name).write_bytes(buf.getvalue())
        return tmp_path / name

    with pytest.raises(LoadError, match="no extractable text"):
        _load(write("scan.pdf", encrypt=False))
    with pytest.raises(LoadError, match="encrypted PDF"):
        _load(write("locked.pdf", encrypt=True))


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 600_000)  # 3 MB
    with pytest.raises(
        LoadError, match=r"is 3\.0 MB, over the 2 MB limit \(QA_INDEX_MAX_FILE_MB\)"
    ):
        _load(path, max_bytes=2_000_000)
    assert _load(path, max_bytes=4_000_000).text.startswith("word")


def test_unreadable_path_raises_load_error(tmp_path: Path) -> None:
    # Works as root too: reading a directory fails the same way an unreadable file does.
    path = tmp_path / "folder.txt"
    path.mkdir()
    with pytest.raises(LoadError, match="cannot be read"):
        _load(path)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads files whatever their mode, so chmod 000 proves nothing"
)
def test_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    path.chmod(0)
    try:
        with pytest.raises(LoadError, match="cannot be read"):
            _load(path)
    finally:
        path.chmod(0o644)


# -- walking -------------------------------------------------------------------------------


def test_walk_is_recursive_sorted_and_skips_hidden_and_other_types(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    for rel in [
        "b.txt",
        "a.MD",
        "sub/c.html",
        "sub/deeper/d.pdf",
        ".git/e.txt",
        "sub/.hidden.txt",
        "f.csv",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    found = [s.doc_id for s in walk(root, EXTS)]
    assert found == ["docs/a.MD", "docs/b.txt", "docs/sub/c.html", "docs/sub/deeper/d.pdf"]


def test_a_single_file_is_its_own_root(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("x")
    (source,) = walk(path, EXTS)
    assert source.doc_id == "one.txt" == make_doc_id(path, path)


def test_doc_id_does_not_depend_on_where_the_root_lives(tmp_path: Path) -> None:
    for parent in ("here", "elsewhere/deeper"):
        root = tmp_path / parent / "seeds"
        (root / "sub").mkdir(parents=True)
        assert make_doc_id(root / "sub" / "x.txt", root) == "seeds/sub/x.txt"


# -- odd entries in a folder ---------------------------------------------------------------


def _walk(root: Path) -> tuple[list[str], dict[str, str]]:
    skipped: dict[str, str] = {}

    def on_skip(path: str, reason: str) -> None:
        assert path not in skipped, f"{path} reported twice"
        skipped[path] = reason

    return [s.doc_id for s in walk(root, EXTS, on_skip)], skipped


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_text("secret")
    (outside / "sub" / "more.txt").write_text("more")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.txt").write_text("good")
    (root / "passwd.txt").symlink_to(outside / "secret.txt")
    (root / "elsewhere").symlink_to(outside / "sub")
    (root / "image.png").symlink_to(outside / "secret.txt")  # not an indexed type: silent
    found, skipped = _walk(root)
    assert found == ["docs/good.txt"]
    assert set(skipped) == {str(root / "passwd.txt"), str(root / "elsewhere")}
    assert "outside the indexed folder" in skipped[str(root / "passwd.txt")]
    assert str(outside / "secret.txt") in skipped[str(root / "passwd.txt")]


def test_links_inside_the_folder_are_followed_once(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_text("a")
    (root / "alias.txt").symlink_to(root / "real" / "a.txt")
    (root / "zlinked").symlink_to(root / "real")
    found, skipped = _walk(root)
    assert found == ["docs/real/a.txt"] and skipped == {}


def test_link_loops_broken_links_and_unreadable_folders_are_named(
    tmp_path: Path, monkeypatch
) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "locked").mkdir()
    (root / "locked" / "hidden.txt").write_text("x")
    (root / "sub" / "b.txt").write_text("b")
    (root / "sub" / "up").symlink_to(root)  # a loop through a folder above
    (root / "self.txt").symlink_to(root / "self.txt")  # a link to itself
    (root / "gone.md").symlink_to(root / "nothing.md")
    (root / "locked").chmod(0)
    real_scandir = os.scandir

    def scandir(path):  # root reads any folder: make the locked one fail as it would
        if isinstance(path, str | os.PathLike) and os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "scandir", scandir)
    try:
        found, skipped = _walk(root)
    finally:
        (root / "locked").chmod(0o755)
    assert found == ["docs/sub/b.txt"]
    assert set(skipped) == {
        str(root / "sub" / "up"),
        str(root / "self.txt"),
        str(root / "gone.md"),
        str(root / "locked"),
    }
    assert "link loop" in skipped[str(root / "sub" / "up")]
    assert "link loop" in skipped[str(root / "self.txt")]
    assert "broken link" in skipped[str(root / "gone.md")]
    assert "cannot be read (Permission denied)" in skipped[str(root / "locked")]


def test_a_name_that_is_not_utf8_gets_an_escaped_id(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"caf\xe9.txt")
    with open(raw, "wb") as fh:
        fh.write(b"Coffee notes.\n")
    (source,) = walk(root, EXTS)
    assert source.doc_id == "docs/caf\\xe9.txt"
    source.doc_id.encode("utf-8")  # the store only takes UTF-8
    doc = load(source)
    assert doc.text == "Coffee notes.\n" and doc.path == display_path(source.path)
    assert doc.path.endswith("docs/caf\\xe9.txt")
