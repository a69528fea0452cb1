"""/limits: the organisation's usage limits with today's and this month's use, and setting one.

The overview pages through the organisation's scopes (the organisation, each workspace, each
member), eight a page, each with its daily and monthly use and caps; pressing one sets a cap of
it: the period, the metric, then the value typed (Persian or Arabic digits too) or "no cap".

Callback data (ids only): ``lim:o:<org>`` / ``lim:l:<org>:<page>`` (the overview),
``lim:s:<org>:<kind>:<id>`` (a scope: ``o`` organisation, ``w`` workspace, ``u`` member),
``lim:p:<org>:<kind>:<id>:<d|m>`` (its period), ``lim:m:<org>:<kind>:<id>:<d|m>:<r|t|c>`` (the
metric: the value is typed next) and ``lim:n`` (no cap, for the metric being set). Every step
reads through ``core`` with the presser as the actor, and ``UsageService.set_limit`` decides
whether the cap may be written: a forged scope (another organisation's workspace) is refused
there, whatever the buttons said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot import keyboards
from bot.admin import int_arg, with_organization
from bot.texts import number
from bot.turn import Turn
from core.errors import NotFound
from core.presentation import money, money_cap
from core.services.permissions import Action
from core.services.reports import PeriodReport
from core.services.usage import Caps
from core.text.normalize import normalize_digits
from db.models import Role, UsageLimit, UsagePeriod, UsageScope

LIMIT_VALUE = "admin.limits.value"

SCOPE_KINDS = {"o": UsageScope.ORGANIZATION, "w": UsageScope.WORKSPACE, "u": UsageScope.USER}
PERIODS = {"d": UsagePeriod.DAILY, "m": UsagePeriod.MONTHLY}
METRICS = ("r", "t", "c")  # requests, tokens, cost (US dollars)
_PAGE_ROWS = 100  # how many workspaces or members one read fetches while gathering scopes


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """One limitable scope of the organisation as the overview shows it."""

    kind: str  # a key of SCOPE_KINDS
    id: int
    name: str

    @property
    def scope(self) -> UsageScope:
        return SCOPE_KINDS[self.kind]


# -- the overview ----------------------------------------------------------------------------


async def limits(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_LIMITS, "lim", _overview_first)


async def _overview_first(turn: Turn, organization_id: int) -> None:
    await _overview(turn, organization_id, 0)


async def _overview(
    turn: Turn, organization_id: int, requested: int, intro: str | None = None
) -> None:
    """One page of scopes: each one's daily and monthly use against its caps, and a button."""
    rows = await _limit_rows(turn, organization_id)  # first: it checks the actor may manage limits
    scopes = await _scopes(turn, organization_id)
    page = keyboards.Page.of(requested, len(scopes))
    shown = scopes[page.offset : page.offset + page.limit]
    reports = await _reports(turn, organization_id)
    lines = [turn.t("bot.limits.title", organization=scopes[0].name)]
    for ref in shown:
        lines += ["", _scope_title(turn, ref)]
        lines += [_period_line(turn, ref, period, rows, reports) for period in PERIODS.values()]
    items = [
        (_scope_title(turn, ref), keyboards.data("lim", "s", organization_id, ref.kind, ref.id))
        for ref in shown
    ]
    markup = keyboards.paged(turn.language, items, page, page_data=("lim", "l", organization_id))
    text = "\n".join(lines)
    await turn.show(f"{intro}\n\n{text}" if intro else text, markup)


async def _scopes(turn: Turn, organization_id: int) -> list[ScopeRef]:
    """The organisation, then its active workspaces, then its members, as ``core`` lists them."""
    services, actor = turn.services, turn.require_actor()
    organization = await services.organizations.get_organization(
        actor=actor, organization_id=organization_id
    )
    scopes = [ScopeRef("o", organization.id, organization.name)]
    offset = 0
    while True:
        listing = await services.catalog.list_workspaces(
            actor=actor, organization_id=organization_id, offset=offset, limit=_PAGE_ROWS
        )
        scopes += [ScopeRef("w", w.id, w.name) for w in listing.items]
        offset += _PAGE_ROWS
        if offset >= listing.count:
            break
    offset = 0
    while True:
        members = await services.organizations.list_members(
            actor=actor, organization_id=organization_id, offset=offset, limit=_PAGE_ROWS
        )
        scopes += [
            ScopeRef("u", m.user_id, m.full_name or _phone(turn, m.phone_number))
            for m in members.items
        ]
        offset += _PAGE_ROWS
        if offset >= members.count:
            break
    return scopes


