"""Prices: exact Decimal costs, no free unknown models, explicit snapshot rule, estimates."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigurationError
from core.llm.base import ChatMessage, Usage
from core.llm.pricing import (
    PRICES_FILE,
    cost,
    estimate_prompt_tokens,
    estimate_tokens,
    price_for,
    worst_case_cost,
)

REQUIRED_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4-turbo",
    "gpt-3.5-turbo",
    "offline",
)


@pytest.mark.parametrize("model", REQUIRED_MODELS)
def test_every_required_model_is_priced(model: str) -> None:
    price = price_for(model)

    assert price.model == model
    assert isinstance(price.input, Decimal)


def test_the_table_holds_the_agreed_figures() -> None:
    mini = price_for("gpt-4o-mini")
    nano = price_for("gpt-4.1-nano")

    assert (mini.input, mini.output, mini.cached_input) == (
        Decimal("0.150"),
        Decimal("0.600"),
        None,
    )
    assert (nano.input, nano.cached_input, nano.output) == (
        Decimal("0.10"),
        Decimal("0.025"),
        Decimal("0.40"),
    )


def test_the_data_file_is_exact_strings() -> None:
    # Floats in the file would make "exact Decimal" a lie (Decimal(0.1) != Decimal("0.1")).
    models = json.loads(PRICES_FILE.read_text(encoding="utf-8"))["models"]

    assert all(isinstance(v, str) for entry in models.values() for v in entry.values())


@pytest.mark.parametrize(
    "model", ["gpt-5-ultra", "", "GPT-4O", "gpt-4o-mini-2024", "llama3", "gpt-4o-۲۰۲۴-۰۸-۰۶"]
)
def test_an_unknown_model_is_a_configuration_error(model: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        price_for(model)

    assert caught.value.code == "model_not_priced"
    assert caught.value.params == {"model": model}


def test_an_unknown_model_has_no_cost_either() -> None:
    with pytest.raises(ConfigurationError):
        cost(Usage(prompt_tokens=10, completion_tokens=10), "my-local-model")


def test_a_dated_snapshot_costs_its_base_model() -> None:
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o")
    assert price_for("gpt-4.1-mini-2025-04-14") == price_for("gpt-4.1-mini")


def test_a_dated_snapshot_of_an_unknown_model_is_not_free() -> None:
    with pytest.raises(ConfigurationError):
        price_for("gpt-9-2030-01-01")


def test_offline_is_explicitly_free() -> None:
    usage = Usage(prompt_tokens=123_456, completion_tokens=654_321)

    assert cost(usage, "offline") == Decimal("0.000000")


def test_cost_is_exact_decimal_arithmetic() -> None:
    usage = Usage(prompt_tokens=1_000, completion_tokens=500)

    amount = cost(usage, "gpt-4o-mini")

    assert isinstance(amount, Decimal)
    assert amount == Decimal("0.000450")  # 1000 x 0.15/1M + 500 x 0.60/1M
    assert amount.as_tuple().exponent == -6


def test_cached_prompt_tokens_use_the_cached_price_where_there_is_one() -> None:
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_prompt_tokens=400_000)

    assert cost(usage, "gpt-4.1") == Decimal("1.400000")  # 600k x 2.00 + 400k x 0.50
    assert cost(usage, "gpt-4o") == Decimal("5.000000")  # no cache price: input price


def test_cost_rounds_half_up_and_worst_case_rounds_up() -> None:
    assert cost(Usage(prompt_tokens=5, completion_tokens=0), "gpt-4.1-nano") == Decimal(
        "0.000001"
    )  # 0.0000005 -> half up
    assert cost(Usage(prompt_tokens=4, completion_tokens=0), "gpt-4.1-nano") == Decimal("0.000000")
    assert worst_case_cost("gpt-4.1-nano", 1, 0) == Decimal("0.000001")


def test_worst_case_cost_prices_every_output_token() -> None:
    assert worst_case_cost("gpt-4o", 1_000, 4_000) == Decimal("0.065000")


@given(
    model=st.sampled_from(REQUIRED_MODELS),
    prompt=st.integers(0, 200_000),
    cached=st.integers(0, 200_000),
    completion=st.integers(0, 16_000),
    extra_prompt=st.integers(0, 1_000),
    extra_output=st.integers(0, 1_000),
)
def test_no_usage_within_the_reservation_costs_more_than_it(
    model: str, prompt: int, cached: int, completion: int, extra_prompt: int, extra_output: int
) -> None:
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=cached)

    reserved = worst_case_cost(model, prompt + extra_prompt, completion + extra_output)

    assert cost(usage, model) <= reserved


def test_estimate_counts_latin_and_persian_letters_once_and_others_by_bytes() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello, world") == 12
    assert estimate_tokens("سلام دنیا") == 9
    assert estimate_tokens("می\u200cشود") == 5 + 3  # ZWNJ is three UTF-8 bytes
    assert estimate_tokens("🙂") == 4


@given(st.text())
def test_estimate_lies_between_characters_and_utf8_bytes(text: str) -> None:
    assert len(text) <= estimate_tokens(text) <= len(text.encode("utf-8", "surrogatepass"))


def test_prompt_estimate_adds_the_chat_format_overhead() -> None:
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "سلام")]

    assert estimate_prompt_tokens(messages) == 3 + (4 + 6 + 9) + (4 + 4 + 4)


def test_usage_total() -> None:
    assert Usage(prompt_tokens=7, completion_tokens=5).total_tokens == 12
