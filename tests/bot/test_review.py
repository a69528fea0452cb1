"""Review from Telegram (issue 10): cards, Approve / Reject / Read in full, /review, /reviewchat.

The real Application against the fake Bot API on the test database; the cards are outbox rows
delivered by the bot's own worker, and so are the edits that close them after a decision.
"""

from __future__ import annotations

from datetime import timedelta

from bot.delivery import DeliveryWorker
from core.container import build_services
from core.presentation import display_name
from db.models import (
    AuditLog,
    Content,
    ContentStatus,
    GenerationJob,
    Membership,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Prompt,
    Role,
)
from tests.bot.harness import BotHarness, Person
from tests.fakes.bot_api import StoredMessage
from tests.support.factories import make_content, principal_for

GROUP = -1001234567
BODY = "خط نخست متن\n\nخط دوم متن که بلندتر است.\n\nپاراگراف سوم."
WAIT = 15.0


# --- helpers --------------------------------------------------------------------------------------


async def team(harness: BotHarness) -> tuple[Person, Person, Person]:
    """Two editors and a writer in the harness organisation, all Persian."""
    first = await harness.linked_user(Role.EDITOR)
    second = await harness.linked_user(Role.EDITOR)
    writer = await harness.linked_user(Role.WRITER)
    for person, name in ((first, "ویراستار یک"), (second, "ویراستار دو"), (writer, "نویسنده")):
        assert person.user is not None
        person.user.full_name = name
        await person.user.save(update_fields=["full_name"])
    return first, second, writer


async def submitted(harness: BotHarness, writer: Person, title: str = "پست بهار") -> Content:
    """A content of the writer's, submitted through core (the cards are then outbox rows)."""
    assert harness.project is not None and harness.services is not None and writer.user
    content = await make_content(harness.project, writer.user, title=title, body=BODY)
    await Content.filter(id=content.id).update(word_count=10)
    return await harness.services.content.submit(
        actor=await principal_for(writer.user), content_id=content.id
    )


async def card_of(harness: BotHarness, chat_id: int, content_id: int) -> StoredMessage:
    """The review card for ``content_id`` in ``chat_id``, once the worker delivered it."""
    approve = f"rv:a:{content_id}"

    def find() -> StoredMessage | None:
        for message in harness.fake.messages(chat_id, from_bot=True):
            if any(button.callback_data == approve for button in message.buttons):
                return message
        return None

    await harness.fake.wait_until(lambda: find() is not None, timeout=WAIT, what="a review card")
    card = find()
    assert card is not None
    return card


async def closed(harness: BotHarness, card: StoredMessage, line: str) -> None:
    """Wait until ``card`` was edited to end with ``line`` and lost its buttons."""
    await harness.fake.wait_until(
        lambda: not card.buttons and (card.text or "").endswith(line),
        timeout=WAIT,
        what=f"card {card.message_id} closed with {line!r}",
    )


async def press(harness: BotHarness, person: Person, card: StoredMessage, data: str) -> str:
    """Press ``data`` on ``card`` (offered or not: a forged client); returns the answer's text."""
    query = harness.fake.user_presses(person.id, card, data, forged=True)
    await harness.handled()
    return harness.fake.callback_answers[query].get("text", "")


def decision_line(harness: BotHarness, content: Content, decided_by: str) -> str:
    from bot.texts import moment

    assert content.decided_at is not None and harness.services is not None
    key = "bot.review.card_approved" if content.status == "approved" else "bot.review.card_rejected"
    when = moment("fa", content.decided_at, harness.services.settings.zone)
    return harness.t(key, decided_by=decided_by, when=when)


async def decisions(content_id: int) -> int:
    return await AuditLog.filter(
        content_ref=content_id, action__in=("approved", "rejected")
    ).count()


async def unchanged(content: Content) -> None:
    """Still in review, undecided, no decision audited."""
    fresh = await Content.get(id=content.id)
    assert fresh.status == ContentStatus.REVIEW
    assert fresh.decided_by_id is None and fresh.rejection_reason is None
    assert await decisions(content.id) == 0


