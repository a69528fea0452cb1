"""The bot's features, one module each; ``bot/app.py`` registers whatever they export.

A feature module (``bot/handlers/<feature>.py``) may export:

- ``COMMANDS: dict[str, Step]``: slash commands; each is also reachable from a button whose
  callback data is ``cmd:<name>`` (the main menu uses these).
- ``CALLBACKS: dict[str, Step]``: callback data prefixes (the part before the first ``:``);
  the rest of the data, split on ``:``, is ``turn.args``.
- ``TEXT_STATES: dict[str, Step]``: conversation states in which a plain text message is an
  answer for this feature (``turn.text``).
- ``CONTACT: Step``: the handler of a shared contact (one feature only).
- ``ON_CANCEL: Step``: run by ``/cancel`` before the state is cleared (stop what runs).
- ``RESUME_STATES: dict[str, Step]``: states whose current question this step shows again, as a
  new message, when the flow comes back from an interruption (a rejection's reason), so the
  question is below the interruption instead of somewhere above it.
- ``DESCRIPTIONS: dict[str, str]``: command -> locale key of its description (the / menu).
- ``GROUP_COMMANDS: dict[str, Step]``: commands that also work in group chats (every other
  command, button and message is for private chats only).
- ``GROUP_CALLBACKS: frozenset[str]``: callback prefixes whose buttons also work in groups.
- ``MENU_ROLES: dict[str, Role]``: command -> the least role whose / menu lists it (commands
  not named here are in everyone's menu). Only the menu: ``core`` decides what a role may do.

A ``Step`` is ``async def step(turn: Turn) -> None``. To add a feature, write its module and
append its name to ``FEATURES`` (order decides nothing but the / menu).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType

from bot.turn import Turn
from db.models import Role

Step = Callable[[Turn], Awaitable[None]]

FEATURES: tuple[str, ...] = (
    "link",
    "home",
    "settings",
    "drafts",
    "menus",
    "variables",
    "generate",
    "admin_invite",
    "admin_members",
    "admin_catalog",
    "admin_usage",
    "admin_limits",
    "admin_prompt",
    "review",
)


@dataclass
class Registry:
    """Everything the features export, merged; a name claimed twice is a programming error."""

    commands: dict[str, Step] = field(default_factory=dict)
    callbacks: dict[str, Step] = field(default_factory=dict)
    text_states: dict[str, Step] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    menu_roles: dict[str, Role] = field(default_factory=dict)
    group_commands: dict[str, Step] = field(default_factory=dict)
    group_callbacks: set[str] = field(default_factory=set)
    contact: Step | None = None
    on_cancel: list[Step] = field(default_factory=list)
    resume: dict[str, Step] = field(default_factory=dict)

    def add(self, module: ModuleType) -> None:
        for attribute, target in (
            ("COMMANDS", self.commands),
            ("CALLBACKS", self.callbacks),
            ("TEXT_STATES", self.text_states),
            ("DESCRIPTIONS", self.descriptions),
            ("MENU_ROLES", self.menu_roles),
            ("GROUP_COMMANDS", self.group_commands),
            ("RESUME_STATES", self.resume),
        ):
            for key, value in getattr(module, attribute, {}).items():
                if key in target:
                    raise ValueError(f"{module.__name__}: {attribute} {key!r} is taken")
                target[key] = value
        self.group_callbacks.update(getattr(module, "GROUP_CALLBACKS", ()))
        if (contact := getattr(module, "CONTACT", None)) is not None:
            if self.contact is not None:
                raise ValueError(f"{module.__name__}: CONTACT is taken")
            self.contact = contact
        if (cancel := getattr(module, "ON_CANCEL", None)) is not None:
            self.on_cancel.append(cancel)


def load_registry(features: tuple[str, ...] = FEATURES) -> Registry:
    registry = Registry()
    for name in features:
        registry.add(importlib.import_module(f"bot.handlers.{name}"))
    return registry
