"""``contexor jobs list`` and ``contexor jobs run NAME`` for the scheduler's jobs, as an operator
runs them: a real process on a real PostgreSQL database."""

from __future__ import annotations

import json
import os
from pathlib import Path

from scheduler.setup import JOBS
from tests.cli.test_cli import _contexor
from tests.support.databases import create_scratch_database, drop_scratch_database


def _line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(name + " "))


async def test_every_job_is_listed_and_the_rollover_runs_on_postgres(tmp_path: Path) -> None:
    base = os.environ.get("TEST_DATABASE_URL", "")
    server = base if base.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/x"
    url = server.rsplit("/", 1)[0] + f"/contexor_jobs_cli_{os.getpid()}"
    await create_scratch_database(url)
    try:
        env = {"DATABASE_URL": url}
        status, _, err = await _contexor(tmp_path, "migrate", **env)
        assert status == 0, err
        status, _, err = await _contexor(
            tmp_path, "bootstrap", "--phone", "+989121234567", "--org", "Acme", **env
        )
        assert status == 0, err

        status, out, _ = await _contexor(tmp_path, "jobs", "list", **env)
        assert status == 0
        for job in JOBS:
            assert "never run" in _line(out, job.name)
        assert "billing_period=start" in _line(out, "usage_rollover")

        status, out, err = await _contexor(tmp_path, "jobs", "run", "usage_rollover", **env)
        assert status == 0, err
        # The admin has no linked Telegram account: the report is built, no row is written.
        assert json.loads(out) == {"organizations": 1, "messages": 0}
        status, out, err = await _contexor(tmp_path, "jobs", "run", "limit_warnings", **env)
        assert status == 0, err
        assert json.loads(out) == {"warnings": 0, "messages": 0}

        status, out, _ = await _contexor(tmp_path, "jobs", "list", **env)
        line = _line(out, "usage_rollover")
        assert " ok {" in line and '"organizations": 1' in line  # JSONB orders keys its own way
        assert "never run" in _line(out, "review_reminders")
    finally:
        await drop_scratch_database(url)
