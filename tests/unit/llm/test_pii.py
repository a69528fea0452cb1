"""PII redaction and restoration (docs/architecture.md §4; and the old redactor's bugs)."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
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


def test_mixed_card_separators_are_not_a_card() -> None:
    assert scan("6037-9900 0000-0006") == {}


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
    sep = draw(st.sampled_from(["", " ", "-", ".", " - ", "\u00a0", "\u200c"]))
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
    sep = draw(st.sampled_from(["", " ", "-"]))
    return _in_script(sep.join(number[i : i + 4] for i in range(0, 16, 4)), draw(scripts))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    bban = draw(st.text("0123456789", min_size=22, max_size=22))
    iban = f"IR{iban_check_digits(bban)}{bban}"
    if draw(st.booleans()):
        iban = " ".join(iban[i : i + 4] for i in range(0, 26, 4))
    iban = draw(st.sampled_from([iban, iban.lower()]))
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
@given(st.text("0123456789", min_size=18, max_size=40), filler, filler, scripts)
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
