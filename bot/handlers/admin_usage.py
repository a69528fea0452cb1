"""/usage: this billing period's usage of an organisation, in all, per workspace and per member.

The numbers come from ``ReportService.current`` with the actor (editors and admins may read
them); amounts are shown in the reader's digits, dates in their calendar.
"""

from __future__ import annotations

from datetime import timedelta

from bot.admin import int_arg, with_organization
from bot.texts import day
from bot.turn import Turn
from core.presentation import money
from core.services.permissions import Action
from core.services.reports import UsageLine
from db.models import Role


async def usage(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.READ_ORGANIZATION_USAGE, "use", _report)


async def on_button(turn: Turn) -> None:
    organization_id = int_arg(turn, 1)
    if turn.args[:1] != ["o"] or organization_id is None:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    await _report(turn, organization_id)


async def _report(turn: Turn, organization_id: int) -> None:
    services, actor = turn.services, turn.require_actor()
    report = await services.reports.current(actor=actor, organization_id=organization_id)
    organization = await services.organizations.get_organization(
        actor=actor, organization_id=organization_id
    )
    zone = services.settings.zone
    lines = [
        turn.t(
            "bot.admin.usage.title",
            organization=organization.name,
            start=day(turn.language, report.start, zone),
            end=day(turn.language, report.end - timedelta(microseconds=1), zone),
        )
    ]
    if report.empty:
        lines.append(turn.t("bot.admin.usage.empty"))
        await turn.show("\n".join(lines))
        return
    lines.append(
        turn.t(
            "bot.admin.usage.total",
            requests=report.requests,
            tokens=report.tokens,
            cost=money(turn.language, report.cost_usd),
        )
    )
    lines += ["", turn.t("bot.admin.usage.by_workspace")]
    lines += [_line(turn, line, "bot.admin.usage.no_workspace") for line in report.by_workspace]
    lines += ["", turn.t("bot.admin.usage.by_member")]
    lines += [_line(turn, line, "bot.admin.usage.unnamed_member") for line in report.by_user]
    await turn.show("\n".join(lines))


def _line(turn: Turn, line: UsageLine, nameless: str) -> str:
    return turn.t(
        "bot.admin.usage.line",
        name=line.label or turn.t(nameless, id=line.id or 0),
        requests=line.requests,
        tokens=line.tokens,
        cost=money(turn.language, line.cost_usd),
    )


COMMANDS = {"usage": usage}
CALLBACKS = {"use": on_button}
DESCRIPTIONS = {"usage": "bot.command.usage"}
MENU_ROLES = {"usage": Role.EDITOR}
