"""PII scan benchmark: how fast ``core.llm.pii`` reads the text a generation sends.

Run: ``.venv/bin/python -m bench.pii`` (no database or network). It builds three texts and
times ``scan`` (the work ``redact`` does before replacing) over each, repeated until about a
second of work has been done, and prints characters per second and the time per 4,000-character
prompt (the size of a long brief):

1. prose: Persian paragraphs with years, prices, dates and counts, and one of each PII kind
   (phones in several writings, a card, an IBAN without ``IR``, a national id after its word)
   every few paragraphs, the way a content brief reads;
2. numbers: a Persian price list, one priced line after another (digits on every line, phone
   words and currencies mixed in), the densest realistic input;
3. digit soup: random digit groups split by spaces, dashes and slashes, the adversarial case
   for the phone detector (every group is a candidate start).

Every loop is bounded; the whole run takes a few seconds and stops by itself.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable

from core.llm.pii import scan
from core.text.normalize import persian_digits

PROMPT_CHARS = 4_000
SECONDS_PER_TEXT = 1.0
ROUNDS_CAP = 10_000

_PARAGRAPH = (
    "در سال {year} فروشگاه ما با {count} نفر کار خود را آغاز کرد و امروز بیش از {count2} "
    "مشتری در {city} دارد. قیمت بستهٔ پایه {price} تومان است و تا تاریخ {date} تخفیف دارد. "
    "برای هماهنگی با واحد فروش تماس بگیرید و سفارش خود را ثبت کنید؛ ارسال بین {days} تا "
    "{days2} روز کاری طول می‌کشد. "
)
_PII = [
    "شماره تماس: ۰۹۱۲ ۳۴۵ ۶۷۸۹",
    "موبایل مدیر ۹۱۲۳۴۵۶۷۸۹ است",
    "تلفن ۰۹۳۵/۱۱۱/۲۲۲۲",
    "کارت ۶۰۳۷.۹۹۰۰.۰۰۰۰.۰۰۰۶",
    "شبا ۸۲۰۵۴۰۱۰۲۶۸۰۰۲۰۸۱۷۹۰۹۰۰۲",
    "کد ملی ۴۹۹ ۳۷۰ ۸۹۹",
    "ایمیل sales@example.ir",
]
_CITIES = ["تهران", "شیراز", "اصفهان", "تبریز", "مشهد"]


def prose(rng: random.Random, chars: int) -> str:
    """Persian paragraphs with ordinary numbers and some PII."""
    parts: list[str] = []
    size = 0
    while size < chars:
        paragraph = _PARAGRAPH.format(
            year=rng.randint(1380, 1403),
            count=rng.randint(2, 40),
            count2=f"{rng.randint(1_000, 90_000):,}".replace(",", "٬"),
            city=rng.choice(_CITIES),
            price=f"{rng.randint(100, 9_000) * 1_000:,}".replace(",", "٬"),
            date=f"{rng.randint(1400, 1403)}/{rng.randint(1, 12):02d}/{rng.randint(1, 29):02d}",
            days=rng.randint(1, 3),
            days2=rng.randint(4, 9),
        )
        if rng.random() < 0.3:
            paragraph += rng.choice(_PII) + ". "
        paragraph = persian_digits(paragraph)
        parts.append(paragraph)
        size += len(paragraph)
    return "".join(parts)[:chars]


def numbers(rng: random.Random, chars: int) -> str:
    """A price list: every line a product, a count and a price, some with a phone word."""
    lines: list[str] = []
    size = 0
    while size < chars:
        lead = rng.choice(["کالا", "شماره", "تماس برای", "کد"])
        line = (
            f"{lead} {rng.randint(1, 9_999)}: {rng.randint(1, 500)} عدد، "
            f"{rng.randint(10**8, 10**10)} {rng.choice(['ریال', 'تومان'])}، "
            f"سال {rng.randint(1395, 1403)}\n"
        )
        lines.append(persian_digits(line))
        size += len(line)
    return "".join(lines)[:chars]


def digit_soup(rng: random.Random, chars: int) -> str:
    """Digit groups of 1-5 joined by spaces, dashes and slashes."""
    parts: list[str] = []
    size = 0
    while size < chars:
        group = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5)))
        part = group + rng.choice([" ", "-", "/", " ", "  "])
        parts.append(part)
        size += len(part)
    return "".join(parts)[:chars]


def measure(text: str) -> tuple[float, float, float]:
    """(characters per second, p50 and p99 seconds per PROMPT_CHARS) over repeated scans."""
    prompts = [text[i : i + PROMPT_CHARS] for i in range(0, len(text), PROMPT_CHARS)]
    timings: list[float] = []
    scanned = 0
    started = time.perf_counter()
    for rounds in range(ROUNDS_CAP):
        prompt = prompts[rounds % len(prompts)]
        t0 = time.perf_counter()
        scan(prompt)
        timings.append(time.perf_counter() - t0)
        scanned += len(prompt)
        if time.perf_counter() - started >= SECONDS_PER_TEXT:
            break
    timings.sort()
    rate = scanned / sum(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return rate, statistics.median(timings), p99


def main() -> int:
    rng = random.Random(8)
    texts: dict[str, Callable[[random.Random, int], str]] = {
        "prose": prose,
        "numbers": numbers,
        "digit soup": digit_soup,
    }
    print(f"scan() per {PROMPT_CHARS:,}-character prompt, about {SECONDS_PER_TEXT:.0f} s each")
    for name, build in texts.items():
        text = build(rng, 40 * PROMPT_CHARS)  # forty different prompts, so caches do not flatter
        findings = scan(text[:PROMPT_CHARS])
        rate, p50, p99 = measure(text)
        print(
            f"{name:>10}: {rate / 1e6:6.2f} M chars/s   p50 {p50 * 1e3:6.2f} ms   "
            f"p99 {p99 * 1e3:6.2f} ms   findings in the first prompt: {findings}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
