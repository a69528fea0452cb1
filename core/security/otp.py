"""One-time login codes: generation, peppered salted hashing, constant-time checking.

A code is 6 digits from ``secrets``. It is stored as PBKDF2-HMAC-SHA256 (100,000 iterations) of
an HMAC of the code keyed by a pepper derived from ``SECRET_KEY``, with a random per-code salt:
a leaked database alone does not let anyone test the million possible codes, and the
iterations slow it down when the key leaks too.

Hashing (about 40 ms of CPU) runs in worker threads of the hasher's own pool, never on the event
loop. The pool has one thread fewer than the machine has cores (at least one). On 2 cores
``bench/otp.py`` measured, for 20 concurrent verifies: with the default executor (cores + 4
hashing threads) ``/healthz`` p99 grew 37-112x and event-loop lag p99 reached 60-90 ms, as the
threads starved the loop thread of CPU; with one core left free, 4-7x and 5-13 ms (hashing on
the loop itself: 151x and 231 ms). A pool of our own also keeps a burst of sign-ins from
filling the default executor that file writes and ``/metrics`` rely on.
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
ITERATIONS = 100_000
SALT_BYTES = 16
_PEPPER_LABEL = b"contexor otp pepper v1"
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
    """Hashes and checks codes with the pepper of one signing key; ``close()`` it when done."""

    def __init__(
        self, signing_key: bytes, *, iterations: int = ITERATIONS, threads: int | None = None
    ) -> None:
        # A derived pepper, so the JWT key and the OTP pepper are never the same bytes.
        self._pepper = hmac.new(signing_key, _PEPPER_LABEL, hashlib.sha256).digest()
        self._iterations = iterations
        self._pool = ThreadPoolExecutor(
            max_workers=threads or default_hash_threads(), thread_name_prefix="otp-hash"
        )

    def __repr__(self) -> str:
        return f"OtpHasher(iterations={self._iterations})"

    async def hash(self, code: str, salt: str) -> str:
        """The stored form of ``code`` under ``salt`` (hex), computed off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hash, code, salt)

    async def matches(self, code: str, salt: str, expected_hash: str) -> bool:
        """Whether ``code`` hashes to ``expected_hash``, compared in constant time."""
        actual = await self.hash(code, salt)
        return hmac.compare_digest(actual.encode(), expected_hash.encode())

    def close(self) -> None:
        """Let the worker threads end (hashes in progress finish)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _hash(self, code: str, salt: str) -> str:
        keyed = hmac.new(self._pepper, code.encode(), hashlib.sha256).digest()
        return hashlib.pbkdf2_hmac("sha256", keyed, bytes.fromhex(salt), self._iterations).hex()
