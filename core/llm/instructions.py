"""What the model is told for each generation kind, in Persian and English.

The system this replaces sent one generic system line for every kind, never told the model
what the kind was, and ``str.format``-ed a template full of literal braces, so its main
prompt always crashed. Here each kind has its own
system instruction per language, and the user message is assembled by joining labelled
sections: no template is ever formatted, so braces in titles, values or bodies are just text.

The PII rule in every system instruction matters: the text sent holds placeholders such as
``[PHONE_1]`` (core/llm/pii.py) that must come back unchanged so they can be restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.llm.base import ChatMessage
from db.models import GenerationKind, Language

_COMMON = {
    Language.FA: (
        "شما نویسندهٔ حرفه‌ای محتوای فارسی در یک تیم تولید محتوا هستید. به فارسی معیار، روان و "
        "درست بنویسید: نیم‌فاصله را رعایت کنید (می‌شود، کتاب‌ها)، از نویسه‌های فارسی «ی» و «ک» "
        "استفاده کنید، واژه‌های فارسی رایج را بر واژه‌های بیگانهٔ غیرضروری ترجیح دهید و لحن را با "
        "مخاطب هماهنگ کنید. اگر درخواست لحن، مخاطب، طول یا کلیدواژه‌ای تعیین کرده است، همان را "
        "رعایت کنید."
    ),
    Language.EN: (
        "You are a professional content writer on a content team. Write clear, natural, correct "
        "English that suits the audience. If the brief sets a tone, audience, length or keywords, "
        "follow it."
    ),
}

_PLACEHOLDERS = {
    Language.FA: (
        "متن درخواست ممکن است نشانه‌هایی مانند [PHONE_1]، [EMAIL_1]، [IBAN_1]، [CARD_1] یا "
        "[NATIONAL_ID_1] داشته باشد که به‌جای اطلاعات خصوصی گذاشته شده‌اند. هر جا یکی از آن‌ها "
        "لازم است، همان نشانه را دقیقاً همان‌طور که هست (با همان حروف لاتین و کروشه) بنویسید؛ آن را "
        "ترجمه یا تغییر ندهید و هیچ شماره، ایمیل یا شناسهٔ دیگری از خودتان نسازید."
    ),
    Language.EN: (
        "The request may contain markers such as [PHONE_1], [EMAIL_1], [IBAN_1], [CARD_1] or "
        "[NATIONAL_ID_1] that stand in for private details. Wherever one is needed, write the "
        "marker exactly as it is, brackets included; never translate or alter it, and never "
        "invent a phone number, e-mail address or identifier of your own."
    ),
}

_OUTPUT = {
    Language.FA: (
        "فقط متن نهایی را بنویسید: بی‌مقدمه، بی‌توضیح دربارهٔ کاری که کردید و بی‌پرسش از کاربر."
    ),
    Language.EN: (
        "Reply with the finished text only: no preamble, no notes about what you did, and no "
        "questions to the user."
    ),
}

_TASKS: dict[GenerationKind, dict[Language, str]] = {
    GenerationKind.OUTLINE: {
        Language.FA: (
            "وظیفه: طرح کلی (ساختار) مطلب را بنویسید، نه خود مطلب. در قالب Markdown: یک عنوان "
            "اصلی با #، سپس چهار تا هشت بخش با ## و زیر هر بخش دو تا چهار گلوله که بگوید آن بخش "
            "چه نکته‌ای را پوشش می‌دهد. بخش آخر «جمع‌بندی» باشد با یک پیشنهاد برای فراخوان به اقدام."
        ),
        Language.EN: (
            "Task: write the outline (structure) of the piece, not the piece itself. In "
            "Markdown: one main title with #, then four to eight sections with ## and, under "
            "each, two to four bullets saying what that section covers. End with a "
            '"Conclusion" section that suggests a call to action.'
        ),
    },
    GenerationKind.DRAFT: {
        Language.FA: (
            "وظیفه: پیش‌نویس کامل و آمادهٔ ویرایش مطلب را بنویسید: مقدمه‌ای که خواننده را جذب کند، "
            "بدنه‌ای با بخش‌بندی روشن (عنوان‌های ## و در صورت نیاز ###) همراه با مثال یا جزئیات "
            "کاربردی، و جمع‌بندی با فراخوان به اقدام. کلیدواژه‌های داده‌شده را طبیعی و بی‌تکرار "
            "افراطی به کار ببرید. خروجی Markdown باشد."
        ),
        Language.EN: (
            "Task: write a complete draft, ready for editing: an opening that draws the reader "
            "in, a body with clear sections (## headings, ### where useful) with examples or "
            "practical detail, and a conclusion with a call to action. Use any given keywords "
            "naturally, without stuffing. Format it in Markdown."
        ),
    },
    GenerationKind.REWRITE: {
        Language.FA: (
            "وظیفه: «متن فعلی» را بازنویسی کنید. معنا، واقعیت‌ها، نام‌ها، اعداد و نشانه‌های داخل "
            "کروشه را حفظ کنید؛ روانی، ساختار و لحن را بهتر کنید و غلط‌های نگارشی و املایی را "
            "اصلاح کنید. چیزی را که در متن نیست اضافه نکنید، مگر دستورالعمل‌ها بخواهند. قالب‌بندی "
            "Markdown متن را نگه دارید."
        ),
        Language.EN: (
            'Task: rewrite the "Current text". Keep its meaning, facts, names, numbers and '
            "bracketed markers; improve flow, structure and tone and fix grammar and spelling. "
            "Add nothing that is not in the text unless the instructions ask for it. Keep its "
            "Markdown formatting."
        ),
    },
    GenerationKind.CAPTION: {
        Language.FA: (
            "وظیفه: یک کپشن کوتاه برای شبکه‌های اجتماعی (اینستاگرام یا تلگرام) بنویسید. جملهٔ اول "
            "توجه را جلب کند؛ روی هم حداکثر حدود ۱۲۰ واژه؛ یک فراخوان به اقدام روشن؛ و در پایان سه "
            "تا شش هشتگ فارسی مرتبط. ایموجی کم و بجا. اگر «متن فعلی» آمده است، کپشن را بر پایهٔ آن "
            "بنویسید."
        ),
        Language.EN: (
            "Task: write a short social media caption (Instagram or Telegram). Open with a line "
            "that catches attention; at most about 120 words in all; one clear call to action; "
            "and three to six relevant hashtags at the end. Few, fitting emoji. If a "
            '"Current text" is given, base the caption on it.'
        ),
    },
}

_LABELS = {
    Language.FA: {
        "title": "عنوان",
        "brief": "درخواست",
        "details": "مشخصات",
        "body": "متن فعلی",
        "instructions": "دستورالعمل‌های اضافی",
    },
    Language.EN: {
        "title": "Title",
        "brief": "Brief",
        "details": "Details",
        "body": "Current text",
        "instructions": "Additional instructions",
    },
}

# Output caps per kind: a caption or an outline never needs the full budget, and the cap is
# what a reservation holds, so a tight cap leaves room for other generations.
MAX_OUTPUT_TOKENS = {
    GenerationKind.OUTLINE: 1_500,
    GenerationKind.DRAFT: 8_000,
    GenerationKind.REWRITE: 8_000,
    GenerationKind.CAPTION: 600,
}
# Kinds whose answer is built from the current body.
USES_BODY = frozenset({GenerationKind.REWRITE, GenerationKind.CAPTION})
_FENCE = "-----"


@dataclass(frozen=True, slots=True)
class Request:
    """What one generation is about, before PII redaction."""

    kind: GenerationKind
    language: Language
    title: str
    brief: str = ""  # the content's prompt template, rendered
    details: Mapping[str, str] | None = None  # variables when there is no template
    body: str = ""
    instructions: str = ""


def system_instruction(kind: GenerationKind, language: Language) -> str:
    """The system message for ``kind`` in ``language``."""
    parts = (_COMMON[language], _TASKS[kind][language], _PLACEHOLDERS[language], _OUTPUT[language])
    return "\n\n".join(parts)


def user_message(request: Request) -> str:
    """The user message: labelled sections joined as text (nothing is formatted into a template)."""
    labels = _LABELS[request.language]
    sections = [f"{labels['title']}: {request.title.strip()}"]
    if request.brief.strip():
        sections.append(f"{labels['brief']}:\n{request.brief.strip()}")
    details = [f"- {name}: {value}" for name, value in (request.details or {}).items() if value]
    if details:
        sections.append(f"{labels['details']}:\n" + "\n".join(details))
    if request.kind in USES_BODY and request.body.strip():
        sections.append(f"{labels['body']}:\n{_FENCE}\n{request.body.strip()}\n{_FENCE}")
    if request.instructions.strip():
        sections.append(f"{labels['instructions']}:\n{request.instructions.strip()}")
    return "\n\n".join(sections)


def messages_for(request: Request, *, user_text: str | None = None) -> list[ChatMessage]:
    """The chat messages of ``request``; ``user_text`` replaces the user message (redacted)."""
    return [
        ChatMessage("system", system_instruction(request.kind, request.language)),
        ChatMessage("user", user_message(request) if user_text is None else user_text),
    ]