async def _limit_rows(
    turn: Turn, organization_id: int
) -> dict[tuple[UsageScope, int, UsagePeriod], UsageLimit]:
    """The organisation's limit rows by (scope, id, period); refused unless the actor may
    manage its limits (``UsageService.list_limits`` checks)."""
    rows: dict[tuple[UsageScope, int, UsagePeriod], UsageLimit] = {}
    offset = 0
    while True:
        listing = await turn.services.usage.list_limits(
            actor=turn.require_actor(),
            organization_id=organization_id,
            offset=offset,
            limit=_PAGE_ROWS,
        )
        for row in listing.items:
            rows[UsageScope(row.scope), row.scope_id, UsagePeriod(row.period)] = row
        offset += _PAGE_ROWS
        if offset >= listing.count:
            return rows


async def _reports(turn: Turn, organization_id: int) -> dict[UsagePeriod, PeriodReport]:
    return {
        period: await turn.services.reports.current(
            actor=turn.require_actor(), organization_id=organization_id, period=period
        )
        for period in PERIODS.values()
    }


def _caps(
    turn: Turn,
    rows: dict[tuple[UsageScope, int, UsagePeriod], UsageLimit],
    scope: UsageScope,
    scope_id: int,
    period: UsagePeriod,
) -> Caps:
    """The caps in force: the scope's row, else the defaults (as ``core`` applies them)."""
    row = rows.get((scope, scope_id, period))
    if row is None:
        return turn.services.usage.default_caps(scope, period)
    return Caps(requests=row.requests_limit, tokens=row.tokens_limit, cost_usd=row.cost_limit_usd)


def _used(report: PeriodReport, ref: ScopeRef) -> tuple[int, int, Decimal]:
    if ref.kind == "o":
        return report.requests, report.tokens, report.cost_usd
    lines = report.by_workspace if ref.kind == "w" else report.by_user
    for line in lines:
        if line.id == ref.id:
            return line.requests, line.tokens, line.cost_usd
    return 0, 0, Decimal(0)


def _period_line(
    turn: Turn,
    ref: ScopeRef,
    period: UsagePeriod,
    rows: dict[tuple[UsageScope, int, UsagePeriod], UsageLimit],
    reports: dict[UsagePeriod, PeriodReport],
) -> str:
    caps = _caps(turn, rows, ref.scope, ref.id, period)
    requests, tokens, cost = _used(reports[period], ref)
    return turn.t(
        "bot.limits.line",
        period=turn.t(f"bot.limits.period.{period.value}"),
        requests=_against(turn, number(turn.language, requests), caps.requests, False),
        tokens=_against(turn, number(turn.language, tokens), caps.tokens, False),
        cost=_against(turn, money(turn.language, cost), caps.cost_usd, True),
    )


def _against(turn: Turn, used: str, cap: int | Decimal | None, is_money: bool) -> str:
    if cap is None:
        return turn.t("bot.limits.uncapped", used=used)
    shown = money_cap(turn.language, Decimal(cap)) if is_money else number(turn.language, int(cap))
    return turn.t("bot.limits.of", used=used, cap=shown)


def _cap_text(turn: Turn, cap: int | Decimal | None, metric: str) -> str:
    if cap is None:
        return turn.t("bot.limits.no_cap")
    if metric == "c":
        return money_cap(turn.language, Decimal(cap))
    return number(turn.language, int(cap))


def _scope_title(turn: Turn, ref: ScopeRef) -> str:
    return turn.t(f"bot.limits.scope.{ref.scope.value}", name=ref.name)


def _phone(turn: Turn, phone: str | None) -> str:
    shown = "0" + phone[3:] if phone and phone.startswith("+98") else (phone or "")
    return number(turn.language, shown)


# -- setting one cap -------------------------------------------------------------------------


async def on_button(turn: Turn) -> None:
    action = turn.args[0] if turn.args else ""
    if action == "n":
        await _no_cap(turn)
        return
    organization_id = int_arg(turn, 1)
    if organization_id is None:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    if action == "o":
        await turn.clear_state()
        await _overview(turn, organization_id, 0)
    elif action == "l":
        await turn.clear_state()
        await _overview(turn, organization_id, int_arg(turn, 2) or 0)
    elif (target := _target(turn)) is None:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
    elif action == "s":
        await turn.clear_state()
        await _choose_period(turn, organization_id, *target)
    elif action == "p" and _period(turn, 4) is not None:
        await turn.clear_state()
        await _choose_metric(turn, organization_id, *target, _period(turn, 4))
    elif action == "m" and _period(turn, 4) is not None and turn.args[5:6] in (["r"], ["t"], ["c"]):
        await _ask_value(turn, organization_id, *target, _period(turn, 4), turn.args[5])
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


def _target(turn: Turn) -> tuple[str, int] | None:
    """(kind, id) from ``turn.args[2:4]``, or ``None`` when the data is malformed."""
    kind, scope_id = (turn.args[2] if len(turn.args) > 2 else ""), int_arg(turn, 3)
    if kind not in SCOPE_KINDS or scope_id is None:
        return None
    return kind, scope_id


