"""The file sender appends one well-formed JSON object per line, even under concurrency."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FrozenClock
from core.errors import ServiceUnavailable
from core.sms.base import SmsFailed
from core.sms.file import FileSmsSender

PHONE = "+989121234567"


def read_outbox(path: Path) -> list[dict[str, str]]:
    """Every line of the outbox, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_writes_one_json_line_with_the_documented_fields(tmp_path: Path) -> None:
    outbox = tmp_path / "nested" / "dir" / "sms-outbox.jsonl"
    clock = FrozenClock(datetime(2026, 11, 30, 8, 15, tzinfo=UTC))
    sender = FileSmsSender(path=outbox, clock=clock)

    await sender.send_otp(phone=PHONE, code="123456", language="fa")

    assert read_outbox(outbox) == [
        {
            "to": PHONE,
            "text": "کد ورود شما به کانتکسور: 123456",
            "code": "123456",
            "at": "2026-11-30T08:15:00+00:00",
        }
    ]


async def test_appends_and_localises(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sender = FileSmsSender(path=outbox)

    await sender.send_otp(phone=PHONE, code="111111", language="fa")
    await sender.send_otp(phone=PHONE, code="222222", language="en")

    records = read_outbox(outbox)
    assert [r["code"] for r in records] == ["111111", "222222"]
    assert records[1]["text"] == "Your Contexor login code: 222222"
    assert datetime.fromisoformat(records[1]["at"]).utcoffset() == UTC.utcoffset(None)


async def test_concurrent_sends_produce_only_valid_lines(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    sender = FileSmsSender(path=outbox)
    codes = [f"{n:06d}" for n in range(60)]

    await asyncio.gather(
        *(sender.send_otp(phone=PHONE, code=code, language="fa") for code in codes)
    )

    records = read_outbox(outbox)
    assert sorted(r["code"] for r in records) == codes
    assert all(set(r) == {"to", "text", "code", "at"} for r in records)


async def test_an_unwritable_outbox_is_a_503_class_failure(tmp_path: Path) -> None:
    sender = FileSmsSender(path=tmp_path)  # a directory cannot be opened for appending

    with pytest.raises(SmsFailed) as caught:
        await sender.send_otp(phone=PHONE, code="123456", language="fa")

    assert isinstance(caught.value, ServiceUnavailable)
    assert caught.value.code == "sms_failed"
    assert caught.value.params == {"reason": "outbox_unwritable"}
