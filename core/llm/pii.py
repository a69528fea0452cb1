"""PII redaction before text leaves for the model, and restoration in its answer.

See docs/architecture.md for where redaction sits in generation. Detected: Iranian mobiles in
every written form (Persian or Arabic-Indic digits; ``+98``, ``0098``, ``98`` or ``0`` prefixes;
groups split by spaces, dashes, dots, slashes, underscores, tatweel or parentheses) and any valid
number written in international form; e-mails; IR IBANs (mod 97), with or without ``IR``;
national ids (checksum); 16-digit card numbers (Luhn).

How the old redactor's bugs are avoided:

* Detectors run in a fixed order (e-mail, IBAN, card, phone, national id), and each one masks what
  it claimed before the next runs, so a phone can never be cut out of an IBAN or an e-mail.
* Nothing matches inside a longer digit run, and every candidate is validated (phonenumbers for
  phones, checksums for the rest), so order numbers, prices and failed-Luhn numbers stay as they
  are. A phone is made of whole digit groups (``0912 345 6789``), so none is carved out of the
  middle of a longer number.
* A bare ten-digit ``9…`` counts only when grouped the way phones are (``912 345 6789``,
  ``912 3456789``, ``912 345 67 89``) or when a phone word stands just before it (``تلفن:
  9123456789``, ``call 9123456789``), and never with a currency after it: written solid or in
  thousands (``9 000 000 000 ریال``) it is an amount. "شماره" counts as a phone word, so
  "شماره سفارش 9123456789" is redacted too when the number is a valid mobile: a lost order number
  costs less than a leaked phone.
* National ids split into groups (``049 937 0899``) or with dropped leading zeros (``499370899``)
  count only after an id word (``کد ملی``, ``national id``): eight to ten digits pass the
  checksum one time in ten, too often for ordinary numbers. Ten solid digits with a currency after
  them are an amount, not an id.
* An IBAN without ``IR`` is 24 digits whose bank code starts with 0 (every Iranian bank's does)
  passing mod 97: about one random 24-digit run in 970.
* A card is 16 digits, solid or in four groups of four (separators may differ, double, or be
  dots), passing Luhn, and starting like a payment card (3–6, or 2221–2720; Iranian cards start
  with 5 or 6), so rows of years such as ``1400 1401 1402 1403`` or ``2023 2024 2025 2026`` (both
  pass Luhn) are not cards.
* Digits are mapped one character to one character before matching, so every span found on the
  normalised copy is also the span in the original text, and the original is what is restored.

Not detected, on purpose: numbers in scripts other than ASCII, Persian and Arabic-Indic, and
national ids split into groups with no id word before them.

Placeholders look like ``[PHONE_1]``: the type tells the model what stood there so it can write
around it naturally; a small counter is cheap in tokens and survives being copied (random hex
did not); and the same input always gives the same prompt. Identical values (the same
characters) share a placeholder.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from core.text.normalize import normalize_digits
from core.validators.card import is_valid_card
from core.validators.iban import is_valid_iban
from core.validators.national_id import is_valid_national_id
from core.validators.phone import is_valid_phone

PHONE = "phone"
EMAIL = "email"
IBAN = "iban"
NATIONAL_ID = "national_id"
CARD = "card"
KINDS = (PHONE, EMAIL, IBAN, NATIONAL_ID, CARD)

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted text, the placeholder -> original mapping, and finding counts by type."""

    text: str
    mapping: dict[str, str] = field(default_factory=dict)
    # Types and counts of every occurrence replaced so far; never the values.
    findings: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Finding:
    start: int
    end: int
    kind: str


