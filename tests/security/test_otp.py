"""Code generation, typed-code normalisation, the keyed HMAC hash and the legacy PBKDF2 one."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.security import otp
from core.security.otp import (
    OtpHasher,
    default_hash_threads,
    generate_code,
    new_salt,
    normalize_code,
)

pytestmark = pytest.mark.sqlite

KEY = b"k" * 48


@pytest.fixture
def hasher() -> Iterator[OtpHasher]:
    built = OtpHasher(KEY)
    yield built
    built.close()


SCRIPTS = {"ascii": "0123456789", "persian": "۰۱۲۳۴۵۶۷۸۹", "arabic": "٠١٢٣٤٥٦٧٨٩"}


def test_codes_are_six_ascii_digits_and_vary() -> None:
    codes = {generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert len(codes) > 150  # 200 draws from a million collide rarely


def test_salts_are_random_hex_of_16_bytes() -> None:
    salts = {new_salt() for _ in range(50)}
    assert len(salts) == 50
    assert all(len(bytes.fromhex(s)) == 16 for s in salts)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        (" 123 456 ", "123456"),
        ("۱۲۳۴۵۶", "123456"),
        ("٠١٢٣٤٥", "012345"),
        ("۱۲۳-۴۵۶", "123456"),
        ("۱۲۳\u200c۴۵۶", "123456"),
        ("\u200f۰۰۰۰۰۰", "000000"),
    ],
)
def test_typed_codes_are_normalised(typed: str, expected: str) -> None:
    assert normalize_code(typed) == expected


@pytest.mark.parametrize(
    "typed", ["12345", "1234567", "12345a", "", "      ", "١٢٣٤٥x", None, 123456, ["123456"]]
)
def test_malformed_codes_are_none(typed: object) -> None:
    assert normalize_code(typed) is None


@given(
    digits=st.lists(st.integers(0, 9), min_size=6, max_size=6),
    scripts=st.lists(st.sampled_from(sorted(SCRIPTS)), min_size=6, max_size=6),
    separators=st.lists(st.sampled_from(["", " ", "-", "\u200c", "\t"]), min_size=7, max_size=7),
)
def test_any_digit_script_and_separator_mix_reads_back(
    digits: list[int], scripts: list[str], separators: list[str]
) -> None:
    typed = separators[0] + "".join(
        SCRIPTS[script][digit] + sep
        for digit, script, sep in zip(digits, scripts, separators[1:], strict=True)
    )
    assert normalize_code(typed) == "".join(map(str, digits))


PHONE = "+989121234567"


def test_hash_is_hmac_sha256_of_salt_phone_and_code_under_a_derived_key(
    hasher: OtpHasher,
) -> None:
    salt = new_salt()
    stored = hasher.hash("123456", salt, PHONE)
    key = hmac.new(KEY, b"contexor otp key v2", hashlib.sha256).digest()
    message = f"{salt}\x1f{PHONE}\x1f123456".encode()
    assert stored == "hmac-sha256$" + hmac.new(key, message, hashlib.sha256).hexdigest()
    assert "123456" not in stored
    assert len(stored) <= 128  # otp_codes.code_hash


def test_hash_depends_on_salt_phone_code_and_key(hasher: OtpHasher) -> None:
    salt = new_salt()
    base = hasher.hash("123456", salt, PHONE)
    assert hasher.hash("123456", salt, PHONE) == base
    assert hasher.hash("123456", new_salt(), PHONE) != base
    assert hasher.hash("123457", salt, PHONE) != base
    assert hasher.hash("123456", salt, "+989121234568") != base
    other = OtpHasher(b"x" * 48)
    try:
        assert other.hash("123456", salt, PHONE) != base
    finally:
        other.close()


async def test_matches_only_the_right_code_for_the_right_phone(hasher: OtpHasher) -> None:
    salt = new_salt()
    stored = hasher.hash("004217", salt, PHONE)
    assert await hasher.matches("004217", salt, PHONE, stored)
    assert not await hasher.matches("004218", salt, PHONE, stored)
    assert not await hasher.matches("004217", new_salt(), PHONE, stored)
    assert not await hasher.matches("004217", salt, "+989121234568", stored)


async def test_comparison_is_constant_time(
    hasher: OtpHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(otp.hmac, "compare_digest", recording)
    salt = new_salt()
    stored = hasher.hash("004217", salt, PHONE)
    assert not await hasher.matches("004218", salt, PHONE, stored)
    assert compared == [(hasher.hash("004218", salt, PHONE).encode(), stored.encode())]


def legacy_pbkdf2(code: str, salt: str) -> str:
    """What rows stored before the HMAC scheme hold, computed here independently."""
    pepper = hmac.new(KEY, b"contexor otp pepper v1", hashlib.sha256).digest()
    keyed = hmac.new(pepper, code.encode(), hashlib.sha256).digest()
    return hashlib.pbkdf2_hmac("sha256", keyed, bytes.fromhex(salt), 100_000).hex()


async def test_codes_stored_with_pbkdf2_still_verify(hasher: OtpHasher) -> None:
    salt = new_salt()
    stored = legacy_pbkdf2("004217", salt)
    assert not stored.startswith(otp.SCHEME)
    assert hasher.legacy_hash("004217", salt) == stored
    assert await hasher.matches("004217", salt, PHONE, stored)
    assert not await hasher.matches("004218", salt, PHONE, stored)


async def test_legacy_hashing_runs_off_the_event_loop_thread(
    hasher: OtpHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = hashlib.pbkdf2_hmac
    salt = new_salt()
    stored = legacy_pbkdf2("123456", salt)

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(otp.hashlib, "pbkdf2_hmac", recording)
    assert await hasher.matches("123456", salt, PHONE, stored)
    assert len(threads) == 1 and threading.get_ident() not in threads
    threads.clear()
    assert await hasher.matches("123456", salt, PHONE, hasher.hash("123456", salt, PHONE))
    assert threads == []  # the current scheme never runs PBKDF2


def test_hashing_leaves_a_core_for_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otp.os, "cpu_count", lambda: 8)
    assert default_hash_threads() == 7
    monkeypatch.setattr(otp.os, "cpu_count", lambda: 1)
    assert default_hash_threads() == 1
    monkeypatch.setattr(otp.os, "cpu_count", lambda: None)
    assert default_hash_threads() == 1


def test_repr_hides_the_pepper(hasher: OtpHasher) -> None:
    assert "k" * 8 not in repr(hasher)
