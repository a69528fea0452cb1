"""Builds the Telegram ``Application``: transport, rate limits, update order, handlers.

``build_application(services, settings)`` returns an Application that is not initialised;
``bot/runtime.py`` starts it (polling or webhook) inside the process's one event loop. The
handlers come from the feature modules listed in ``bot/handlers/__init__.py``; this module only
routes an update to the step that owns it:

- a ``/command`` (or a ``cmd:<name>`` button) to the feature that exports the command;
  in a group chat only the commands features export as ``GROUP_COMMANDS``;
- a button press to the feature owning its data prefix (an unknown prefix is refused; in a
  group only the prefixes in ``GROUP_CALLBACKS``);
- a text message to the feature owning the chat's conversation state, else to the link flow
  (not linked yet) or the main menu;
- a shared contact to the link flow.
"""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot.delivery import register_reachability
from bot.errors import on_error
from bot.fence import Fence, FencedRequest
from bot.handlers import FEATURES, Registry, Step, load_registry
from bot.pacing import ReplyAwareRateLimiter
from bot.processor import PerUserUpdateProcessor
from bot.texts import t
from bot.transport import AiohttpRequest
from bot.turn import SERVICES, load_turn
from core.container import Services
from core.services.permissions import ROLE_RANK
from core.settings import Settings
from db.models import Role

REGISTRY = "registry"
FENCE = "fence"
# Network timeouts for every Bot API call (seconds); long polls add their own timeout.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 15.0
WRITE_TIMEOUT = 20.0
POOL_TIMEOUT = 5.0


def api_urls(settings: Settings) -> tuple[str, str]:
    """PTB's ``base_url`` and ``base_file_url`` from ``TELEGRAM_API_BASE_URL``."""
    root = settings.telegram_api_base_url.rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def build_application(
    services: Services,
    settings: Settings | None = None,
    *,
    webhook: bool | None = None,
    features: tuple[str, ...] = FEATURES,
) -> Application:
    """The bot for ``TELEGRAM_BOT_TOKEN``; with ``webhook`` (default: ``TELEGRAM_WEBHOOK_URL``
    is set) it has no Updater, updates arrive through ``bot/webhook.py``."""
    settings = settings or services.settings
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    if webhook is None:
        webhook = bool(settings.telegram_webhook_url)
    base_url, base_file_url = api_urls(settings)
    fence = Fence()
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(base_url)
        .base_file_url(base_file_url)
        .defaults(Defaults(block=True))
        .rate_limiter(ReplyAwareRateLimiter(max_retries=3))
        .concurrent_updates(PerUserUpdateProcessor())
        # aiohttp rather than PTB's httpx: the Bot API calls were the bot's largest CPU cost
        .request(
            AiohttpRequest(
                connection_pool_size=64,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                write_timeout=WRITE_TIMEOUT,
                pool_timeout=POOL_TIMEOUT,
            )
        )
        # getUpdates goes through the fence of bot/fence.py (the bot lease, docs/scaling.md).
        .get_updates_request(
            FencedRequest(
                fence,
                connection_pool_size=1,
                connect_timeout=CONNECT_TIMEOUT,
                pool_timeout=POOL_TIMEOUT,
                write_timeout=WRITE_TIMEOUT,
            )
        )
        .arbitrary_callback_data(False)
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[SERVICES] = services
    registry = load_registry(features)
    application.bot_data[REGISTRY] = registry
    application.bot_data[FENCE] = fence
    _register(application, registry)
    register_reachability(application, services)  # group -1: before every feature handler
    application.add_error_handler(on_error)
    return application


def registry_of(context: ContextTypes.DEFAULT_TYPE) -> Registry:
    return context.application.bot_data[REGISTRY]


def bot_commands(registry: Registry, language: str, role: Role | None = None) -> list[BotCommand]:
    """The / menu in ``language`` for someone whose highest role is ``role`` (``None``: the
    default menu, which lists no command reserved for a role)."""
    return [
        BotCommand(name, t(language, key))
        for name, key in registry.descriptions.items()
        if name not in registry.menu_roles
        or (role is not None and ROLE_RANK[role] >= ROLE_RANK[registry.menu_roles[name]])
    ]


def _register(application: Application, registry: Registry) -> None:
    private = filters.ChatType.PRIVATE
    for name, step in registry.commands.items():
        application.add_handler(CommandHandler(name, _as_handler(step), filters=private))
    groups = filters.ChatType.GROUPS
    for name, step in registry.group_commands.items():
        application.add_handler(CommandHandler(name, _as_handler(step), filters=groups))
    application.add_handler(
        MessageHandler(private & filters.COMMAND, _as_handler(_unknown_command))
    )
    application.add_handler(CallbackQueryHandler(_route_button))
    application.add_handler(MessageHandler(private & filters.CONTACT, _route_contact))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, _route_text))


def _as_handler(step: Step):
    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        turn = await load_turn(update, context)
        turn.args = list(context.args or [])
        await step(turn)

    handle.__name__ = f"handle_{getattr(step, '__name__', 'step')}"
    return handle


async def _unknown_command(turn) -> None:
    from bot.handlers.home import unknown_input

    await unknown_input(turn)


async def _route_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    registry = registry_of(context)
    turn = await load_turn(update, context)
    prefix, *args = (update.callback_query.data or "").split(":")
    turn.args = args
    chat = update.effective_chat
    in_group = chat is not None and chat.type != ChatType.PRIVATE
    if in_group and prefix not in registry.group_callbacks:
        # Only the review card's buttons work in a group; the rest belong to private chats.
        await turn.ack(turn.t("bot.button_expired"), alert=True)
    elif prefix == "cmd" and len(args) == 1 and args[0] in registry.commands:
        turn.args = []
        await registry.commands[args[0]](turn)
    elif prefix in registry.callbacks:
        await registry.callbacks[prefix](turn)
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def _route_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    registry = registry_of(context)
    turn = await load_turn(update, context)
    if registry.contact is not None:
        await registry.contact(turn)


async def _route_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    registry = registry_of(context)
    turn = await load_turn(update, context)
    step = registry.text_states.get(turn.state or "")
    if step is None:
        from bot.handlers.home import unknown_input

        step = unknown_input
    await step(turn)
