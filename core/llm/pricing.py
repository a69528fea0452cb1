"""Model prices (``prices.json``), exact Decimal costs, and a conservative token estimate.

A model missing from the table is a :class:`~core.errors.ConfigurationError`, never free: the
system this replaces priced unknown models at $0 and so silently switched budgets off. The one
alias rule is explicit: a dated snapshot ``<name>-YYYY-MM-DD`` (``gpt-4o-2024-08-06``) costs
what ``<name>`` costs, and only when ``<name>`` itself is in the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from core.errors import ConfigurationError
from core.llm.base import ChatMessage, Usage

PRICES_FILE = Path(__file__).with_name("prices.json")
TOKENS_PER_PRICE_UNIT = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.000001")
# OpenAI's chat format adds a few tokens per message (role, separators) and primes the reply;
# the cookbook counts 3-4 per message and 3 for the reply. We take the high end.
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M tokens of one model."""

    model: str
    input: Decimal
    output: Decimal
    # None: the provider gives no cache discount, so cached tokens cost the input price.
    cached_input: Decimal | None = None

    @property
    def cached_input_rate(self) -> Decimal:
        """The price applied to cached prompt tokens."""
        return self.input if self.cached_input is None else self.cached_input


def price_for(model: str) -> ModelPrice:
    """The price of ``model`` (or of the undated name of a dated snapshot)."""
    table = price_table()
    if model in table:
        return table[model]
    base = _SNAPSHOT_SUFFIX.sub("", model)
    if base != model and base in table:
        return table[base]
    raise ConfigurationError("model_not_priced", model=model)


def cost(usage: Usage, model: str) -> Decimal:
    """What ``usage`` of ``model`` costs in USD, rounded half-up to 6 places."""
    price = price_for(model)
    cached = min(max(usage.cached_prompt_tokens, 0), usage.prompt_tokens)
    raw = (
        (usage.prompt_tokens - cached) * price.input
        + cached * price.cached_input_rate
        + usage.completion_tokens * price.output
    )
    return (raw / TOKENS_PER_PRICE_UNIT).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def worst_case_cost(model: str, prompt_tokens: int, max_output_tokens: int) -> Decimal:
    """The most a call may cost: no cache discount, every output token used, rounded up."""
    price = price_for(model)
    raw = prompt_tokens * price.input + max_output_tokens * price.output
    # Rounded up so that cost() of any smaller usage never exceeds the reservation.
    return (raw / TOKENS_PER_PRICE_UNIT).quantize(COST_QUANTUM, rounding=ROUND_CEILING)


def estimate_tokens(text: str) -> int:
    """A cheap upper bound on the tokens of ``text`` for reservations (no tokenizer needed).

    Byte-level BPE tokenizers never make a token smaller than one byte, so one token per
    ASCII character is a hard bound. Persian/Arabic letters (two UTF-8 bytes, below U+0800)
    are whole tokens or merge in every OpenAI vocabulary, so one per character bounds them
    too. Anything else (ZWNJ, emoji, CJK) counts its UTF-8 bytes, the byte-level worst case.
    English prose is over-estimated about fourfold; that only makes reservations cautious.
    """
    # surrogatepass: a lone surrogate (refused at input, but never a crash here) counts 3 bytes.
    return sum(
        1 if ord(char) < 0x800 else len(char.encode("utf-8", "surrogatepass")) for char in text
    )


def estimate_prompt_tokens(messages: Iterable[ChatMessage]) -> int:
    """An upper bound on the prompt tokens of a chat request, overhead included."""
    return REPLY_PRIMING_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + estimate_tokens(m.role) + estimate_tokens(m.content)
        for m in messages
    )


@cache
def price_table() -> Mapping[str, ModelPrice]:
    """Every priced model, read once from prices.json."""
    data = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    return {name: _parse_price(name, entry) for name, entry in data["models"].items()}


def _parse_price(model: str, entry: Mapping[str, str]) -> ModelPrice:
    cached = entry.get("cached_input")
    price = ModelPrice(
        model=model,
        input=Decimal(entry["input"]),
        output=Decimal(entry["output"]),
        cached_input=None if cached is None else Decimal(cached),
    )
    rates = (price.input, price.output, price.cached_input_rate)
    if any(not rate.is_finite() or rate < 0 for rate in rates):
        raise ConfigurationError("model_price_invalid", model=model)
    return price