def redact(text: str, *, existing: Redaction | None = None) -> Redaction:
    """Return ``text`` with PII replaced by placeholders, continuing ``existing``'s numbering.

    Pass the previous field's result as ``existing`` to redact several fields (variables,
    instructions, body) with one numbering; the result's mapping and findings cover them all.
    Placeholder-like text already in ``text`` (``[PHONE_1]`` typed by the author) is never
    allocated, so ``restore(redact(t).text, redact(t)) == t``; only text that spells a placeholder
    an *earlier* field allocated would be restored into that field's value.
    """
    mapping = dict(existing.mapping) if existing else {}
    findings = Counter(existing.findings if existing else {})
    by_original = {original: placeholder for placeholder, original in mapping.items()}
    # Placeholder-like text the author wrote must not be restored into a value later.
    reserved = {_canonical(m) for m in _TOKEN.finditer(text)}
    pieces: list[str] = []
    last = 0
    for found in _find(text):
        original = text[found.start : found.end]
        placeholder = by_original.get(original)
        if placeholder is None:
            placeholder = _allocate(found.kind, mapping.keys() | reserved)
            mapping[placeholder] = original
            by_original[original] = placeholder
        pieces += [text[last : found.start], placeholder]
        last = found.end
        findings[found.kind] += 1
    pieces.append(text[last:])
    return Redaction(text="".join(pieces), mapping=mapping, findings=dict(findings))


def restore(text: str, redaction: Redaction) -> str:
    """Return ``text`` (the model's answer) with the placeholders it kept replaced by originals."""
    # One pass: a restored value is never scanned again, so it cannot be substituted twice.
    return _TOKEN.sub(lambda m: redaction.mapping.get(_canonical(m), m[0]), text)


def scan(text: str) -> dict[str, int]:
    """Return how many PII values of each type ``text`` contains (for the model's answer)."""
    return dict(Counter(found.kind for found in _find(text)))


# --- placeholders ---------------------------------------------------------------------------

_TAGS = {kind: kind.upper() for kind in KINDS}
_SPACE = r"[\s\u200c-\u200f\u202a-\u202e\u2066-\u2069]*"
# Tolerates what models do to placeholders: spaces or direction marks inside the brackets, a
# changed case, "NATIONAL ID", and Persian digits in the number.
_TOKEN = re.compile(
    rf"\[{_SPACE}(PHONE|EMAIL|IBAN|NATIONAL[ _]?ID|CARD){_SPACE}_?{_SPACE}"
    rf"([0-9۰-۹٠-٩]{{1,6}}){_SPACE}\]",
    re.IGNORECASE,
)


def _canonical(token: re.Match[str]) -> str:
    """Return the placeholder a tolerated spelling stands for: ``[ phone_۱ ]`` -> ``[PHONE_1]``."""
    tag = re.sub(r"[ _]", "", token[1]).upper().replace("NATIONALID", "NATIONAL_ID")
    return f"[{tag}_{int(normalize_digits(token[2]))}]"


def _allocate(kind: str, taken: set[str]) -> str:
    """Return the lowest-numbered placeholder of ``kind`` not in ``taken``."""
    n = 1
    while (placeholder := f"[{_TAGS[kind]}_{n}]") in taken:
        n += 1
    return placeholder


# --- detection ------------------------------------------------------------------------------

_MASK = "\x00"  # matches no detector, and is neither a digit nor a separator
# A currency after a number makes it an amount: "تماس بگیرید، قیمت ۹۱۲۳۴۵۶۷۸۹ تومان" is a price.
_CURRENCY_AFTER = re.compile(
    r"[\s\u200c]*(?:ر[یيى]ال|تومان|تومن|دلار|[یيى]ورو|درهم|rials?\b|tomans?\b|irr\b|irt\b|"
    r"usd\b|dollars?\b|euros?\b|\$|€)",
    re.IGNORECASE,
)


def _find(text: str) -> list[_Finding]:
    """Return the non-overlapping PII spans of ``text``, in order."""
    work = normalize_digits(text)  # same length, so spans are valid on ``text`` too
    found: list[_Finding] = []
    for kind, detect in _DETECTORS:
        spans = list(detect(work))
        found += (_Finding(start, end, kind) for start, end in spans)
        work = _masked(work, spans)
    return sorted(found, key=lambda f: f.start)


def _masked(text: str, spans: list[Span]) -> str:
    """Return ``text`` with ``spans`` overwritten so later detectors cannot see them."""
    if not spans:
        return text
    pieces: list[str] = []
    last = 0
    for start, end in sorted(spans):
        pieces += [text[last:start], _MASK * (end - start)]
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _validated(pattern: re.Pattern[str], text: str, valid: Callable[[str], bool]) -> Iterator[Span]:
    """Yield spans of ``pattern`` whose text is ``valid``; after a miss, look again one later."""
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        if valid(match[0]):
            yield match.span()
            pos = match.end()
        else:
            pos = match.start() + 1


