"""One-time login codes: generation, keyed hashing, constant-time checking.

A code is 6 digits from ``secrets``; it lives ``OTP_TTL_SECONDS`` (5 minutes) and allows
``OTP_MAX_ATTEMPTS`` (5) guesses, counted atomically before any comparison
(``core/services/auth.py``). It is stored as HMAC-SHA256 under a key derived from ``SECRET_KEY``,
over the per-code salt, the phone and the code (``hmac-sha256$<hex>``), and compared in
constant time. Slow hashing buys nothing here: the attempt limit bounds online guessing, and a
leaked database alone cannot test the million codes without the key; with the key an attacker
can mint tokens anyway. The phone in the message ties a stored hash to its row's phone. One hash
costs microseconds, so it runs on the event loop.

Codes stored before this scheme (PBKDF2-HMAC-SHA256, 100,000 iterations, of an HMAC of the code
under the v1 pepper; a bare hex string, no prefix) keep verifying until they expire (minutes
after a deploy): :meth:`OtpHasher.matches` tells them apart by the prefix and checks those in a
worker thread (one per core but one, so the event loop keeps a core; ``bench/otp.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

from core.text.normalize import normalize_text

CODE_LENGTH = 6
SALT_BYTES = 16
SCHEME = "hmac-sha256$"
LEGACY_ITERATIONS = 100_000  # the PBKDF2 scheme older rows may still hold
_KEY_LABEL = b"contexor otp key v2"
_LEGACY_PEPPER_LABEL = b"contexor otp pepper v1"
_FIELD_SEPARATOR = b"\x1f"  # cannot occur in a hex salt, an E.164 phone or a code
_SEPARATORS = re.compile(r"[\s\-_.\u200c]")  # what people and keyboards put between digits
_CODE = re.compile(rf"[0-9]{{{CODE_LENGTH}}}", re.ASCII)


def generate_code() -> str:
    """A uniformly random 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def new_salt() -> str:
    """A fresh random salt, hex (fits ``otp_codes.salt``)."""
    return secrets.token_hex(SALT_BYTES)


def normalize_code(raw: object) -> str | None:
    """The 6 ASCII digits of a typed code (Persian digits, spaces allowed), or None."""
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    code = _SEPARATORS.sub("", normalize_text(raw))
    return code if _CODE.fullmatch(code) else None


def default_hash_threads() -> int:
    """One thread per core but one, so the event loop always has a core to run on."""
    return max(1, (os.cpu_count() or 1) - 1)


class OtpHasher:
    """Hashes and checks codes under keys derived from one signing key; ``close()`` it when done."""

    def __init__(self, signing_key: bytes, *, threads: int | None = None) -> None:
        # Derived keys, so the JWT key and the OTP key are never the same bytes.
        self._key = hmac.new(signing_key, _KEY_LABEL, hashlib.sha256).digest()
        self._legacy_pepper = hmac.new(signing_key, _LEGACY_PEPPER_LABEL, hashlib.sha256).digest()
        # Only legacy rows use it; ThreadPoolExecutor starts no thread until the first one.
        self._legacy_pool = ThreadPoolExecutor(
            max_workers=threads or default_hash_threads(), thread_name_prefix="otp-hash"
        )

    def __repr__(self) -> str:
        return f"OtpHasher(scheme={SCHEME!r})"

    def hash(self, code: str, salt: str, phone: str) -> str:
        """The stored form of ``code`` for ``phone`` under ``salt``: ``hmac-sha256$<hex>``."""
        message = _FIELD_SEPARATOR.join((salt.encode(), phone.encode(), code.encode()))
        return SCHEME + hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def matches(self, code: str, salt: str, phone: str, stored: str) -> bool:
        """Whether ``code`` is the one ``stored`` for ``phone``, compared in constant time."""
        if stored.startswith(SCHEME):
            actual = self.hash(code, salt, phone)
        else:
            loop = asyncio.get_running_loop()
            actual = await loop.run_in_executor(self._legacy_pool, self.legacy_hash, code, salt)
        return hmac.compare_digest(actual.encode(), stored.encode())

    def legacy_hash(self, code: str, salt: str) -> str:
        """The PBKDF2 form rows stored before ``SCHEME`` (about 40 ms of CPU: not on the loop)."""
        keyed = hmac.new(self._legacy_pepper, code.encode(), hashlib.sha256).digest()
        return hashlib.pbkdf2_hmac("sha256", keyed, bytes.fromhex(salt), LEGACY_ITERATIONS).hex()

    def close(self) -> None:
        """Let the worker threads end (hashes in progress finish)."""
        self._legacy_pool.shutdown(wait=False, cancel_futures=True)
