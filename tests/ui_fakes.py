"""A fake answerer and document library for the web chat tests: canned answers with real
offsets into a small corpus."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence

from qa.answerer import Answerer
from qa.errors import ModelError
from qa.schema import Answer, Citation, Delta, Done, Passage, Sentence, final_answer

XSS = "<img src=x onerror=window.__xss=1>"

CORPUS: dict[str, tuple[str, str]] = {
    "kettles/descaling.md": (
        "Descaling your kettle",
        "# Descaling\n\n"
        "Hard water leaves a chalky layer of limescale inside a kettle. "
        "Limescale makes the kettle slower and noisier. "
        "To descale, fill the kettle halfway with equal parts white vinegar and water. "
        "Boil the mixture, then let it stand for an hour. "
        "Rinse the kettle three times with clean water before using it again.\n\n"
        "Lemon juice works too, and it smells nicer than vinegar.\n",
    ),
    "manuals/kettle-2000.pdf": (
        'Kettle 2000 "Pro" user\'s manual & guide',
        "Safety first. Never immerse the base in water. "
        "The kettle switches off automatically when the water boils. "
        "If it does not, unplug it and contact the service centre.",
    ),
    "web/evil.html": (
        f"Evil page {XSS}",
        "Welcome. <script>window.__xss=1</script> "
        f"The secret ingredient is {XSS} salt. "
        "[Click here](javascript:window.__xss=1) for more. "
        "![tracker](http://evil.example/x.png) That is all.",
    ),
    "specs/kestrel.md": (
        "Kestrel sprayers",
        "# Kestrel sprayers\n\n"
        "Both sprayers share the same pump. The Kestrel 200 is the larger\n"
        "model, and its water tank lasts a full morning of spraying on a\n"
        "medium-sized garden before it needs a refill.\n\n"
        "| Model | Tank | Weight |\n"
        "|-------|-----:|-------:|\n"
        "| Kestrel 100 | 12 liters | 3.1 kg |\n"
        "| Kestrel 200 | 20 liters | 4.0 kg |\n",
    ),
}
PAGES = {"manuals/kettle-2000.pdf": 2}


def cite(n: int, doc_id: str, quote: str, score: float = 0.8) -> Citation:
    title, text = CORPUS[doc_id]
    start = text.index(quote)
    return Citation(
        n=n,
        source=doc_id,
        title=title,
        quote=quote,
        start=start,
        end=start + len(quote),
        line=text.count("\n", 0, start) + 1,
        page=PAGES.get(doc_id),
        score=score,
        path=f"/docs/{doc_id}",
    )


def descale_answer(question: str) -> Answer:
    c1 = cite(
        1,
        "kettles/descaling.md",
        "To descale, fill the kettle halfway with equal parts white vinegar and water.",
    )
    c2 = cite(
        2,
        "kettles/descaling.md",
        "Rinse the kettle three times with clean water before using it again.",
    )
    c3 = cite(
        3, "manuals/kettle-2000.pdf", "The kettle switches off automatically when the water boils."
    )
    sentences = [
        Sentence(
            "Fill the kettle halfway with equal parts white vinegar and water, then boil it [1].",
            (1,),
        ),
        Sentence("Rinse it three times with clean water afterwards [2].", (2,)),
        Sentence("It switches itself off when the water boils [3].", (3,)),
        Sentence("Descaling once a month is ideal.", (), supported=False),
    ]
    text = " ".join(s.text for s in sentences)
    return Answer(
        question=question, text=text, citations=[c1, c2, c3], sentences=sentences, raw_text=text
    )


def tank_answer(question: str) -> Answer:
    """Cites a Markdown table row and a quote that starts mid-sentence on a wrapped line."""
    c1 = cite(1, "specs/kestrel.md", "| Kestrel 200 | 20 liters | 4.0 kg |")
    c2 = cite(
        2,
        "specs/kestrel.md",
        "model, and its water tank lasts a full morning of spraying on a\n"
        "medium-sized garden before it needs a refill.",
    )
    sentences = [
        Sentence("The Kestrel 200 has a 20-liter water tank [1].", (1,)),
        Sentence("It lasts a full morning of spraying [2].", (2,)),
    ]
    text = " ".join(s.text for s in sentences)
    return Answer(
        question=question, text=text, citations=[c1, c2], sentences=sentences, raw_text=text
    )


def evil_answer(question: str) -> Answer:
    quote = f"The secret ingredient is {XSS} salt."
    c1 = cite(1, "web/evil.html", quote)
    text = (
        f"The secret ingredient is {XSS} salt <script>window.__xss=1</script> [1]. "
        "See [this](javascript:window.__xss=1) and ![x](http://evil.example/x.png)."
    )
    sentences = [
        Sentence(f"The secret ingredient is {XSS} salt <script>window.__xss=1</script> [1].", (1,)),
        Sentence(
            "See [this](javascript:window.__xss=1) and ![x](http://evil.example/x.png).", (), False
        ),
    ]
    return Answer(question=question, text=text, citations=[c1], sentences=sentences, raw_text=text)


def passage(n: int, doc_id: str, text: str, similarity: float) -> Passage:
    title, body = CORPUS[doc_id]
    start = body.index(text)
    return Passage(
        n=n,
        doc_id=doc_id,
        title=title,
        text=text,
        start=start,
        end=start + len(text),
        line=body.count("\n", 0, start) + 1,
        page=PAGES.get(doc_id),
        score=0.02,
        similarity=similarity,
        path=f"/docs/{doc_id}",
    )


def refusal(question: str) -> Answer:
    """A refusal with the closest passages retrieval found (as the real answerer keeps them)."""
    text = "I could not find this in your documents."
    passages = [
        passage(1, "manuals/kettle-2000.pdf", "Never immerse the base in water.", 0.21),
        passage(
            2,
            "kettles/descaling.md",
            "Lemon juice works too, and it smells nicer than vinegar.",
            0.18,
        ),
    ]
    return Answer(question=question, text=text, refused=True, raw_text=text, passages=passages)


class FakeAnswerer:
    """Streams a few ``Delta`` chunks, then ``Done``. ``mode`` picks the behaviour:

    ``"answer"`` (canned answers), ``"refuse"``, ``"qa_error"`` (a ``ModelError`` the user
    can act on) or ``"crash"`` (a generic exception halfway through the stream).
    ``fail_once`` applies a failing mode to the next question only. Every call's history
    is recorded in ``histories``.
    """

    def __init__(self, mode: str = "answer", *, delay: float = 0.0, first_delay: float = 0.0):
        self.mode = mode
        self.fail_once: str | None = None
        self.delay = delay
        self.first_delay = first_delay
        self.histories: list[list[tuple[str, str]]] = []
        self.questions: list[str] = []
        self.max_question_chars = 2000

    validate = Answerer.validate  # the real rule: empty questions and the length limit

    def _answer(self, question: str) -> Answer:
        if re.search(r"evil|secret|xss", question, re.I):
            return evil_answer(question)
        if re.search(r"weather|stock|capital", question, re.I):
            return refusal(question)
        if re.search(r"tank|sprayer", question, re.I):
            return tank_answer(question)
        return descale_answer(question)

    def stream(
        self, question: str, history: Sequence[tuple[str, str]] = ()
    ) -> Iterator[Delta | Done]:
        self.histories.append(list(history))
        self.questions.append(question)
        mode, self.fail_once = (self.fail_once or self.mode), None
        if mode == "qa_error":
            raise ModelError("The model is not loaded. Run `qa model` to install it.")
        answer = refusal(question) if mode == "refuse" else self._answer(question)
        time.sleep(self.first_delay)
        words = re.findall(r"\S+\s*", answer.raw_text)
        for i in range(0, len(words), 3):
            if mode == "crash" and i >= 3:
                raise RuntimeError("boom: secret internal detail")
            time.sleep(self.delay)
            yield Delta("".join(words[i : i + 3]))
        yield Done(answer)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        return final_answer(self.stream(question, history))


class FakeDocuments:
    """The document library over :data:`CORPUS` (no uploads): ``removed`` doc ids are no
    longer found; :meth:`reindex` reports progress with ``delay`` between its steps."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.removed: set[str] = set()

    def document(self, doc_id: str) -> tuple[str, str] | None:
        return None if doc_id in self.removed else CORPUS.get(doc_id)

    def status(self) -> dict:
        sources = [
            {"doc_id": d, "title": t, "chunks": 1 + len(text) // 200, "path": f"/docs/{d}"}
            for d, (t, text) in CORPUS.items()
        ]
        return {
            "documents": len(sources),
            "chunks": sum(s["chunks"] for s in sources),
            "sources": sources,
            "store": "fake",
            "generation": "3",
        }

    def reindex(self, progress: Callable[[float, str], None] | None = None) -> str:
        for i, step in enumerate(["Reading files", "Chunking", "Embedding"]):
            if progress:
                progress(i / 3, step)
            time.sleep(self.delay)
        if progress:
            progress(1.0, "Done")
        status = self.status()
        return f"Indexed {status['documents']} documents ({status['chunks']} chunks) in 0.1s"


class RecordingAnswerer(FakeAnswerer):
    """A ``FakeAnswerer`` whose tests read ``histories``: what each question was sent with."""
