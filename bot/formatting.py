"""How generated text is shown: plain while it streams, escaped HTML at the end, split to fit.

Telegram takes at most 4096 characters a message. While a draft streams the bot shows the
newest part as plain text (no markup to break half-way); the final text is HTML with every
``<``, ``>`` and ``&`` of the model's answer escaped and Markdown headings shown bold, cut into
messages at paragraph boundaries. Past :data:`MAX_PARTS` messages the answer goes as a ``.md``
document instead, so a long article never floods the chat.
"""

from __future__ import annotations

import html
import re

MAX_MESSAGE = 4096
# Room for the "…" of a streaming preview and for markup the final text adds (<b></b>).
STREAM_WINDOW = 4000
PART_LIMIT = 3800
MAX_PARTS = 3

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def streaming_preview(text: str) -> str:
    """What a streaming message shows: the text so far, or its newest part when too long."""
    text = text.strip() or "…"
    if len(text) <= STREAM_WINDOW:
        return text
    return "…" + text[-(STREAM_WINDOW - 1) :]


def as_html(text: str) -> str:
    """The answer as Telegram HTML: escaped, with Markdown headings in bold."""
    lines = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            lines.append(f"<b>{html.escape(heading.group(2), quote=False)}</b>")
        else:
            lines.append(html.escape(line, quote=False))
    return "\n".join(lines)


def split_paragraphs(text: str, limit: int = PART_LIMIT) -> list[str]:
    """``text`` cut into parts of at most ``limit`` characters, at blank lines where it can,
    else at line ends, else at spaces; no part is empty and no text is lost."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for paragraph in _pieces(text, limit):
        joined = f"{current}\n\n{paragraph}" if current else paragraph
        if len(joined) <= limit:
            current = joined
        else:
            parts.append(current)
            current = paragraph
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, limit: int) -> list[str]:
    """Paragraphs, each cut further (lines, then words, then characters) to fit ``limit``."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        pieces.extend(_cut(paragraph, limit, ("\n", " ")))
    return pieces


def _cut(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if len(text) <= limit:
        return [text]
    if not separators:
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    separator, rest = separators[0], separators[1:]
    out: list[str] = []
    current = ""
    for piece in text.split(separator):
        for small in _cut(piece, limit, rest):
            joined = f"{current}{separator}{small}" if current else small
            if len(joined) <= limit:
                current = joined
            else:
                out.append(current)
                current = small
    if current:
        out.append(current)
    return out


def fits_in_messages(text: str) -> bool:
    """Whether the answer is shown as messages (else as a ``.md`` document)."""
    return len(split_paragraphs(text)) <= MAX_PARTS
