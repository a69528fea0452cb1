"""The export files open with their own libraries and hold the text."""

from __future__ import annotations

import io

from docx import Document

from bot.export import file_stem, to_docx, to_markdown

BODY = "## بخش اول\n\nپاراگراف نخست درباره‌ی قهوه.\n\n- نکته یک\n- نکته دو\n\nEnd line."


def test_markdown_has_the_title_and_body() -> None:
    name, data = to_markdown("راهنمای قهوه", BODY)
    assert name == "راهنمای-قهوه.md"
    assert data.decode("utf-8") == f"# راهنمای قهوه\n\n{BODY}\n"


async def test_docx_reads_back_with_python_docx() -> None:
    name, data = await to_docx("راهنمای قهوه", BODY, rtl=True)
    assert name.endswith(".docx")
    document = Document(io.BytesIO(data))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs == [
        ("Heading 1", "راهنمای قهوه"),
        ("Heading 3", "بخش اول"),
        ("Normal", "پاراگراف نخست درباره‌ی قهوه."),
        ("List Bullet", "نکته یک"),
        ("List Bullet", "نکته دو"),
        ("Normal", "End line."),
    ]
    assert (
        document.paragraphs[0]._p.pPr.find(
            "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}bidi"
        )
        is not None
    )


def test_file_stem_drops_unsafe_characters() -> None:
    assert file_stem("../etc/passwd?") == "etcpasswd"
    assert file_stem("///") == "contexor"