def _period(turn: Turn, index: int) -> UsagePeriod | None:
    return PERIODS.get(turn.args[index]) if len(turn.args) > index else None


async def _scope(turn: Turn, organization_id: int, kind: str, scope_id: int) -> ScopeRef:
    """The scope named by a press, read through ``core`` with the presser as the actor.

    Only for the name shown: another organisation's workspace or a non-member reads as
    ``NotFound`` here, and ``set_limit`` checks again in any case.
    """
    services, actor = turn.services, turn.require_actor()
    if kind == "o":
        if scope_id != organization_id:
            raise NotFound()
        found = await services.organizations.get_organization(
            actor=actor, organization_id=organization_id
        )
        return ScopeRef(kind, found.id, found.name)
    if kind == "w":
        workspace = await services.catalog.get_workspace(actor=actor, workspace_id=scope_id)
        if workspace.organization_id != organization_id:
            raise NotFound()
        return ScopeRef(kind, workspace.id, workspace.name)
    member = await services.organizations.get_member(
        actor=actor, organization_id=organization_id, user_id=scope_id
    )
    return ScopeRef(kind, member.user_id, member.full_name or _phone(turn, member.phone_number))


async def _scope_detail(
    turn: Turn, organization_id: int, kind: str, scope_id: int
) -> tuple[ScopeRef, str, dict[tuple[UsageScope, int, UsagePeriod], UsageLimit]]:
    rows = await _limit_rows(turn, organization_id)
    ref = await _scope(turn, organization_id, kind, scope_id)
    reports = await _reports(turn, organization_id)
    lines = [_scope_title(turn, ref)]
    lines += [_period_line(turn, ref, period, rows, reports) for period in PERIODS.values()]
    return ref, "\n".join(lines), rows


async def _choose_period(
    turn: Turn, organization_id: int, kind: str, scope_id: int, intro: str | None = None
) -> None:
    _, detail, _ = await _scope_detail(turn, organization_id, kind, scope_id)
    rows = [
        [
            keyboards.button(
                turn.t(f"bot.limits.button.period.{period.value}"),
                "lim",
                "p",
                organization_id,
                kind,
                scope_id,
                key,
            )
            for key, period in PERIODS.items()
        ],
        [
            keyboards.button(turn.t("bot.button.back"), "lim", "l", organization_id, 0),
            keyboards.button(turn.t("bot.button.cancel"), "cancel"),
        ],
    ]
    text = f"{detail}\n\n{turn.t('bot.limits.choose_period')}"
    await turn.show(f"{intro}\n\n{text}" if intro else text, keyboards.inline(rows))


async def _choose_metric(
    turn: Turn, organization_id: int, kind: str, scope_id: int, period: UsagePeriod
) -> None:
    ref, detail, _ = await _scope_detail(turn, organization_id, kind, scope_id)
    key = _key_of(period)
    rows = [
        [
            keyboards.button(
                turn.t(f"bot.limits.metric.{metric}"),
                "lim",
                "m",
                organization_id,
                kind,
                scope_id,
                key,
                metric,
            )
        ]
        for metric in METRICS
    ]
    rows.append(
        [
            keyboards.button(turn.t("bot.button.back"), "lim", "s", organization_id, kind, ref.id),
            keyboards.button(turn.t("bot.button.cancel"), "cancel"),
        ]
    )
    chosen = turn.t("bot.limits.choose_metric", period=turn.t(f"bot.limits.period.{period.value}"))
    await turn.show(f"{detail}\n\n{chosen}", keyboards.inline(rows))


async def _ask_value(
    turn: Turn,
    organization_id: int,
    kind: str,
    scope_id: int,
    period: UsagePeriod,
    metric: str,
    problem: str | None = None,
    *,
    fresh: bool = False,
) -> None:
    """Ask for the new cap; the answer is the next message (state ``LIMIT_VALUE``). ``fresh``:
    as a new message even after a press."""
    ref, _, rows = await _scope_detail(turn, organization_id, kind, scope_id)
    current = _metric_of(_caps(turn, rows, ref.scope, ref.id, period), metric)
    await turn.set_state(
        LIMIT_VALUE,
        {
            "organization_id": organization_id,
            "kind": kind,
            "scope_id": ref.id,
            "period": period.value,
            "metric": metric,
        },
    )
    text = turn.t(
        f"bot.limits.ask.{metric}",
        scope=_scope_title(turn, ref),
        period=turn.t(f"bot.limits.period.{period.value}"),
        current=_cap_text(turn, current, metric),
    )
    markup = keyboards.inline(
        [
            [keyboards.button(turn.t("bot.limits.button.no_cap"), "lim", "n")],
            [
                keyboards.button(
                    turn.t("bot.button.back"),
                    "lim",
                    "p",
                    organization_id,
                    kind,
                    ref.id,
                    _key_of(period),
                ),
                keyboards.button(turn.t("bot.button.cancel"), "cancel"),
            ],
        ]
    )
    if problem is not None:
        await turn.say(f"{problem}\n\n{text}", markup)
    elif fresh:
        await turn.say(text, markup)
    else:
        await turn.show(text, markup)