_NON_DIGIT = re.compile(r"[^0-9]")


def _digits(s: str) -> str:
    """Return the ASCII digits of ``s``."""
    return _NON_DIGIT.sub("", s)


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9-])"
)


def _find_emails(text: str) -> Iterator[Span]:
    """Yield e-mail addresses (ASCII; Persian digits were mapped before)."""
    for match in _EMAIL.finditer(text):
        yield match.span()


_IBAN = re.compile(r"(?<![A-Za-z0-9])[Ii][Rr](?:[ \u00a0-]?[0-9]){24}(?![0-9])")
# The same 24 digits with the "IR" left off (people copy them from bank apps that way).
_BARE_IBAN = re.compile(r"(?<![A-Za-z0-9])[0-9](?:[ \u00a0-]?[0-9]){23}(?![0-9])")


def _find_ibans(text: str) -> Iterator[Span]:
    """Yield IR IBANs, solid or grouped, any case, with or without "IR", that pass mod 97."""
    spans = list(_validated(_IBAN, text, lambda s: is_valid_iban("IR" + _digits(s))))
    yield from spans
    yield from _validated(_BARE_IBAN, _masked(text, spans), _is_bare_iban)


def _is_bare_iban(candidate: str) -> bool:
    """Whether 24 digits are an IR IBAN without "IR": its bank code starts with 0, as every
    Iranian bank's does, and mod 97 holds (so 1 in about 970 random 24-digit runs passes)."""
    digits = _digits(candidate)
    return digits[2] == "0" and is_valid_iban("IR" + digits)


# Sixteen digits, solid or in groups of four split by up to three separators each, which need
# not be the same ("6037-9900 0000-0006", "6037  9900  0000  0006", "6037.9900.0000.0006").
_CARD_SEP = r"[ \u00a0\-._/\u0640\u2010-\u2015]"
_CARD = re.compile(rf"(?<![0-9])[0-9]{{4}}(?:{_CARD_SEP}{{0,3}}[0-9]{{4}}){{3}}(?![0-9])")


def _find_cards(text: str) -> Iterator[Span]:
    """Yield 16-digit payment card numbers that pass Luhn."""
    return _validated(_CARD, text, lambda s: _payment_card_prefix(s) and is_valid_card(_digits(s)))


def _payment_card_prefix(number: str) -> bool:
    """Whether ``number`` starts like a payment card: 3–6, or Mastercard's 2221–2720."""
    return number[0] in "3456" or "2221" <= number[:4] <= "2720"


_NATIONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{10}|[0-9]{3}-[0-9]{6}-[0-9])(?![0-9])")
_YEH, _KAF = "[یيى]", "[کك]"
_ID_WORD = re.compile(
    rf"(?:{_KAF}د|شماره|شناسه)[\s\u200c]*مل{_YEH}|national[\s_-]*(?:id|code|number)|"
    r"code[\s_-]*melli|melli[\s_-]*code|\bnid\b",
    re.IGNORECASE,
)


def _find_national_ids(text: str) -> Iterator[Span]:
    """Yield national ids with a valid check digit, ten digits solid or dashed as printed on the
    card, anywhere (ids after an id word were taken before phones, by the next function)."""
    for span in _validated(_NATIONAL_ID, text, lambda s: is_valid_national_id(_digits(s))):
        if _CURRENCY_AFTER.match(text, span[1]) is None:  # "۱۵۰۰۰۰۰۰۳۲ ریال" is a price
            yield span


def _find_announced_national_ids(text: str) -> Iterator[Span]:
    """Yield the number after an id word ("کد ملی", "national id") when it is a valid id, also
    split by spaces or with dropped leading zeros (eight or nine digits). This runs before the
    phone detector: "کد ملی ۹۰۰ ۰۰۰۰۰۰۹" is an id even though it is shaped like a mobile."""
    # Id words are rare, so look for them first and read the number that follows each.
    for word in _ID_WORD.finditer(text):
        run = _ID_RUN_AFTER.match(text, word.end())
        if run is None:
            continue
        digits = _digits(run[1])
        if (
            8 <= len(digits) <= 10
            and is_valid_national_id(digits, allow_short=True)
            and _CURRENCY_AFTER.match(text, run.end()) is None
        ):
            yield run.span(1)


