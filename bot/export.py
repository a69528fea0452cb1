"""Exporting a text as files a person can open: Markdown (``.md``) and Word (``.docx``).

The Word file is built in memory with python-docx on a worker thread (it is CPU work) and gets
right-to-left paragraphs for Persian. Both return ``(file name, bytes)`` ready for
``send_document``.
"""

from __future__ import annotations

import asyncio
import io
import re

from docx import Document
from docx.oxml.ns import qn
from docx.shared import Pt

_UNSAFE = re.compile(r"[^\w\- ]+", re.UNICODE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*•]\s+(.*)$")


def file_stem(title: str, fallback: str = "contexor") -> str:
    """A file name from a title: letters (Persian too), digits, dashes; at most 60 characters."""
    stem = _UNSAFE.sub("", title).strip().replace(" ", "-")[:60].strip("-")
    return stem or fallback


def to_markdown(title: str, body: str) -> tuple[str, bytes]:
    """``# title`` then the body, UTF-8."""
    text = f"# {title.strip()}\n\n{body.strip()}\n"
    return f"{file_stem(title)}.md", text.encode("utf-8")


async def to_docx(title: str, body: str, *, rtl: bool = False) -> tuple[str, bytes]:
    """A Word document: the title as a heading, Markdown headings and bullets kept."""
    data = await asyncio.to_thread(_build_docx, title, body, rtl)
    return f"{file_stem(title)}.docx", data


def _build_docx(title: str, body: str, rtl: bool) -> bytes:
    document = Document()
    document.styles["Normal"].font.size = Pt(12)
    _rtl(document.add_heading(title.strip() or "-", level=1), rtl)
    for block in re.split(r"\n\s*\n", body.strip()):
        lines = [line for line in block.splitlines() if line.strip()]
        for line in lines:
            if heading := _HEADING.match(line):
                paragraph = document.add_heading(
                    heading.group(2), level=min(len(heading.group(1)) + 1, 9)
                )
            elif bullet := _BULLET.match(line):
                paragraph = document.add_paragraph(bullet.group(1), style="List Bullet")
            else:
                paragraph = document.add_paragraph(line.strip())
            _rtl(paragraph, rtl)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _rtl(paragraph, rtl: bool) -> None:
    if not rtl:
        return
    properties = paragraph._p.get_or_add_pPr()
    bidi = properties.makeelement(qn("w:bidi"), {})
    properties.append(bidi)
    for run in paragraph.runs:
        run.font.rtl = True