# --- the card -------------------------------------------------------------------------------------


async def test_every_editor_gets_a_card_with_the_buttons_and_can_read_it_in_full(
    harness: BotHarness,
) -> None:
    first, second, writer = await team(harness)
    content = await submitted(harness, writer)
    for editor in (first, second):
        card = await card_of(harness, editor.id, content.id)
        assert "«پست بهار»" in (card.text or "") and "نویسنده" in (card.text or "")
        assert "خط نخست متن" in (card.text or "")
        assert [b.text for b in card.buttons] == [
            harness.t("bot.review.approve"),
            harness.t("bot.review.reject"),
            harness.t("bot.review.read_full"),
        ]
        assert all(len(b.callback_data.encode()) <= 64 for b in card.buttons)
    assert not [m for m in harness.fake.messages(writer.id, from_bot=True) if m.buttons]

    await first.press(
        harness.t("bot.review.read_full"), await card_of(harness, first.id, content.id)
    )
    assert first.texts[-2:] == ["«پست بهار»", BODY]


async def test_a_long_text_is_read_in_full_as_a_document(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    assert harness.project is not None and harness.services is not None and writer.user
    long_body = "\n\n".join(f"پاراگراف {n} " + "کلمه " * 400 for n in range(12))
    content = await make_content(harness.project, writer.user, title="بلند", body=long_body)
    await Content.filter(id=content.id).update(word_count=5000)
    await harness.services.content.submit(
        actor=await principal_for(writer.user), content_id=content.id
    )
    card = await card_of(harness, first.id, content.id)
    await first.press(harness.t("bot.review.read_full"), card)
    document = first.last_message.document
    assert document is not None and document["file_name"] == f"contexor-{content.id}.md"


# --- deciding -------------------------------------------------------------------------------------


async def test_two_editors_pressing_approve_at_once_make_one_decision(
    harness: BotHarness,
) -> None:
    first, second, writer = await team(harness)
    content = await submitted(harness, writer)
    cards = {e.id: await card_of(harness, e.id, content.id) for e in (first, second)}

    queries = [
        harness.fake.user_presses(e.id, cards[e.id], f"rv:a:{content.id}") for e in (first, second)
    ]
    for update_id in (harness.fake.last_update_id - 1, harness.fake.last_update_id):
        await harness.handled(update_id)

    decided = await Content.get(id=content.id)
    assert decided.status == ContentStatus.APPROVED
    assert await decisions(content.id) == 1
    winner = first if decided.decided_by_id == first.user.id else second  # type: ignore[union-attr]
    loser_query = queries[1] if winner is first else queries[0]
    winner_query = queries[0] if winner is first else queries[1]
    winner_name = display_name(winner.user)
    assert harness.fake.callback_answers[winner_query]["text"] == harness.t(
        "bot.review.approved_toast"
    )
    assert harness.fake.callback_answers[loser_query]["text"] == harness.t(
        "bot.review.already_approved", decided_by=winner_name
    )
    line = decision_line(harness, decided, winner_name)
    for card in cards.values():  # every copy, the loser's too
        await closed(harness, card, line)
    # The writer hears of it once, without buttons (approved content is frozen).
    await harness.fake.wait_for_calls("sendMessage", chat_id=writer.id, timeout=WAIT)
    told = [
        m for m in harness.fake.messages(writer.id, from_bot=True) if "پست بهار" in (m.text or "")
    ]
    assert len(told) == 1 and not told[0].buttons


async def test_approve_then_reject_is_refused_with_who_decided(harness: BotHarness) -> None:
    first, second, writer = await team(harness)
    content = await submitted(harness, writer)
    first_card = await card_of(harness, first.id, content.id)
    second_card = await card_of(harness, second.id, content.id)
    assert await press(harness, first, first_card, f"rv:a:{content.id}") == harness.t(
        "bot.review.approved_toast"
    )
    answer = await press(harness, second, second_card, f"rv:r:{content.id}")
    assert answer == harness.t("bot.review.already_approved", decided_by="ویراستار یک")
    fresh = await Content.get(id=content.id)
    assert fresh.status == ContentStatus.APPROVED and fresh.rejection_reason is None
    assert await decisions(content.id) == 1
    # No reason was asked for.
    assert harness.t("bot.review.ask_reason", title="پست بهار") not in second.texts


async def test_reject_asks_a_reason_cancel_keeps_it_in_review_then_the_writer_can_act(
    harness: BotHarness,
) -> None:
    first, second, writer = await team(harness)
    content = await submitted(harness, writer)
    card = await card_of(harness, first.id, content.id)
    other_card = await card_of(harness, second.id, content.id)

    await first.press(harness.t("bot.review.reject"), card)
    assert first.last_text == harness.t("bot.review.ask_reason", title="پست بهار")
    await first.press(harness.t("bot.button.cancel"))
    assert harness.t("bot.cancelled") in first.texts
    await first.send("این متن دیگر دلیل نیست")
    await unchanged(content)

    await first.press(harness.t("bot.review.reject"), card)
    await first.send("   ")  # an empty reason: asked again, nothing lost
    await unchanged(content)
    await first.send("منبع آمارها را بنویسید.")
    rejected = await Content.get(id=content.id)
    assert rejected.status == ContentStatus.REJECTED
    assert rejected.rejection_reason == "منبع آمارها را بنویسید."
    assert harness.t("bot.review.rejected", title="پست بهار") in first.texts
    line = decision_line(harness, rejected, "ویراستار یک")
    await closed(harness, card, line)
    await closed(harness, other_card, line)

    # The writer: the decision, the reason, Edit and Regenerate.
    edit, regenerate = (
        harness.t("bot.review.writer_edit"),
        harness.t("bot.review.writer_regenerate"),
    )
    await harness.fake.wait_until(
        lambda: any(b.text == edit for m in harness.fake.messages(writer.id) for b in m.buttons),
        timeout=WAIT,
        what="the writer's rejection message",
    )
    told = writer._message_with(lambda b: b.text == edit)
    assert "منبع آمارها را بنویسید." in (told.text or "") and "ویراستار یک" in (told.text or "")
    assert [b.text for b in told.buttons] == [edit, regenerate]

    await writer.press(edit, told)
    assert writer.last_text == harness.t("bot.drafts.send_body", title="پست بهار")
    await writer.send("متن تازه با منبع آمارها.")
    edited = await Content.get(id=content.id)
    assert edited.status == ContentStatus.DRAFT and edited.body == "متن تازه با منبع آمارها."

    # Regenerate from the same message: a generation job for this content.
    await Content.filter(id=content.id).update(status=ContentStatus.REJECTED)
    await writer.press(regenerate, told)
    assert await GenerationJob.filter(content_id=content.id).exists()


# --- forged and stale presses ---------------------------------------------------------------------


async def test_forged_presses_change_nothing(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    viewer = await harness.linked_user(Role.VIEWER)
    removed = await harness.linked_user(Role.EDITOR)
    content = await submitted(harness, writer)
    removed_card = await card_of(harness, removed.id, content.id)
    await Membership.filter(user_id=removed.user.id).delete()  # type: ignore[union-attr]
    stranger = harness.user()

    await writer.send("/menu")
    await viewer.send("/menu")
    for person, message in (
        (writer, writer.last_message),
        (viewer, viewer.last_message),
        (removed, removed_card),
        (stranger, removed_card),  # a client sending another chat's data
    ):
        # The writer may read their own text in full; nobody else here may read it.
        for action in ("a", "r", "o") if person is writer else ("a", "r", "f", "o"):
            answer = await press(harness, person, message, f"rv:{action}:{content.id}")
            assert answer, f"{action} by {person.id} got no refusal: {person.texts[-2:]}"
            await unchanged(content)
    assert not any(
        harness.t("bot.review.ask_reason", title="پست بهار") in p.texts
        for p in (writer, viewer, removed)
    )
    # The full text (paragraphs apart; the card's excerpt has them on adjacent lines) leaked
    # to nobody.
    assert not any(BODY in text for p in (viewer, removed, stranger) for text in p.texts)
    # Nonsense data is refused too.
    for data in ("rv:a:abc", "rv:a", "rv:z:1", f"rv:a:{content.id}:9"):
        assert await press(harness, first, await card_of(harness, first.id, content.id), data)
    await unchanged(content)


async def test_a_press_on_content_that_moved_on_is_refused(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    content = await submitted(harness, writer)
    card = await card_of(harness, first.id, content.id)
    assert harness.services is not None and writer.user is not None
    await harness.services.content.delete(
        actor=await principal_for(first.user), content_id=content.id
    )  # type: ignore[arg-type]
    assert await press(harness, first, card, f"rv:a:{content.id}") == harness.t("error.not_found")
    assert await decisions(content.id) == 0


# --- /review --------------------------------------------------------------------------------------


async def test_review_lists_the_queue_oldest_first_in_pages_of_eight(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    assert harness.project is not None and writer.user is not None
    ids = []
    for n in range(10):
        content = await make_content(harness.project, writer.user, title=f"متن {n}", body=BODY)
        ids.append(content.id)
    # Created 0 to 9, but sent to review 9 first, 0 last: waiting longest comes first.
    for n, content_id in enumerate(ids):
        await Content.filter(id=content_id).update(
            status=ContentStatus.REVIEW,
            word_count=5,
            submitted_at=harness.clock.now() - timedelta(minutes=n),
        )
    await make_content(harness.project, writer.user, title="پیش‌نویس", body=BODY)

    await first.send("/review")
    assert first.last_text == harness.t("bot.review.queue_title", count=10)
    assert first.buttons[:8] == [f"متن {n}" for n in range(9, 1, -1)]
    assert first.buttons[8:] == [
        "۱/۲",
        harness.t("bot.button.next"),
        harness.t("bot.button.back"),
        harness.t("bot.button.cancel"),
    ]
    await first.press(harness.t("bot.button.next"))
    assert first.buttons[:2] == ["متن 1", "متن 0"]
    await first.press("متن 0")
    assert "«متن 0»" in (first.last_text or "")
    await first.press(harness.t("bot.review.approve"))
    assert (await Content.get(id=ids[0])).status == ContentStatus.APPROVED
    assert first.last_message.buttons == []
    await first.send("/review")
    assert first.last_text == harness.t("bot.review.queue_title", count=9)

    await writer.send("/review")
    assert writer.last_text == harness.t("bot.review.queue_empty")


# --- /reviewchat and the group --------------------------------------------------------------------


async def test_reviewchat_by_an_admin_sends_cards_to_the_group(harness: BotHarness) -> None:
    first, second, writer = await team(harness)
    admin = await harness.linked_user(Role.ADMIN)
    harness.fake.add_chat(GROUP, title="بررسی")

    harness.fake.user_sends_text(first.id, "/reviewchat", chat_id=GROUP)
    await harness.handled()
    assert harness.fake.last_text(GROUP) == harness.t("error.permission_denied")
    org = await Organization.get(id=harness.org.id)  # type: ignore[union-attr]
    assert org.review_chat_id is None

    harness.fake.user_sends_text(admin.id, "/reviewchat", chat_id=GROUP)
    await harness.handled()
    assert harness.fake.last_text(GROUP) == harness.t(
        "bot.review.chat_bound", organization=org.name
    )
    assert (await Organization.get(id=org.id)).review_chat_id == GROUP

    content = await submitted(harness, writer)
    card = await card_of(harness, GROUP, content.id)
    for editor in (first, second, admin):
        assert not [m for m in harness.fake.messages(editor.id, from_bot=True) if m.buttons]
    assert await OutboxMessage.filter(content_id=content.id, kind="content_submitted").count() == 1

    # Other buttons and commands do nothing in the group.
    assert await press(harness, first, card, f"dr:o:{content.id}") == harness.t(
        "bot.button_expired"
    )
    before = len(harness.fake.messages(GROUP, from_bot=True))
    harness.fake.user_sends_text(first.id, "/drafts", chat_id=GROUP)
    harness.fake.user_sends_text(first.id, "سلام", chat_id=GROUP)
    await harness.handled()
    assert len(harness.fake.messages(GROUP, from_bot=True)) == before

    # A stranger in the group cannot decide; an editor can, and the group's card closes.
    stranger = harness.user()
    assert await press(harness, stranger, card, f"rv:a:{content.id}")
    await unchanged(content)
    assert await press(harness, second, card, f"rv:a:{content.id}") == harness.t(
        "bot.review.approved_toast"
    )
    decided = await Content.get(id=content.id)
    await closed(harness, card, decision_line(harness, decided, "ویراستار دو"))


async def test_a_reject_in_the_middle_of_a_flow_returns_to_it_after_the_reason_or_cancel(
    harness: BotHarness,
) -> None:
    """An editor halfway through /new's questions presses Reject on a card: the reason is
    asked, and once given (or cancelled) the question they were on is shown again, below, and
    the next message answers it."""
    first, _, writer = await team(harness)
    assert harness.services is not None and harness.workspace and harness.project
    prompt = await Prompt.create(
        organization=await harness.default_org(),
        title="پست کوتاه",
        template="{topic} {words}",
        variables=[
            {"name": "topic", "label": {"fa": "موضوع", "en": "Topic"}, "type": "text"},
            {"name": "words", "label": {"fa": "تعداد کلمه", "en": "Words"}, "type": "number"},
        ],
    )
    await first.send("/new")
    await first.press(harness.workspace.name)
    await first.press(harness.project.name)
    await first.press_data(f"new:go:{harness.project.id}:{prompt.id}")
    await first.send("قهوهٔ دمی")
    question = first.last_text or ""
    assert "تعداد کلمه" in question
    conversations = harness.services.conversations
    asking = await conversations.get(first.id, first.id)

    content = await submitted(harness, writer)
    card = await card_of(harness, first.id, content.id)
    await first.press(harness.t("bot.review.reject"), card)
    assert first.last_text == harness.t("bot.review.ask_reason", title="پست بهار")
    await first.send("منبع آمارها را بنویسید.")
    assert (await Content.get(id=content.id)).status == ContentStatus.REJECTED
    assert first.texts[-3:] == [
        harness.t("bot.review.rejected", title="پست بهار"),
        harness.t("bot.review.resumed"),
        question,
    ]
    assert harness.t("bot.button.back") in first.buttons
    back = await conversations.get(first.id, first.id)
    assert (back.state, back.data) == (asking.state, asking.data)

    other = await submitted(harness, writer, title="پست تابستان")
    card = await card_of(harness, first.id, other.id)
    await first.press(harness.t("bot.review.reject"), card)
    await first.press(harness.t("bot.button.cancel"))
    assert first.texts[-2:] == [harness.t("bot.cancelled_resumed"), question]
    await unchanged(other)
    await first.send("۳۰۰")  # the question they were on before either Reject
    assert harness.t("bot.vars.generate") in first.buttons
    answered = await conversations.get(first.id, first.id)
    assert answered.data != asking.data and "resume" not in answered.data


async def test_a_reject_in_the_middle_of_the_prompt_wizard_shows_its_question_again(
    harness: BotHarness,
) -> None:
    first, _, writer = await team(harness)
    assert await first.send("/prompt") == harness.t("bot.prompt.ask.title")
    assert await first.send("کپشن محصول") == harness.t("bot.prompt.ask.language")
    content = await submitted(harness, writer)
    card = await card_of(harness, first.id, content.id)
    await first.press(harness.t("bot.review.reject"), card)
    await first.send("منبع آمارها را بنویسید.")
    assert first.texts[-2:] == [
        harness.t("bot.review.resumed"),
        harness.t("bot.prompt.ask.language"),
    ]
    await first.press("فارسی")  # the question's own buttons work again
    assert first.last_text == harness.t("bot.prompt.ask.category")


async def _resumable_states(harness: BotHarness, admin: Person) -> list[tuple[str, dict, str]]:
    """(state, data, the question that state shows) of every other text flow an admin can be in
    when a card's Reject interrupts it (each feature's RESUME_STATES)."""
    assert harness.org and harness.workspace and harness.project and admin.user
    draft = await make_content(harness.project, admin.user, title="پیش‌نویس من", body=BODY)
    org, workspace, project = harness.org, harness.workspace, harness.project
    t = harness.t
    return [
        ("drafts.title", {"id": draft.id}, t("bot.drafts.send_title", title="پیش‌نویس من")),
        ("drafts.body", {"id": draft.id}, t("bot.drafts.send_body", title="پیش‌نویس من")),
        ("admin.workspace.new", {"organization_id": org.id}, t("bot.admin.workspace.send_name")),
        (
            "admin.workspace.rename",
            {"workspace_id": workspace.id},
            t("bot.admin.workspace.send_new_name", name=workspace.name),
        ),
        (
            "admin.project.new",
            {"workspace_id": workspace.id},
            t("bot.admin.project.send_name", workspace=workspace.name),
        ),
        (
            "admin.project.rename",
            {"project_id": project.id},
            t("bot.admin.project.send_new_name", name=project.name),
        ),
        (
            "admin.invite.phone",
            {"organization_id": org.id, "role": "writer"},
            t("bot.admin.invite.send_phone", role=t("bot.admin.role.writer")),
        ),
    ]


async def test_every_text_flow_shows_its_question_again_after_a_reject(
    harness: BotHarness,
) -> None:
    _, _, writer = await team(harness)
    admin = await harness.linked_user(Role.ADMIN)
    assert harness.services is not None
    states = await _resumable_states(harness, admin)
    for number, (state, data, question) in enumerate(states):
        await harness.services.conversations.set(admin.id, admin.id, state, data)
        content = await submitted(harness, writer, title=f"پست {number}")
        card = await card_of(harness, admin.id, content.id)
        await admin.press(harness.t("bot.review.reject"), card)
        await admin.send("منبع آمارها را بنویسید.")
        assert admin.texts[-2:] == [harness.t("bot.review.resumed"), question], state
        back = await harness.services.conversations.get(admin.id, admin.id)
        assert (back.state, back.data) == (state, data)
    # A body edit already typed and kept for Unlock asks for nothing again.
    kept = {"id": states[1][1]["id"], "pending": "متن تازه‌ای که نگه داشته شده"}
    await harness.services.conversations.set(admin.id, admin.id, "drafts.body", kept)
    content = await submitted(harness, writer, title="پست نگه‌داشته")
    await admin.press(harness.t("bot.review.reject"), await card_of(harness, admin.id, content.id))
    await admin.send("منبع آمارها را بنویسید.")
    assert admin.last_text == harness.t("bot.review.resumed")
    back = await harness.services.conversations.get(admin.id, admin.id)
    assert (back.state, back.data) == ("drafts.body", kept)
    # A cap being set (/limits): its question, with its "no cap" button, comes back too.
    assert harness.org is not None
    limit = {
        "organization_id": harness.org.id,
        "kind": "o",
        "scope_id": harness.org.id,
        "period": "monthly",
        "metric": "r",
    }
    await harness.services.conversations.set(admin.id, admin.id, "admin.limits.value", limit)
    content = await submitted(harness, writer, title="پست سقف")
    await admin.press(harness.t("bot.review.reject"), await card_of(harness, admin.id, content.id))
    await admin.send("منبع آمارها را بنویسید.")
    assert admin.texts[-2] == harness.t("bot.review.resumed")
    assert harness.t("bot.limits.button.no_cap") in admin.buttons
    assert await admin.send("۱۲۰") != harness.t("bot.review.resumed")
    assert (await harness.services.conversations.get(admin.id, admin.id)).state is None


async def test_reject_in_the_group_asks_the_reason_privately(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    harness.fake.add_chat(GROUP)
    assert harness.services is not None and harness.org is not None
    admin = await harness.linked_user(Role.ADMIN)
    await harness.services.review.bind_review_chat(
        actor=await principal_for(admin.user),
        organization_id=harness.org.id,
        chat_id=GROUP,  # type: ignore[arg-type]
    )
    content = await submitted(harness, writer)
    card = await card_of(harness, GROUP, content.id)
    answer = await press(harness, first, card, f"rv:r:{content.id}")
    assert answer == harness.t("bot.review.reason_in_private")
    assert first.last_text == harness.t("bot.review.ask_reason", title="پست بهار")
    await first.send("کوتاه‌تر بنویسید.")
    decided = await Content.get(id=content.id)
    assert decided.status == ContentStatus.REJECTED
    await closed(harness, card, decision_line(harness, decided, "ویراستار یک"))


# --- crashes --------------------------------------------------------------------------------------


async def test_a_card_committed_before_a_crash_arrives_once_after_the_restart(
    harness: BotHarness,
) -> None:
    first, _, writer = await team(harness)
    await harness.stop()  # the process dies: nothing delivers
    services = build_services(harness.settings, clock=harness.clock)
    try:
        assert harness.project is not None and writer.user is not None
        content = await make_content(harness.project, writer.user, title="پس از خرابی", body=BODY)
        await Content.filter(id=content.id).update(word_count=10)
        await services.content.submit(actor=await principal_for(writer.user), content_id=content.id)
    finally:
        await services.aclose()
    assert await OutboxMessage.filter(content_id=content.id, status=OutboxStatus.PENDING).count()

    await harness.start()
    await card_of(harness, first.id, content.id)
    await harness.stop()  # the worker finishes (and records) the send it is making
    assert {row.status for row in await OutboxMessage.filter(content_id=content.id)} == {
        OutboxStatus.SENT
    }
    await harness.start()
    assert harness.services is not None and harness.application is not None
    worker = DeliveryWorker(harness.application.bot, harness.services)
    assert (await worker.deliver_once()).claimed == 0
    cards = [
        m for m in harness.fake.messages(first.id, from_bot=True) if "پس از خرابی" in (m.text or "")
    ]
    assert len(cards) == 1


async def test_a_decision_committed_before_a_crash_closes_the_cards_after_the_restart(
    harness: BotHarness,
) -> None:
    first, second, writer = await team(harness)
    content = await submitted(harness, writer)
    cards = [await card_of(harness, e.id, content.id) for e in (first, second)]
    await harness.stop()
    services = build_services(harness.settings, clock=harness.clock)
    try:
        decided = await services.content.approve(
            actor=await principal_for(second.user), content_id=content.id
        )  # type: ignore[arg-type]
    finally:
        await services.aclose()
    assert all(card.buttons for card in cards)  # nobody edited them yet

    await harness.start()
    line = decision_line(harness, decided, "ویراستار دو")
    for card in cards:
        await closed(harness, card, line)
    edits = [c for c in harness.fake.calls_to("editMessageText") if c.ok]
    assert sorted(c.params["message_id"] for c in edits) == sorted(c.message_id for c in cards)


async def test_a_card_not_sent_before_the_decision_is_given_up_not_sent(
    harness: BotHarness,
) -> None:
    first, _, writer = await team(harness)
    await harness.stop()
    services = build_services(harness.settings, clock=harness.clock)
    try:
        assert harness.project is not None and writer.user is not None
        content = await make_content(harness.project, writer.user, title="زود", body=BODY)
        await Content.filter(id=content.id).update(word_count=10)
        await services.content.submit(actor=await principal_for(writer.user), content_id=content.id)
        await services.content.approve(actor=await principal_for(first.user), content_id=content.id)  # type: ignore[arg-type]
    finally:
        await services.aclose()
    cards = await OutboxMessage.filter(content_id=content.id, kind="content_submitted")
    assert {c.status for c in cards} == {OutboxStatus.FAILED}
    assert not await OutboxMessage.filter(kind="review_card_decided").exists()


async def test_only_the_cards_of_the_current_round_are_closed(harness: BotHarness) -> None:
    """Rejected, edited, submitted again, approved: the first round's cards keep saying
    "rejected", the second round's say "approved", and each copy is edited exactly once."""
    first, second, writer = await team(harness)
    assert harness.services is not None and writer.user and first.user
    content = await submitted(harness, writer)
    round_one = [await card_of(harness, e.id, content.id) for e in (first, second)]
    rejected = await harness.services.content.reject(
        actor=await principal_for(first.user), content_id=content.id, reason="دوباره"
    )
    rejected_line = decision_line(harness, rejected, "ویراستار یک")
    for card in round_one:
        await closed(harness, card, rejected_line)

    await harness.services.content.update(
        actor=await principal_for(writer.user), content_id=content.id, body=BODY + "!"
    )
    await harness.services.content.submit(
        actor=await principal_for(writer.user), content_id=content.id
    )
    round_two = [await card_of(harness, e.id, content.id) for e in (first, second)]
    assert {c.message_id for c in round_two}.isdisjoint({c.message_id for c in round_one})
    assert await press(harness, second, round_two[1], f"rv:a:{content.id}") == harness.t(
        "bot.review.approved_toast"
    )
    approved = await Content.get(id=content.id)
    approved_line = decision_line(harness, approved, "ویراستار دو")
    for card in round_two:
        await closed(harness, card, approved_line)
    await harness.stop()  # every pending edit settled: nothing more will touch the cards
    for card in round_one:
        assert (card.text or "").endswith(rejected_line)
    edited = [
        (call.params["chat_id"], call.params["message_id"])
        for call in harness.fake.calls_to("editMessageText")
        if call.ok
    ]
    every_copy = [(c.chat_id, c.message_id) for c in round_one + round_two]
    assert sorted(edited) == sorted(every_copy)
    await harness.start()


async def test_reviewchat_off_sends_the_cards_to_each_editor_again(harness: BotHarness) -> None:
    first, _, writer = await team(harness)
    admin = await harness.linked_user(Role.ADMIN)
    harness.fake.add_chat(GROUP)
    harness.fake.user_sends_text(admin.id, "/reviewchat", chat_id=GROUP)
    await harness.handled()
    harness.fake.user_sends_text(first.id, "/reviewchat off", chat_id=GROUP)
    await harness.handled()
    assert harness.fake.last_text(GROUP) == harness.t("error.permission_denied")
    harness.fake.user_sends_text(admin.id, "/reviewchat off", chat_id=GROUP)
    await harness.handled()
    org = await Organization.get(id=harness.org.id)  # type: ignore[union-attr]
    assert org.review_chat_id is None
    assert harness.fake.last_text(GROUP) == harness.t(
        "bot.review.chat_unbound", organizations=org.name
    )
    content = await submitted(harness, writer)
    await card_of(harness, first.id, content.id)
    await admin.send("/reviewchat")
    assert admin.last_text == harness.t("bot.review.chat_in_group")


async def test_removing_the_bot_from_the_review_group_sends_cards_to_editors_again(
    harness: BotHarness,
) -> None:
    first, _, writer = await team(harness)
    admin = await harness.linked_user(Role.ADMIN)
    harness.fake.add_chat(GROUP)
    harness.fake.user_sends_text(admin.id, "/reviewchat", chat_id=GROUP)
    await harness.handled()
    assert (await Organization.get(id=harness.org.id)).review_chat_id == GROUP  # type: ignore[union-attr]

    harness.fake.bot_removed_from(GROUP, by_user_id=admin.id)
    await harness.handled()
    assert (await Organization.get(id=harness.org.id)).review_chat_id is None  # type: ignore[union-attr]
    content = await submitted(harness, writer)
    await card_of(harness, first.id, content.id)