async def ask_again(turn: Turn, *, problem: str | None = None) -> None:
    """The question of the cap this conversation is setting (its state's data), as a new
    message: after a wrong answer (``problem``) or below whatever interrupted it."""
    data = turn.data
    await _ask_value(
        turn,
        int(data["organization_id"]),
        str(data["kind"]),
        int(data["scope_id"]),
        UsagePeriod(data["period"]),
        str(data["metric"]),
        problem=problem,
        fresh=True,
    )


async def typed_value(turn: Turn) -> None:
    """The cap typed: a whole number (requests, tokens) or an amount in dollars (cost)."""
    data = turn.data
    metric = str(data["metric"])
    value = parse_cap(turn.text, money=metric == "c")
    if value is None:
        await ask_again(turn, problem=turn.t(f"bot.limits.bad_value.{metric}"))
        return
    await _save(turn, data, value)


async def _no_cap(turn: Turn) -> None:
    if turn.state != LIMIT_VALUE:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    await _save(turn, turn.data, None)


async def _save(turn: Turn, data: dict[str, Any], value: int | Decimal | None) -> None:
    """Write the one cap, keeping the scope's other caps of that period as they are."""
    organization_id, kind = int(data["organization_id"]), str(data["kind"])
    scope_id, period, metric = int(data["scope_id"]), UsagePeriod(data["period"]), data["metric"]
    rows = await _limit_rows(turn, organization_id)
    scope = SCOPE_KINDS[kind]
    caps = _caps(turn, rows, scope, scope_id, period)
    new = {
        "requests_limit": caps.requests,
        "tokens_limit": caps.tokens,
        "cost_limit_usd": caps.cost_usd,
    }
    new[{"r": "requests_limit", "t": "tokens_limit", "c": "cost_limit_usd"}[metric]] = value
    await turn.services.usage.set_limit(
        actor=turn.require_actor(),
        scope=scope,
        scope_id=scope_id,
        period=period,
        organization_id=organization_id,
        **new,
    )
    await turn.clear_state()
    saved = turn.t(
        "bot.limits.saved",
        metric=turn.t(f"bot.limits.metric.{metric}"),
        period=turn.t(f"bot.limits.period.{period.value}"),
        value=_cap_text(turn, value, metric),
    )
    await _choose_period(turn, organization_id, kind, scope_id, intro=saved)


def parse_cap(text: str, *, money: bool) -> int | Decimal | None:
    """A cap typed by a person: ``۱۲۰۰``, ``1,200``, ``٢٫٥`` (money only); ``None`` if not one.

    Persian and Arabic-Indic digits, thousands separators between groups of three (``1,5`` is
    a typo, not 15) and the Persian decimal point are accepted; a negative number, a fraction of
    a request or token, and anything else is not. Too large a number is left for ``core`` to
    refuse with its own message.
    """
    cleaned = normalize_digits(text).strip().removeprefix("$").translate(_NUMBER_MARKS)
    match = _CAP.fullmatch(cleaned)
    if match is None or (match["fraction"] and not money):
        return None
    digits = match["whole"].replace(",", "") + (match["fraction"] or "")
    return Decimal(digits) if money else int(digits)


_CAP = re.compile(r"(?P<whole>\d{1,18}|\d{1,3}(?:,\d{3}){1,5})(?P<fraction>\.\d{1,6})?", re.ASCII)
# Persian and Arabic thousands separators read as a comma, the Persian decimal point as a point.
_NUMBER_MARKS = str.maketrans({"\u066c": ",", "\u060c": ",", "\u066b": "."})


def _metric_of(caps: Caps, metric: str) -> int | Decimal | None:
    return {"r": caps.requests, "t": caps.tokens, "c": caps.cost_usd}[metric]


def _key_of(period: UsagePeriod) -> str:
    return next(key for key, value in PERIODS.items() if value is period)


COMMANDS = {"limits": limits}
CALLBACKS = {"lim": on_button}
TEXT_STATES = {LIMIT_VALUE: typed_value}
RESUME_STATES = {LIMIT_VALUE: ask_again}
DESCRIPTIONS = {"limits": "bot.command.limits"}
MENU_ROLES = {"limits": Role.ADMIN}
