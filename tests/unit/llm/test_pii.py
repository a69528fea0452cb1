"""PII redaction and restoration (docs/architecture.md §4; and the old redactor's bugs)."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.llm.pii import KINDS, Redaction, redact, restore, scan
from core.text.normalize import normalize_digits
from core.validators.card import is_valid_card
from core.validators.iban import iban_check_digits
from core.validators.national_id import is_valid_national_id

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PLACEHOLDER = re.compile(r"\[(PHONE|EMAIL|IBAN|NATIONAL_ID|CARD)_[0-9]+\]")
IBAN = "IR820540102680020817909002"
CARD = "6037990000000006"
NATIONAL_ID = "0499370899"


def only(kind: str, count: int = 1) -> dict[str, int]:
    return {kind: count}


# --- the old system's table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted", "findings"),
    [
        # The phone pattern ate the middle of IBANs; an invalid IBAN now stays whole.
        ("IR123456789012345678901234", "IR123456789012345678901234", {}),
        (f"شبا {IBAN}", "شبا [IBAN_1]", only("iban")),
        # Long numbers, cards failing Luhn and prices were masked as phones.
        ("order 19123456789012", "order 19123456789012", {}),
        ("card 6037991234567890", "card 6037991234567890", {}),
        ("price 9000000000 toman", "price 9000000000 toman", {}),
        ("قیمت ۹۰۰۰۰۰۰۰۰۰ ریال", "قیمت ۹۰۰۰۰۰۰۰۰۰ ریال", {}),
        ("9 000 000 000 ریال", "9 000 000 000 ریال", {}),
        # A Luhn-valid card is a card, not a phone.
        (f"card {CARD}", "card [CARD_1]", only("card")),
        ("tel:00989123456789", "tel:[PHONE_1]", only("phone")),
        # Forms that were missed.
        ("۰۹۱۲۳۴۵۶۷۸۹", "[PHONE_1]", only("phone")),
        ("0912 345 6789", "[PHONE_1]", only("phone")),
        ("+98 912 345 6789", "[PHONE_1]", only("phone")),
        ("ir82 0540 1026 8002 0817 9090 02", "[IBAN_1]", only("iban")),
        ("IR82 0540 1026 8002 0817 9090 02.", "[IBAN_1].", only("iban")),
        # The phone was replaced first and "@gmail.com" leaked.
        ("09123456789@gmail.com", "[EMAIL_1]", only("email")),
        # National ids were never checked; now they are, with their checksum.
        (f"کد ملی {NATIONAL_ID}", "کد ملی [NATIONAL_ID_1]", only("national_id")),
        ("کد ملی 0499370898", "کد ملی 0499370898", {}),
    ],
)
def test_old_systems_cases(text: str, redacted: str, findings: dict[str, int]) -> None:
    result = redact(text)
    assert result.text == redacted
    assert result.findings == findings
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "phone",
    [
        "09123456789",
        "0912 345 6789",
        "0912-345-6789",
        "0912.345.6789",
        "(0912) 345 6789",
        "0912 345 67 89",
        "+989123456789",
        "+98 912 345 6789",
        "+98-912-345-6789",
        "+98 (912) 345-6789",
        "+98 0912 345 6789",
        "00989123456789",
        "0098 912 345 6789",
        "989123456789",
        "98 912 345 6789",
        "912 345 6789",
        "912-345-6789",
        "۰۹۱۲۳۴۵۶۷۸۹",
        "۰۹۱۲ ۳۴۵ ۶۷۸۹",
        "٠٩١٢٣٤٥٦٧٨٩",
        "+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹",
        "۰۹۱۲\u200c۳۴۵\u200c۶۷۸۹",
        "+44 7911 123456",
        "+1 415-555-2671",
        "0044 7911 123456",
    ],
)
@pytest.mark.parametrize("around", ["{}", "تماس: {}.", "call me at {} now", "({})", "شماره{}است"])
def test_phone_forms(phone: str, around: str) -> None:
    text = around.format(phone)
    result = redact(text)
    assert result.text == around.format("[PHONE_1]")
    assert result.findings == only("phone")
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "text",
    [
        "9123456789",  # a bare solid 9… is an amount
        "912345678",
        "091234567890",  # inside a longer run
        "1091234567890",
        "02112345678",  # landline in national form
        "+98 21",
        "2024-09-12",
        "3.14159",
        "91204 58377",  # two numbers of a table
        "1400 1401 1402 1403",  # years that pass Luhn, not a card
        "2023 2024 2025 2026",
        "ISBN 978-3-16-148410-0",
        "",
    ],
)
def test_not_pii(text: str) -> None:
    assert redact(text).text == text
    assert scan(text) == {}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # Their groups "9891 2345 6789" spell +98 912 345 6789: the phone detector must not win.
        ("IR65 9891 2345 6789 0000 0000 00", "iban"),
        ("5022 9891 2345 6789", "card"),
        ("x09123456789@example.com", "email"),
    ],
)
def test_a_phone_spelled_inside_another_kind_is_not_cut_out(text: str, kind: str) -> None:
    result = redact(text)
    assert result.findings == only(kind)
    assert PLACEHOLDER.fullmatch(result.text)


def test_international_numbers_of_any_kind_are_phones() -> None:
    # Written with "+" or "00" a number is surely a phone, so landlines count too.
    assert redact("+98 21 1234 5678").text == "[PHONE_1]"
    assert redact("00982112345678").text == "[PHONE_1]"
    assert redact("021 1234 5678").text == "021 1234 5678"  # national landline: not a mobile


def test_parentheses_around_the_prefix_are_taken_in() -> None:
    assert redact("Tel. (0912) 345 6789").text == "Tel. [PHONE_1]"
    assert redact("(09123456789)").text == "([PHONE_1])"


def test_a_stray_plus_before_a_national_number_stays_text() -> None:
    assert redact("tel +09123456789").text == "tel +[PHONE_1]"


def test_two_phones_separated_by_a_space_are_two_phones() -> None:
    result = redact("09123456789 09351112222")
    assert result.text == "[PHONE_1] [PHONE_2]"
    assert result.findings == only("phone", 2)


@pytest.mark.parametrize(
    ("text", "redacted", "kind"),
    [
        ("mail ali.rezaei+news@example.co.ir!", "mail [EMAIL_1]!", "email"),
        ("ایمیل:ali@example.comاست", "ایمیل:[EMAIL_1]است", "email"),
        ("ali۱۲@example.com", "[EMAIL_1]", "email"),
        (f"شبا:{IBAN.lower()}", "شبا:[IBAN_1]", "iban"),
        ("IR06 2960 0000 0010 0324 2000 01", "[IBAN_1]", "iban"),
        (IBAN.translate(PERSIAN), "[IBAN_1]", "iban"),
        ("کارت 6037-9900-0000-0006", "کارت [CARD_1]", "card"),
        ("کارت 6037 9900 0000 0006", "کارت [CARD_1]", "card"),
        ("کارت " + CARD.translate(PERSIAN), "کارت [CARD_1]", "card"),
        ("049-937089-9", "[NATIONAL_ID_1]", "national_id"),
        (NATIONAL_ID.translate(ARABIC_INDIC), "[NATIONAL_ID_1]", "national_id"),
    ],
)
def test_other_kinds(text: str, redacted: str, kind: str) -> None:
    result = redact(text)
    assert result.text == redacted
    assert result.findings == only(kind)
    assert restore(result.text, result) == text


def test_a_card_after_a_failed_candidate_is_still_found() -> None:
    # "1111 5022 9891 2345" is tried first and fails; the search resumes one character later.
    result = redact("code 1111 5022 9891 2345 6789")
    assert result.text == "code 1111 [CARD_1]"
    assert result.findings == only("card")


@pytest.mark.parametrize(
    "card",
    [
        "6037-9900 0000-0006",  # mixed
        "6037  9900  0000  0006",  # doubled
        "6037 - 9900 - 0000 - 0006",
        "6037.9900.0000.0006",  # dots
        "6037_9900_0000_0006",
        "6037/9900/0000/0006",
        "6037.9900-0000 0006",
    ],
)
@pytest.mark.parametrize("script", [None, PERSIAN, ARABIC_INDIC])
def test_cards_with_mixed_doubled_or_dot_separators(card: str, script: dict | None) -> None:
    text = f"کارت: {_in_script(card, script)}."
    result = redact(text)
    assert result.text == "کارت: [CARD_1]."
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "phone",
    [
        "0912/345/6789",
        "0912_345_6789",
        "0912\u0640345\u06406789",  # tatweel
        "0912\u0640\u0640345\u0640\u06406789",
        "0912 / 345 / 6789",
        "+98/912/345/6789",
        "912/345/6789",
        "912_345_67_89",
    ],
)
@pytest.mark.parametrize("script", [None, PERSIAN, ARABIC_INDIC])
def test_phones_split_by_slashes_underscores_or_tatweel(phone: str, script: dict | None) -> None:
    text = f"تماس با من {_in_script(phone, script)} لطفا"
    result = redact(text)
    assert result.text == "تماس با من [PHONE_1] لطفا"
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "text",
    [
        "تلفن: {}",
        "تلفنم {} است",
        "موبایل {}",
        "شماره همراه من {}",
        "شماره تماس: {}",
        "با این شماره {} تماس بگیرید",
        "call me on {}",
        "Phone: {}",
        "whatsapp {}",
    ],
)
@pytest.mark.parametrize("number", ["9123456789", "91234 56789", "9123 456 789"])
@pytest.mark.parametrize("script", [None, PERSIAN, ARABIC_INDIC])
def test_a_bare_mobile_after_a_phone_word_is_a_phone(
    text: str, number: str, script: dict | None
) -> None:
    written = text.format(_in_script(number, script))
    result = redact(written)
    assert result.text == text.format("[PHONE_1]")
    assert restore(result.text, result) == written


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("کد ملی: 049 937 0899", "کد ملی: [NATIONAL_ID_1]"),
        ("کدملی 0499 3708 99", "کدملی [NATIONAL_ID_1]"),
        ("کد\u200cملی من ۰۴۹۹ ۳۷۰۸ ۹۹ است", "کد\u200cملی من [NATIONAL_ID_1] است"),
        ("کد ملي ٠٤٩-٩٣٧-٠٨٩٩", "کد ملي [NATIONAL_ID_1]"),
        ("national id: 049.937.0899", "national id: [NATIONAL_ID_1]"),
        ("کد ملی: 499370899", "کد ملی: [NATIONAL_ID_1]"),  # the leading zero dropped
        ("شماره ملی ۴۹۹۳۷۰۸۹۹", "شماره ملی [NATIONAL_ID_1]"),
        ("NID 4 9937 0899", "NID [NATIONAL_ID_1]"),
        ("کد ملی 0012345679", "کد ملی [NATIONAL_ID_1]"),
        ("کد ملی 12345679", "کد ملی [NATIONAL_ID_1]"),  # two zeros dropped
    ],
)
def test_national_ids_split_or_short_after_an_id_word(text: str, redacted: str) -> None:
    result = redact(text)
    assert result.text == redacted
    assert result.findings == only("national_id")
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "text",
    [
        "049 937 0899",  # split, but no id word
        "499370899",  # short, no id word
        "کد ملی 499370898",  # the check digit is wrong
        "کد ملی را وارد کنید. 499370899 نفر",  # a sentence ends between them
        "کد ملی 1234567",  # too short even with zeros
        "قیمت 1500000035 ریال",  # passes the id checksum, but it is an amount
    ],
)
def test_split_or_short_numbers_without_an_id_word_are_not_ids(text: str) -> None:
    assert scan(text) == {}


@pytest.mark.parametrize(
    "iban",
    [
        "820540102680020817909002",
        "82 0540 1026 8002 0817 9090 02",
        "8205 4010 2680 0208 1790 9002",
        "82-0540-1026-8002-0817-9090-02",
        "۸۲۰۵۴۰۱۰۲۶۸۰۰۲۰۸۱۷۹۰۹۰۰۲",
        IBAN[2:].translate(ARABIC_INDIC),
    ],
)
def test_ibans_without_ir(iban: str) -> None:
    text = f"شماره شبا: {iban}"
    result = redact(text)
    assert result.text == "شماره شبا: [IBAN_1]"
    assert result.findings == only("iban")
    assert restore(result.text, result) == text


def test_a_bare_iban_must_pass_mod_97_and_have_a_bank_code() -> None:
    assert scan("820540102680020817909003") == {}  # one digit off
    bban = "1" + "0" * 21  # a bank code that does not start with 0
    assert scan(iban_check_digits(bban) + bban) == {}


@pytest.mark.parametrize(
    "text",
    [
        "سال ۱۴۰۲ بود و ۱۲۰ نفر آمدند.",
        "در سال‌های ۱۳۹۹ تا ۱۴۰۳ قیمت ۲۵۰٬۰۰۰ تومان شد.",
        "قیمت: ۹۱۲۳۴۵۶۷۸۹ ریال",
        "برای تماس و خرید: ۹۱۲۳۴۵۶۷۸۹ تومان",
        "تماس بگیرید؛ ۹۱۲۳۴۵۶۷۸۹ نفر",  # the sentence ended after the phone word
        "شماره ۱۲ از ۴۰",
        "تاریخ ۱۴۰۲/۰۹/۱۲ ساعت ۰۹:۳۰",
        "۱۴۰۰.۱۴۰۱.۱۴۰۲.۱۴۰۳",
        "2023-2024 2025.2026",
        "۹ ۰۰۰ ۰۰۰ ۰۰۰ ریال",
        "جمعیت ۸۵ میلیون و ۱۲۳٬۴۵۶ نفر",
        "1,500,000,032 ریال",
    ],
)
def test_ordinary_numbers_in_persian_prose_are_not_pii(text: str) -> None:
    assert scan(text) == {}
    assert redact(text).text == text


def test_identical_values_share_a_placeholder_and_findings_count_occurrences() -> None:
    result = redact("a@b.co 09123456789 a@b.co 0912 345 6789")
    assert result.text == "[EMAIL_1] [PHONE_1] [EMAIL_1] [PHONE_2]"
    assert result.mapping == {
        "[EMAIL_1]": "a@b.co",
        "[PHONE_1]": "09123456789",
        "[PHONE_2]": "0912 345 6789",
    }
    assert result.findings == {"email": 2, "phone": 2}


def test_fields_share_one_numbering() -> None:
    variables = redact("نام: علی، تلفن 09123456789")
    instructions = redact("به x@y.io ایمیل بزن", existing=variables)
    body = redact("تلفن 09123456789 و 09351112222", existing=instructions)
    assert variables.text == "نام: علی، تلفن [PHONE_1]"
    assert instructions.text == "به [EMAIL_1] ایمیل بزن"
    assert body.text == "تلفن [PHONE_1] و [PHONE_2]"
    assert body.mapping == {
        "[PHONE_1]": "09123456789",
        "[EMAIL_1]": "x@y.io",
        "[PHONE_2]": "09351112222",
    }
    assert body.findings == {"phone": 3, "email": 1}
    assert variables.mapping == {"[PHONE_1]": "09123456789"}  # earlier results are not mutated


def test_findings_hold_types_and_counts_never_values() -> None:
    findings = redact(f"09123456789 a@b.co {IBAN} {CARD} {NATIONAL_ID}").findings
    assert findings == dict.fromkeys(["phone", "email", "iban", "card", "national_id"], 1)
    assert all(isinstance(v, int) for v in findings.values())


def test_placeholders_the_author_typed_are_not_reused() -> None:
    text = "keep [PHONE_1] and [ email_1 ] as typed; 09123456789 x@y.io"
    result = redact(text)
    assert result.text == "keep [PHONE_1] and [ email_1 ] as typed; [PHONE_2] [EMAIL_2]"
    assert restore(result.text, result) == text


@pytest.mark.parametrize(
    "answer",
    [
        "Call [PHONE_1].",
        "Call [ PHONE_1 ].",
        "Call [phone_1].",
        "Call [PHONE 1].",
        "Call [PHONE_۱].",
        "Call [\u200fPHONE_1\u200f].",
    ],
)
def test_restore_tolerates_what_models_do_to_placeholders(answer: str) -> None:
    redaction = redact("09123456789")
    assert restore(answer, redaction) == "Call 09123456789."


def test_restore_tolerates_national_id_spelled_with_a_space() -> None:
    redaction = redact(NATIONAL_ID)
    assert (
        restore("[NATIONAL ID_1] / [national_id_1]", redaction) == f"{NATIONAL_ID} / {NATIONAL_ID}"
    )


def test_restore_leaves_unknown_placeholders() -> None:
    redaction = redact("09123456789")
    assert restore("[PHONE_2] [EMAIL_1] [FOO_1]", redaction) == "[PHONE_2] [EMAIL_1] [FOO_1]"


def test_restore_is_one_pass() -> None:
    # Even if a value looked like another placeholder, it is never substituted again.
    redaction = Redaction(text="", mapping={"[PHONE_1]": "[EMAIL_1]", "[EMAIL_1]": "x@y.io"})
    assert restore("[PHONE_1] [EMAIL_1]", redaction) == "[EMAIL_1] x@y.io"


def test_scan_counts_without_mapping() -> None:
    assert scan("Reach 0912 345 6789 or 09351112222 or a@b.co") == {"phone": 2, "email": 1}
    assert scan("nothing here, 1403 / ۱۴۰۳") == {}


def test_kinds_are_the_documented_ones() -> None:
    assert set(KINDS) == {"phone", "email", "iban", "national_id", "card"}


# --- properties -----------------------------------------------------------------------------

OPERATORS = ["912", "919", "935", "936", "901", "990", "921", "930", "939", "910"]


def _assigned(nsn: str) -> bool:
    number = phonenumbers.parse("+98" + nsn)
    mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    return phonenumbers.is_valid_number(number) and mobile


digits = st.text("0123456789", min_size=1, max_size=1)
scripts = st.sampled_from([None, PERSIAN, ARABIC_INDIC])


def _in_script(text: str, script: dict[int, str] | None) -> str:
    return text if script is None else text.translate(script)


@st.composite
def phones(draw: st.DrawFn) -> str:
    nsn = draw(
        st.builds(
            str.__add__, st.sampled_from(OPERATORS), st.text("0123456789", min_size=7, max_size=7)
        ).filter(_assigned)
    )
    sep = draw(
        st.sampled_from(
            [
                "",
                " ",
                "-",
                ".",
                " - ",
                "\u00a0",
                "\u200c",
                "/",
                "_",
                "\u0640",
                " / ",
                "\u0640\u0640",
            ]
        )
    )
    groups = draw(st.sampled_from([[3, 3, 4], [3, 7], [3, 3, 2, 2], [10]]))
    parts, i = [], 0
    for size in groups:
        parts.append(nsn[i : i + size])
        i += size
    body = sep.join(parts)
    prefix = draw(st.sampled_from(["0", "+98", "0098", "98", "+98 ", "0098 ", "+98 0", ""]))
    if prefix == "" and (sep == "" or groups == [10]):
        prefix = "0"  # a bare number must be grouped to read as a phone
    written = draw(st.sampled_from([prefix + body, f"({prefix}{parts[0]}) {sep.join(parts[1:])}"]))
    return _in_script(written, draw(scripts))


@st.composite
def cards(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from("56")) + draw(st.text("0123456789", min_size=14, max_size=14))
    number = next(body + d for d in "0123456789" if is_valid_card(body + d))
    if draw(st.booleans()):  # one separator throughout
        seps = [draw(st.sampled_from(["", " ", "-"]))] * 3
    else:  # mixed, doubled or dots
        mixed = st.sampled_from([" ", "-", ".", "  ", " - ", "_", "/"])
        seps = draw(st.lists(mixed, min_size=3, max_size=3))
    written = number[:4] + "".join(
        sep + number[i : i + 4] for sep, i in zip(seps, (4, 8, 12), strict=True)
    )
    return _in_script(written, draw(scripts))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    bare = draw(st.booleans())
    bban = ("0" if bare else "") + draw(
        st.text("0123456789", min_size=22 - bare, max_size=22 - bare)
    )
    iban = f"IR{iban_check_digits(bban)}{bban}"
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, 26, 4))
    iban = draw(st.sampled_from([iban, iban.lower()]))
    if bare:  # copied without the country: "82 0540 …" or "8205 40…"
        iban = iban[2:].lstrip()
    return _in_script(iban, draw(scripts))


@st.composite
def national_ids(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=9, max_size=9).filter(lambda b: len(set(b)) > 1))
    number = next(body + d for d in "0123456789" if is_valid_national_id(body + d))
    return _in_script(number, draw(scripts))


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True))
    domain = draw(st.from_regex(r"([a-z0-9-]{1,10}\.){1,3}[a-z]{2,6}", fullmatch=True))
    return _in_script(f"{local}@{domain}", draw(scripts))


SECRETS = {"phone": phones(), "card": cards(), "iban": ibans(), "national_id": national_ids()}
SECRETS["email"] = emails()

# Persian and English words, punctuation and ZWNJ; no digits, "@" or "+", so that whatever
# digits remain after redaction can only have come from the secrets.
filler = st.text(
    alphabet=st.sampled_from("ابپتجچحخدرزسشصطعفقکگلمنوهیآ abcxyzABCXYZ،؛؟!:\n\u200c"),
    max_size=25,
)
boundary = st.sampled_from([" ", "\n", ": ", " (", ") ", "، ", " «", "» "])
any_secret = st.sampled_from(sorted(SECRETS)).flatmap(
    lambda kind: SECRETS[kind].map(lambda value: (kind, value))
)


def _leftover_digits(redacted: str) -> str:
    """Digits (any script) left in ``redacted`` once placeholders are removed."""
    return re.sub(r"[^0-9]", "", normalize_digits(PLACEHOLDER.sub("", redacted)))


@settings(max_examples=250, deadline=None)
@given(any_secret, filler, boundary, boundary, filler)
def test_a_secret_in_text_is_redacted_and_restored(
    secret: tuple[str, str], before: str, left: str, right: str, after: str
) -> None:
    kind, value = secret
    text = before + left + value + right + after
    result = redact(text)
    assert result.findings == {kind: 1}, (text, result.text)
    assert _leftover_digits(result.text) == ""
    assert normalize_digits(value) not in normalize_digits(result.text)
    assert "@" not in result.text
    assert restore(result.text, result) == text
    assert scan(result.text) == {}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(any_secret, filler), min_size=1, max_size=5), boundary)
def test_several_secrets_are_all_redacted(
    items: list[tuple[tuple[str, str], str]], sep: str
) -> None:
    text = sep.join(f"{words}{sep}{value}" for (_, value), words in items)
    result = redact(text)
    assert _leftover_digits(result.text) == ""
    assert sum(result.findings.values()) == len(items)
    assert restore(result.text, result) == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(any_secret, filler), min_size=2, max_size=4), boundary)
def test_fields_redacted_in_turn_restore_each(
    items: list[tuple[tuple[str, str], str]], sep: str
) -> None:
    fields = [f"{words}{sep}{value}" for (_, value), words in items]
    redaction: Redaction | None = None
    texts = []
    for field in fields:
        redaction = redact(field, existing=redaction)
        texts.append(redaction.text)
    assert redaction is not None
    assert [restore(t, redaction) for t in texts] == fields
    assert sum(redaction.findings.values()) == len(fields)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_round_trips(text: str) -> None:
    result = redact(text)
    assert restore(result.text, result) == text
    assert set(result.findings) <= set(KINDS)


@settings(max_examples=100, deadline=None)
@given(
    # 24 digits may be an IBAN written without "IR"
    st.text("0123456789", min_size=18, max_size=40).filter(lambda run: len(run) != 24),
    filler,
    filler,
    scripts,
)
def test_digit_runs_longer_than_any_pii_are_not_pii(
    run: str, before: str, after: str, script: dict[int, str] | None
) -> None:
    text = f"{before} {_in_script(run, script)} {after}"
    assert redact(text).text == text


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[1-8][0-9]{11,14}", fullmatch=True), filler, filler, scripts)
def test_runs_no_phone_or_card_can_be_are_not_pii(
    run: str, before: str, after: str, script: dict[int, str] | None
) -> None:
    # 12 to 15 digits not starting with 0 or 9: too long for an id, too short for a card, and
    # no national or "+"/"00" phone form.
    text = f"{before} {_in_script(run, script)} {after}"
    assert redact(text).text == text


# --- the forms added for the issue "PII forms not caught today" ----------------------------

PHONE_WORDS = ["تلفن", "موبایل", "شماره تماس", "شماره همراه", "تماس", "phone", "call"]
ID_WORDS = ["کد ملی", "کدملی", "کد\u200cملی", "شماره ملی", "national id", "NID"]
LEAD_INS = [" ", ": ", " من ", " من: ", "\u200cام ", " is "]


@st.composite
def bare_mobiles(draw: st.DrawFn) -> str:
    nsn = draw(
        st.builds(
            str.__add__, st.sampled_from(OPERATORS), st.text("0123456789", min_size=7, max_size=7)
        ).filter(_assigned)
    )
    cut = draw(st.sampled_from([None, 4, 5, 6]))
    written = nsn if cut is None else f"{nsn[:cut]} {nsn[cut:]}"
    return _in_script(written, draw(scripts))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PHONE_WORDS), st.sampled_from(LEAD_INS), bare_mobiles(), filler)
def test_property_a_bare_mobile_after_a_phone_word_is_redacted(
    word: str, lead_in: str, number: str, after: str
) -> None:
    text = f"{word}{lead_in}{number} {after}"
    result = redact(text)
    assert result.findings == only("phone"), (text, result.text)
    assert _leftover_digits(result.text) == ""
    assert restore(result.text, result) == text


@settings(max_examples=150, deadline=None)
@given(bare_mobiles(), st.sampled_from(["ریال", "تومان", "تومن", "rials", "$"]), filler)
def test_property_a_bare_mobile_before_a_currency_is_an_amount(
    number: str, currency: str, before: str
) -> None:
    text = f"{before} تماس بگیرید: قیمت {number} {currency}"
    assert scan(text) == {}


@st.composite
def split_or_short_ids(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=9, max_size=9).filter(lambda b: len(set(b)) > 1))
    number = next(body + d for d in "0123456789" if is_valid_national_id(body + d))
    if draw(st.booleans()) and number.startswith("0"):
        number = number.lstrip("0")  # dropped leading zeros
        assume(len(number) >= 8 and len(set(number)) > 1)
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=3)))
    sep = draw(st.sampled_from([" ", "-", ".", "  "]))
    pieces = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)], strict=True)]
    return _in_script(sep.join(pieces), draw(scripts))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ID_WORDS), st.sampled_from(LEAD_INS), split_or_short_ids(), filler)
def test_property_split_or_short_national_ids_after_an_id_word_are_redacted(
    word: str, lead_in: str, number: str, after: str
) -> None:
    text = f"{word}{lead_in}{number} {after}"
    result = redact(text)
    assert result.findings == only("national_id"), (text, result.text)
    assert _leftover_digits(result.text) == ""
    assert restore(result.text, result) == text


def _grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


YEARS = st.one_of(st.integers(1300, 1410), st.integers(1950, 2035)).map(str)
COUNTS = st.integers(0, 99_999).map(str)
PRICES = st.builds(
    _grouped, st.integers(1_000, 999_999_999_999), st.sampled_from(["", ",", "٬", "."])
)
CURRENCIES = st.sampled_from(["ریال", "تومان", "تومن", "دلار"])
COUNT_NOUNS = st.sampled_from(["نفر", "عدد", "بار", "کتاب", "روز", "سال", "درصد"])


@st.composite
def prose_with_numbers(draw: st.DrawFn) -> str:
    script = draw(st.sampled_from([PERSIAN, PERSIAN, ARABIC_INDIC, None]))
    sentences = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["year", "price", "count", "date", "years"]))
        if kind == "year":
            sentence = f"در سال {draw(YEARS)} {draw(filler)}"
        elif kind == "years":
            sentence = f"از {draw(YEARS)} تا {draw(YEARS)} {draw(filler)}"
        elif kind == "price":
            lead = draw(st.sampled_from(["قیمت", "برای تماس و خرید، قیمت", "مبلغ", "شماره"]))
            sentence = f"{lead} {draw(PRICES)} {draw(CURRENCIES)}"
        elif kind == "count":
            sentence = f"{draw(filler)} {draw(COUNTS)} {draw(COUNT_NOUNS)}"
        else:
            y, m, d = draw(YEARS), draw(st.integers(1, 12)), draw(st.integers(1, 31))
            sentence = f"تاریخ {y}/{m:02d}/{d:02d}"
        sentences.append(_in_script(sentence, script))
    return ". ".join(sentences) + "."


@settings(max_examples=300, deadline=None)
@given(prose_with_numbers())
def test_property_years_prices_and_counts_in_persian_prose_are_not_pii(text: str) -> None:
    assert scan(text) == {}, text


def test_an_id_after_an_id_word_stays_an_id_even_when_shaped_like_a_mobile() -> None:
    # Found by the property above: 900 0000009 is both a valid id and a spaced mobile.
    result = redact("کد ملی ۹۰۰ ۰۰۰۰۰۰۹ است")
    assert result.findings == {"national_id": 1}
