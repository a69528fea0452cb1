"""Migration 0009 carries usage rows written before user usage was counted per organisation."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.databases import create_scratch_database, drop_scratch_database

pytestmark = pytest.mark.sqlite

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def scratch_url(database_url: str, tmp_path: Path) -> str:
    if database_url.startswith("sqlite"):
        yield f"sqlite://{tmp_path / 'probe.sqlite3'}"
        return
    url = f"{database_url}_m0009"
    await create_scratch_database(url)
    yield url
    await drop_scratch_database(url)


async def test_existing_counters_get_their_organisation_and_user_counters_a_copy_per_organisation(
    scratch_url: str,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.migration_probe",
        scratch_url,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    rows = json.loads(out.decode().strip().splitlines()[-1])

    counters = {
        (r["org"], r["scope"]): (r["requests"], r["reserved_requests"]) for r in rows["counters"]
    }
    assert counters == {
        ("a", "organization"): (3, 0),
        ("b", "workspace"): (2, 0),
        # The person's old counter: what it used is copied to each of their organisations
        # (nobody gains budget mid-period); what in-flight jobs hold stays on the old row.
        ("a", "user"): (5, 0),
        ("b", "user"): (5, 0),
        (None, "user"): (5, 1),
    }
    # A user limit keeps the organisation that wrote it, and now applies there only.
    assert rows["limits"] == [{"org": "b", "scope": "user", "requests_limit": 0}]
