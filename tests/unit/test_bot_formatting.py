"""How generated text is cut and escaped for Telegram."""

from __future__ import annotations

from bot.formatting import as_html, fits_in_messages, split_paragraphs, streaming_preview


def test_split_keeps_every_word_and_cuts_at_paragraphs() -> None:
    paragraphs = [f"p{n} " + "word " * 300 for n in range(6)]  # ~1500 characters each
    text = "\n\n".join(paragraphs)
    parts = split_paragraphs(text, limit=3800)
    assert all(len(part) <= 3800 for part in parts)
    assert [part.split()[0] for part in parts] == ["p0", "p2", "p4"]
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_a_paragraph_longer_than_a_message_is_cut_at_spaces() -> None:
    text = "کلمه " * 2000
    parts = split_paragraphs(text, limit=1000)
    assert all(len(part) <= 1000 for part in parts)
    assert all(part.split() == ["کلمه"] * len(part.split()) for part in parts)
    assert sum(len(part.split()) for part in parts) == 2000


def test_html_is_escaped_and_headings_bold() -> None:
    assert as_html("## سلام <دنیا>\nA & B") == "<b>سلام &lt;دنیا&gt;</b>\nA &amp; B"


def test_preview_and_document_threshold() -> None:
    assert streaming_preview("  ") == "…"
    assert len(streaming_preview("x" * 9000)) == 4000
    assert fits_in_messages("short")
    assert not fits_in_messages("\n\n".join(["y" * 3000] * 4))