# Between a word and the number it introduces: a few characters, not a digit, a mask, or the end
# of a sentence ("کد ملی من: ۴۹۹۳۷۰۸۹۹", "call me on 9123456789").
_LEAD_IN = r"[^0-9\x00\n.!?؟؛]{0,16}"
_LOOKBEHIND_CHARS = 48
# After an id word: digit groups split by spaces, dashes or dots, read whole.
_ID_RUN_AFTER = re.compile(_LEAD_IN + r"([0-9]+(?:[ \u00a0\-.\u2010-\u2015]{1,2}[0-9]+)*)(?![0-9])")


def _after(words: re.Pattern[str], text: str, start: int) -> bool:
    """Whether a match of ``words`` ends just before ``start`` (across a short lead-in)."""
    window = text[max(0, start - _LOOKBEHIND_CHARS) : start]
    return any(_LEAD_IN_RE.fullmatch(window, m.end()) for m in words.finditer(window))


_LEAD_IN_RE = re.compile(_LEAD_IN)


# Digit groups joined by up to three separators: spaces, dashes, dots, slashes, underscores,
# tatweel (ـ), parentheses, marks.
_SEP = r"[ \t\u00a0\-./_\u0640()\u200c-\u200f\u202a-\u202e\u2066-\u2069\u2010-\u2015\u2212]"
_GROUP = re.compile(r"\+?[0-9]+")
_RUN = re.compile(rf"\+?[0-9]+(?:{_SEP}{{1,3}}\+?[0-9]+)*")
_MAX_PHONE_CHARS = 18  # "+" or "00", then the at most 15 digits E.164 allows (+1 spare)
_MOBILE_SHAPES = {10: "9", 11: "09", 12: "989", 13: "9809"}  # length -> required start
_BARE_MOBILE_SHAPES = frozenset({(3, 7), (3, 3, 4), (3, 3, 2, 2)})
_COUNTRY_CODES = frozenset(map(str, phonenumbers.COUNTRY_CODE_TO_REGION_CODE))
# Words that say a phone number follows, so that a bare "9123456789" after one is a phone.
_PHONE_WORD = re.compile(
    r"تلفن|موبا[یيى]ل|همراه|تماس|شماره|واتس[\u200c ]?اپ|تلگرام|"
    r"\b(?:phone|mobile|cell|tel|call|whatsapp|telegram)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Candidate:
    digits: str  # the joined groups, maybe with a leading "+"
    last: int  # index of the last group used
    shape: tuple[int, ...]  # digits per group: (3, 3, 4) for 912 345 6789


def _find_phones(text: str) -> Iterator[Span]:
    """Yield phone numbers, each made of whole consecutive digit groups of one run."""
    for run in _RUN.finditer(text):
        groups = list(_GROUP.finditer(text, run.start(), run.end()))
        parts = [group[0] for group in groups]
        first = 0
        while first < len(parts):
            found = _longest_phone(parts, first, _Context(text, groups, first))
            if found is None:
                first += 1
                continue
            last, skip = found
            yield _with_open_paren(text, groups[first].start() + skip, groups[last].end())
            first = last + 1


class _Context:
    """What the text around a candidate says, asked only for bare ten-digit ``9…`` numbers."""

    __slots__ = ("_announced", "_first", "_groups", "_text")

    def __init__(self, text: str, groups: list[re.Match[str]], first: int) -> None:
        self._text, self._groups, self._first = text, groups, first
        self._announced: bool | None = None

    def announced(self) -> bool:
        """Whether a phone word ("تلفن", "call") stands just before the first group."""
        if self._announced is None:
            start = self._groups[self._first].start()
            # "شماره ملی 9000000009" announces an id: "شماره" alone is no phone word there.
            self._announced = _after(_PHONE_WORD, self._text, start) and not _after(
                _ID_WORD, self._text, start
            )
        return self._announced

    def amount(self, last: int) -> bool:
        """Whether a currency follows group ``last`` ("۹۱۲۳۴۵۶۷۸۹ ریال" is a price)."""
        return _CURRENCY_AFTER.match(self._text, self._groups[last].end()) is not None


def _with_open_paren(text: str, start: int, end: int) -> Span:
    """Take in the "(" of ``(0912) 345 6789`` so the redacted text has no lone ")"."""
    inside = text[start:end]
    if text[start - 1 : start] == "(" and inside.count(")") > inside.count("("):
        start -= 1
    return start, end


def _longest_phone(parts: list[str], first: int, context: _Context) -> tuple[int, int] | None:
    """Return (last group, chars to skip) of the longest phone starting at group ``first``."""
    if parts[first][0] not in "+09":
        return None  # every candidate starts with this group, and no phone starts this way
    for candidate in reversed(_candidates(parts, first)):
        if _is_phone(candidate, context):
            return candidate.last, 0
        stray_plus = candidate.digits.startswith("+")
        if stray_plus and _is_phone(_without_plus(candidate), context):
            return candidate.last, 1  # "+0912…": the "+" stays as text
    return None


def _without_plus(candidate: _Candidate) -> _Candidate:
    return _Candidate(candidate.digits[1:], candidate.last, candidate.shape)


def _candidates(parts: list[str], first: int) -> list[_Candidate]:
    """Return ``parts[first]``, then it joined with the next group, and so on, while phone-sized."""
    joined = ""
    shape: tuple[int, ...] = ()
    candidates: list[_Candidate] = []
    for index in range(first, len(parts)):
        part = parts[index]
        if joined and part.startswith("+"):
            break  # a "+" can only begin a number
        joined += part
        if len(joined) > _MAX_PHONE_CHARS:
            break
        shape += (len(part.lstrip("+")),)
        candidates.append(_Candidate(joined, index, shape))
    return candidates


def _is_phone(candidate: _Candidate, context: _Context) -> bool:
    """Whether the candidate is an Iranian mobile in any national form or an international
    number."""
    digits = candidate.digits
    international = _international_digits(digits)
    if international is not None:
        return _is_international(international)
    if not digits.startswith(_MOBILE_SHAPES.get(len(digits), "-")):
        return False  # cheap exit before asking phonenumbers
    if len(digits) == 10 and not _bare_mobile_reads_as_phone(candidate, context):
        return False
    # National forms must be mobiles: 11-digit landline-like strings are too often other numbers.
    return _valid_phone(digits, mobile_only=True)


def _bare_mobile_reads_as_phone(candidate: _Candidate, context: _Context) -> bool:
    """Whether a ten-digit ``9…`` without prefix is a phone rather than an amount or a table.

    It is when grouped the usual way (``912 345 6789``) or after a phone word in any shape
    (``تلفن: 9123456789``), and not followed by a currency. Otherwise 9123456789 and
    9 000 000 000 are amounts of rials, 91204 58377 or 900 824 9 753 numbers in a table.
    """
    if context.amount(candidate.last):
        return False
    return candidate.shape in _BARE_MOBILE_SHAPES or context.announced()


def _international_digits(digits: str) -> str | None:
    """Return the digits after ``+`` or ``00``, or None for a national form."""
    if digits.startswith("+"):
        return digits[1:]
    if digits.startswith("00"):
        return digits[2:]
    return None


def _is_international(digits: str) -> bool:
    """Whether ``+digits`` is a valid number of any kind (written so, it is surely a phone)."""
    if not 7 <= len(digits) <= 15:
        return False
    if not any(digits[:n] in _COUNTRY_CODES for n in (1, 2, 3)):
        return False  # cheap exit: also rejects a leading 0, which no country code has
    return _valid_phone("+" + digits, mobile_only=False)


@lru_cache(maxsize=4096)
def _valid_phone(digits: str, *, mobile_only: bool) -> bool:
    """``is_valid_phone``, remembered: digit soups repeat candidates and parsing is slow."""
    return is_valid_phone(digits, mobile_only=mobile_only, regions=None)


_DETECTORS: tuple[tuple[str, Callable[[str], Iterator[Span]]], ...] = (
    (EMAIL, _find_emails),
    (IBAN, _find_ibans),
    (CARD, _find_cards),
    (NATIONAL_ID, _find_announced_national_ids),
    (PHONE, _find_phones),
    (NATIONAL_ID, _find_national_ids),
)
