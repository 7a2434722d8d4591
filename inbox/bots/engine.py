"""The bot engine: one for every channel, above the adapters (no aiogram / vkbottle / litestar here).

``on_event`` handles ``message.new`` events of inbound messages, ``on_callback`` button presses. Each turn
runs in one transaction: load the message and the customer's state row, decide, enqueue the replies through
the outbox (author BOT) and save the state (compare-and-set on ``bot_state.version``; on PostgreSQL the row is
also locked with SELECT … FOR UPDATE). A lost race rolls the whole turn back and runs it again.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from inbox.bots import checkout, shop
from inbox.bots.config import BotConfig, load_config
from inbox.bots.handoff import hand_back, hand_off
from inbox.bots.intents import Intent, menu_choice, parse
from inbox.bots.payloads import Action, BadPayload, verify
from inbox.bots.turn import Turn
from inbox.core.customers import live_customer, set_preferred_channel
from inbox.core.events import Event, EventBus, drop_pending_since, emit, pending_mark
from inbox.core.meta import meta_of
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.core.types import ChannelSource, InboundCallback
from inbox.db import SessionFactory, insert_for, is_postgres, transaction
from inbox.i18n import _, use_locale
from inbox.models import (
    Author,
    BotState,
    Customer,
    Direction,
    Identity,
    Message,
    Thread,
    ThreadStatus,
    utcnow,
)
from inbox.sales.unsubscribe import SALES_BUTTONS, is_stop
from inbox.settings import Settings

log = logging.getLogger(__name__)
ATTEMPTS = 4
WINDOW = timedelta(minutes=1)

Handler = Callable[[Turn], Awaitable[None]]
BATCH = 100  # turns per transaction in on_events


@dataclass(slots=True)
class Prefetched:
    """What the turns of a batch read, in a few queries for the whole batch instead of several per turn."""

    cfg: BotConfig
    manager_recent: set[int]  # threads a manager wrote in within the quiet period
    states: dict[int, BotState]  # by customer id
    # The loaded rows, held here because the session's identity map keeps only weak references: without
    # these, session.get() would query them again.
    rows: list[object]


class _Fallback(Exception):
    """The batch cannot go on as one transaction: run its turns one by one."""


class Skip(Exception):
    """The bot must not answer this turn (auto-reply, manager holds the thread, rate limit...)."""


class BotEngine:
    """``bus.subscribe(engine.on_event)``; ``processor.callback_handlers.append(engine.on_callback)``.

    ``bus`` publishes the events of bot replies and order changes (live inbox); ``hub`` acknowledges button
    presses (Telegram answerCallbackQuery, VK sendMessageEventAnswer); ``wake`` nudges the dispatcher.
    """

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        *,
        bus: EventBus | None = None,
        hub: ChannelSource | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.bus = bus
        self.hub = hub
        self.wake = wake

    # ---- entry points ----------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        if (
            event.type == "thread.updated"
            and event.thread_id is not None
            and event.data.get("status") == "closed"
        ):
            await self._release_if_closed(event.thread_id)
            return
        if event.type != "message.new" or event.data.get("direction") != "in" or event.message_id is None:
            return
        message_id = event.message_id
        await self._run(lambda session: self._message_turn(session, message_id))

    async def on_events(self, events: tuple[Event, ...]) -> None:
        """``bus.subscribe_batch(engine.on_events)``: what ``on_event`` does for each event, with the turns of
        a batch of inbound messages in one transaction whose reads are done up front for the whole batch
        (a turn otherwise costs a transaction and some ten queries, which bounded the bot-on ingest rate).
        A batch that cannot finish as one (a concurrent state change, a reply no channel can take, an
        error) is rolled back and its turns run again one by one, each in its own transaction."""
        ids: list[int] = []
        for ev in events:
            if ev.type == "message.new" and ev.data.get("direction") == "in" and ev.message_id is not None:
                ids.append(ev.message_id)
            else:
                await self.on_event(ev)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            if len(chunk) > 1:
                try:
                    changed = await self._batch(chunk)
                except Exception as exc:
                    log.info("bot batch of %d turns fell back to one by one (%s)", len(chunk), exc)
                else:
                    if self.wake is not None and changed:
                        self.wake()
                    continue
            for message_id in chunk:
                try:
                    await self._run(functools.partial(self._message_turn, message_id=message_id))
                except Exception:  # as the bus does for each listener: one failing turn stops no other
                    log.exception("bot turn on message %s failed", message_id)

    async def _batch(self, ids: list[int]) -> bool:
        """The turns of ``ids`` in one transaction; their events go out after its commit. True when any
        turn changed something others should hear about."""
        changed = False
        tx = self.bus.transaction(self.factory) if self.bus is not None else transaction(self.factory)
        async with tx as session:
            pre = await self._prefetch(session, ids)
            for message_id in ids:
                mark = pending_mark(session)
                try:
                    prepared = await self._message_turn(session, message_id, pre)
                except Skip as why:  # decided before the turn changed anything
                    log.debug("bot stays silent: %s", why)
                    drop_pending_since(session, mark)
                    continue
                if prepared is None:
                    drop_pending_since(session, mark)
                    continue
                turn, handler = prepared
                try:
                    with use_locale(turn.locale):
                        await handler(turn)
                        changed = await self._finish(turn) or changed
                except Skip as why:
                    raise _Fallback(f"a turn stayed silent after it began: {why}") from why
        return changed

    async def _prefetch(self, session: AsyncSession, ids: list[int]) -> Prefetched:
        """Loads the batch's messages, threads and customers into the session (``session.get`` then finds
        them without a query), its bot state rows (created when missing; locked on PostgreSQL), the bot
        configuration and which threads a manager answered recently."""
        rows: list[object] = []
        messages = list((await session.execute(select(Message).where(Message.id.in_(ids)))).scalars())
        rows += messages
        thread_ids = {m.thread_id for m in messages}
        customer_ids = {m.customer_id for m in messages if m.customer_id is not None}
        if thread_ids:
            rows += (await session.execute(select(Thread).where(Thread.id.in_(thread_ids)))).scalars().all()
        if customer_ids:
            found = await session.execute(select(Customer).where(Customer.id.in_(customer_ids)))
            rows += found.scalars().all()
        live_rows = [await live_customer(session, cid) for cid in customer_ids]
        rows += live_rows
        live = {c.id for c in live_rows}
        cfg = await load_config(session, self.settings.timezone)
        recent: set[int] = set()
        if cfg.manager_quiet_minutes > 0 and thread_ids:
            since = utcnow() - timedelta(minutes=cfg.manager_quiet_minutes)
            recent = set(
                (
                    await session.execute(
                        select(Message.thread_id)
                        .where(
                            Message.thread_id.in_(thread_ids),
                            Message.author == Author.MANAGER,
                            Message.direction == Direction.OUT,
                            Message.created_at >= since,
                        )
                        .distinct()
                    )
                ).scalars()
            )
        states: dict[int, BotState] = {}
        if live:
            await session.execute(
                insert_for(session, BotState)
                .values(
                    [
                        {
                            "customer_id": cid,
                            "version": 0,
                            "step": "",
                            "data": {},
                            "handoff": False,
                            "window_replies": 0,
                            "updated_at": utcnow(),
                        }
                        for cid in sorted(live)
                    ]
                )
                .on_conflict_do_nothing(index_elements=["customer_id"])
            )
            stmt = (
                select(BotState)
                .where(BotState.customer_id.in_(live))
                .order_by(BotState.customer_id)
                .execution_options(populate_existing=True)
            )
            if is_postgres(session):
                stmt = stmt.with_for_update()
            states = {st.customer_id: st for st in (await session.execute(stmt)).scalars()}
        return Prefetched(cfg=cfg, manager_recent=recent, states=states, rows=rows)

    async def on_callback(self, cb: InboundCallback) -> None:
        try:
            if not cb.payload.startswith(SALES_BUTTONS):  # inbox.sales handles unsubscribe / consent buttons
                await self._run(lambda session: self._callback_turn(session, cb))
        finally:
            await self._ack(cb)

    # ---- the transaction -------------------------------------------------------------------------------

    async def _run(self, build: Callable[[AsyncSession], Awaitable[tuple[Turn, Handler] | None]]) -> None:
        for attempt in range(ATTEMPTS):
            changed = False
            tx = self.bus.transaction(self.factory) if self.bus is not None else transaction(self.factory)
            try:
                async with tx as session:
                    prepared = await build(session)
                    if prepared is None:
                        return
                    turn, handler = prepared
                    with use_locale(turn.locale):
                        await handler(turn)
                        changed = await self._finish(turn)
            except Skip as why:
                log.debug("bot stays silent: %s", why)
                return
            except StaleDataError:
                log.info("bot state changed concurrently; turn retried (attempt %s)", attempt + 1)
                continue
            except NoChannel as exc:
                log.warning("bot cannot answer: %s", exc)
                return
            if self.wake is not None and changed:
                self.wake()
            return
        log.error("bot turn given up after %s concurrent state changes", ATTEMPTS)

    async def _finish(self, turn: Turn) -> bool:
        """Save the state and queue the replies; their events go out after the commit. True when the turn
        changed anything others should hear about."""
        state = turn.state
        if turn.understood:
            turn.data["misunderstood"] = 0
        if state.window_start is None or turn.now - state.window_start >= WINDOW:
            state.window_start = turn.now
            state.window_replies = 0
        state.window_replies += len(turn.replies)
        state.data = dict(turn.data)
        state.updated_at = turn.now  # always an UPDATE, so that the version check always runs
        emit(turn.session, *turn.events)
        for reply in turn.replies:
            await enqueue(
                turn.session,
                turn.thread,
                Draft(
                    text=reply.text,
                    author=Author.BOT,
                    channel=turn.channel,
                    buttons=reply.buttons,
                    meta={"bot": True},
                ),
            )
        await turn.session.flush()
        return bool(turn.events or turn.replies)

    async def _state(self, session: AsyncSession, customer_id: int) -> BotState:
        await session.execute(
            insert_for(session, BotState)
            .values(
                customer_id=customer_id,
                version=0,
                step="",
                data={},
                handoff=False,
                window_replies=0,
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["customer_id"])
        )
        stmt = (
            select(BotState)
            .where(BotState.customer_id == customer_id)
            .execution_options(populate_existing=True)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update()
        return (await session.execute(stmt)).scalar_one()

    async def _turn(
        self,
        session: AsyncSession,
        customer: Customer,
        thread: Thread,
        channel: str,
        now: datetime,
        message: Message | None = None,
        pre: Prefetched | None = None,
    ) -> Turn:
        cfg = pre.cfg if pre is not None else await load_config(session, self.settings.timezone)
        if not cfg.enabled:
            raise Skip("the bot is switched off")
        if thread.assignee_id is not None:
            raise Skip("a manager holds the thread")
        if (
            thread.id in pre.manager_recent
            if pre is not None
            else await self._manager_recently(session, thread, cfg, now)
        ):
            raise Skip("a manager answered recently")
        known = pre.states.get(customer.id) if pre is not None else None
        state = known if known is not None else await self._state(session, customer.id)
        if state.handoff:
            raise Skip("the thread is handed off to managers")
        if (
            state.window_start is not None
            and now - state.window_start < WINDOW
            and state.window_replies >= cfg.replies_per_minute
        ):
            raise Skip(f"rate limit: {state.window_replies} replies this minute")
        locale = customer.locale or self.settings.default_locale
        return Turn(
            session=session,
            settings=self.settings,
            cfg=cfg,
            state=state,
            customer=customer,
            thread=thread,
            channel=channel,
            locale=locale,
            now=now,
            message=message,
            data=copy.deepcopy(dict(state.data or {})),  # nested changes must not touch the loaded row
        )

    @staticmethod
    async def _manager_recently(session: AsyncSession, thread: Thread, cfg: BotConfig, now: datetime) -> bool:
        if cfg.manager_quiet_minutes <= 0:
            return False
        since = now - timedelta(minutes=cfg.manager_quiet_minutes)
        found = await session.execute(
            select(Message.id)
            .where(
                Message.thread_id == thread.id,
                Message.author == Author.MANAGER,
                Message.direction == Direction.OUT,  # an internal note answers nobody
                Message.created_at >= since,
            )
            .limit(1)
        )
        return found.first() is not None

    async def _message_turn(
        self, session: AsyncSession, message_id: int, pre: Prefetched | None = None
    ) -> tuple[Turn, Handler] | None:
        message = await session.get(Message, message_id)
        if message is None or message.direction != Direction.IN or message.author != Author.CUSTOMER:
            return None
        if (message.meta or {}).get("auto"):
            raise Skip("an auto-reply or bulk message")
        if is_stop(message.text):
            raise Skip("the customer unsubscribes (inbox.sales answers)")
        thread = await session.get(Thread, message.thread_id)
        if thread is None or message.channel is None:
            return None
        customer = await live_customer(session, message.customer_id)
        turn = await self._turn(session, customer, thread, message.channel, utcnow(), message, pre)
        fresh = turn.state.version == 0 and not turn.data
        return turn, lambda t: self._on_text(t, message.text or "", fresh)

    async def run_for(self, customer_id: int, channel: str, handler: Handler) -> None:
        """A turn no customer message started (a carrier answered the bot's question): on the customer's
        thread, answering on ``channel``; silent, like any turn, when a manager holds the thread."""

        async def build(session: AsyncSession) -> tuple[Turn, Handler] | None:
            customer = await live_customer(session, customer_id)
            thread = (
                await session.execute(select(Thread).where(Thread.customer_id == customer.id))
            ).scalar_one_or_none()
            if thread is None:
                return None
            return await self._turn(session, customer, thread, channel, utcnow()), handler

        await self._run(build)

    async def _callback_turn(self, session: AsyncSession, cb: InboundCallback) -> tuple[Turn, Handler] | None:
        identity = (
            await session.execute(
                select(Identity).where(
                    Identity.kind == cb.kind,
                    Identity.account_id == cb.account_id,
                    Identity.external_id == cb.external_user_id,
                )
            )
        ).scalar_one_or_none()
        if identity is None:
            log.warning("button press from an unknown %s user %s refused", cb.kind, cb.external_user_id)
            return None
        customer = await live_customer(session, identity.customer_id)
        try:
            action = verify(self.settings.signing_keys, customer.id, cb.payload)
        except BadPayload as exc:
            log.warning("button payload refused (%s): %r", exc, cb.payload[:80])
            return None
        thread = (
            await session.execute(select(Thread).where(Thread.customer_id == customer.id))
        ).scalar_one_or_none()
        if thread is None:
            return None
        turn = await self._turn(session, customer, thread, str(cb.kind), utcnow())
        return turn, lambda t: self._act(t, action)

    async def _release_if_closed(self, thread_id: int) -> None:
        async with transaction(self.factory) as session:
            thread = await session.get(Thread, thread_id)
            if thread is not None and thread.status == ThreadStatus.CLOSED:
                await hand_back(session, thread.customer_id)

    async def _ack(self, cb: InboundCallback) -> None:
        if self.hub is None:
            return
        try:
            channel = await self.hub.get(cb.account_id)
            if channel is not None:
                await channel.answer_callback(cb.callback_id)
        except Exception:  # an unanswered press only leaves a spinner on the customer's screen
            log.warning("acknowledging a button press failed", exc_info=True)

    # ---- deciding --------------------------------------------------------------------------------------

    async def _on_text(self, turn: Turn, text: str, fresh: bool) -> None:
        intent = parse(text)
        contact = turn.message is not None and bool(meta_of(turn.message).get("contact"))
        if intent is not None and intent.kind in ("handoff", "cancel", "start"):
            await self._intent(turn, intent)
            return
        menu = turn.data.get("menu") or []
        choice = menu_choice(text, len(menu))
        if choice is not None:
            name, arg = menu[choice]
            await self._act(turn, Action(str(name), str(arg)))
            return
        if turn.step and (text.strip() or contact) and await checkout.answer(turn, text):
            return
        if contact and not turn.step and not fresh:
            raise Skip("a shared contact outside checkout is identity data, not a question")
        if intent is not None:
            await self._intent(turn, intent)
            return
        for faq in turn.cfg.faq.get(turn.locale, ()):
            if faq.pattern.search(text):
                turn.say(faq.answer, shop.main_rows())
                return
        if fresh:
            await shop.greet(turn)
            return
        await self._misunderstood(turn)

    async def _misunderstood(self, turn: Turn) -> None:
        turn.understood = False
        count = int(turn.data.get("misunderstood", 0)) + 1
        turn.data["misunderstood"] = count
        if count >= turn.cfg.misunderstood_limit:
            await hand_off(turn, "misunderstood")
            return
        turn.say(
            _(
                "Sorry, I did not understand. Choose an option below, send an order number, "
                "or write “manager”."
            ),
            shop.main_rows(),
        )

    async def _intent(self, turn: Turn, intent: Intent) -> None:
        kind = intent.kind
        if kind == "handoff":
            await hand_off(turn, "asked")
        elif kind == "start":
            turn.step = ""
            turn.data.pop("checkout", None)
            await shop.greet(turn)
        elif kind == "cancel":
            await (checkout.cancel(turn) if turn.step else shop.main_menu(turn))
        elif kind == "notify_here":
            await self._notify_here(turn)
        elif kind == "order":
            await shop.order_status(turn, int(intent.arg))
        elif kind == "my_orders":
            await shop.my_orders(turn)
        elif kind == "loyalty":
            await shop.loyalty_level(turn)
        elif kind == "search":
            await shop.search(turn, intent.arg)
        elif kind == "catalog":
            await shop.categories(turn)
        elif kind == "cart":
            await checkout.view(turn)
        elif kind == "checkout":
            await checkout.start(turn)

    async def _notify_here(self, turn: Turn) -> None:
        await set_preferred_channel(turn.session, turn.customer.id, turn.channel)
        turn.customer.preferred_channel = turn.channel
        turn.say(_("Done: we will send you notifications here."), shop.main_rows())

    async def _act(self, turn: Turn, action: Action) -> None:
        name = action.name
        try:
            if name == "menu":
                await shop.main_menu(turn)
            elif name == "mgr":
                await hand_off(turn, "button")
            elif name == "here":
                await self._notify_here(turn)
            elif name == "orders":
                await shop.my_orders(turn)
            elif name == "ord":
                await shop.order_status(turn, action.int_arg)
            elif name == "cats":
                await shop.categories(turn)
            elif name == "cat":
                await shop.categories(turn, action.int_arg)
            elif name == "prod":
                await shop.product_card(turn, action.int_arg)
            elif name == "add":
                await checkout.add(turn, action.int_arg)
            elif name == "cart":
                await checkout.view(turn)
            elif name == "line":
                await checkout.line_menu(turn, action.int_arg)
            elif name in ("inc", "dec", "rm"):
                delta = {"inc": 1, "dec": -1}.get(name)
                await checkout.change(turn, action.int_arg, delta)
            elif name == "chk":
                await checkout.start(turn)
            elif name in ("name", "phone"):
                await checkout.keep_known(turn, name)
            elif name == "dlv":
                await checkout.choose_delivery(turn, action.arg)
            elif name == "pvz":
                await checkout.choose_point(turn, action.arg)
            elif name == "ok":
                await checkout.confirm(turn)
            elif name == "cancel":
                await checkout.cancel(turn)
            else:
                await checkout.resume(turn)
        except BadPayload:
            await checkout.resume(turn)
