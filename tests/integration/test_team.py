"""Team work on both databases: assignment, round robin, states and snooze, notes and mentions, canned
replies, labels and filters, notifications, managers and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from inbox.core.security import hash_password
from inbox.core.threads import ThreadFilter, list_threads
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, seed
from inbox.models import (
    AuditLog,
    Customer,
    Direction,
    Manager,
    Message,
    Notification,
    Outbox,
    Thread,
    utcnow,
)
from inbox.team import assignment, canned, labels, managers, notes, notifications, presence
from inbox.team.assignment import TeamError
from inbox.team.settings import set_options


async def make_manager(factory: SessionFactory, email: str, name: str, role: str = "manager") -> int:
    async with transaction(factory) as session:
        m = Manager(email=email, name=name, password_hash=hash_password("password-123"), role=role)
        session.add(m)
        await session.flush()
        return m.id


async def ids(factory: SessionFactory) -> tuple[int, dict[str, int]]:
    """The demo admin's id and thread ids by customer name."""
    async with factory() as session:
        admin = (await session.execute(select(Manager.id).where(Manager.email == DEMO_EMAIL))).scalar_one()
        rows = await session.execute(
            select(Customer.name, Thread.id).join(Thread, Thread.customer_id == Customer.id)
        )
        return admin, {name: tid for name, tid in rows.all()}


@pytest.fixture
async def shop(factory: SessionFactory) -> tuple[int, dict[str, int]]:
    await seed(factory)
    return await ids(factory)


async def test_assign_unassign_and_views(factory: SessionFactory, shop: tuple[int, dict[str, int]]) -> None:
    admin, threads = shop
    olga = await make_manager(factory, "olga@shop.example", "Ольга Иванова")
    anna = threads["Анна Смирнова"]
    async with transaction(factory) as session:
        out = await assignment.assign(session, anna, olga, admin)
    assert [e.type for e in out.events] == ["thread.updated"]
    assert [(m, e.type) for m, e in out.personal] == [(olga, "notification.new")]
    async with factory() as session:
        mine, _ = await list_threads(session, filters=ThreadFilter(assignee_id=olga))
        unassigned, _ = await list_threads(session, filters=ThreadFilter(unassigned=True))
        note = (
            await session.execute(select(Notification).where(Notification.manager_id == olga))
        ).scalar_one()
        history = (
            await session.execute(
                select(Message).where(Message.thread_id == anna, Message.direction == "event")
            )
        ).scalar_one()
    assert [r.id for r in mine] == [anna]
    assert anna not in [r.id for r in unassigned] and len(unassigned) == 3
    assert note.kind == "assigned" and note.thread_id == anna and note.actor_id == admin
    assert history.meta["kind"] == "assign" and "Ольга Иванова" in (history.text or "")

    async with transaction(factory) as session:  # assigning yourself does not notify you
        out = await assignment.assign(session, threads["Олег"], admin, admin)
        assert out.personal == []
        await assignment.assign(session, anna, None, admin)
    async with factory() as session:
        assert (await session.get(Thread, anna)).assignee_id is None  # type: ignore[union-attr]
    async with transaction(factory) as session:
        await managers.set_active(session, admin, olga, False)
    with pytest.raises(TeamError, match="deactivated"):
        async with transaction(factory) as session:
            await assignment.assign(session, anna, olga, admin)


async def test_round_robin_among_online_managers(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, threads = shop
    a = await make_manager(factory, "a@shop.example", "A")
    b = await make_manager(factory, "b@shop.example", "B")
    c = await make_manager(factory, "c@shop.example", "C")
    order = sorted(threads.values())
    async with transaction(factory) as session:
        assert (await assignment.auto_assign(session, order[0])).events == []  # setting off: nothing
        await set_options(session, round_robin=True, waiting_minutes=15)
        for m in (a, b, c):
            await presence.heartbeat(session, m)
        await presence.heartbeat(session, admin, at=utcnow() - timedelta(minutes=10))  # gone
        await presence.set_away(session, c, True)  # online but away
    got = []
    for tid in order:
        async with transaction(factory) as session:
            await assignment.auto_assign(session, tid)
        async with factory() as session:
            got.append((await session.get(Thread, tid)).assignee_id)  # type: ignore[union-attr]
    assert got == [a, b, a, b]
    async with transaction(factory) as session:  # an assigned thread stays with its manager
        assert (await assignment.auto_assign(session, order[0])).events == []


async def test_states_and_snooze_hide_from_default_view(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, threads = shop
    oleg = threads["Олег"]
    async with transaction(factory) as session:
        await assignment.set_status(session, oleg, "closed", admin)
        with pytest.raises(TeamError, match="unknown thread status"):
            await assignment.set_status(session, oleg, "archived", admin)
    async with factory() as session:
        closed, _ = await list_threads(session, filters=ThreadFilter(status="closed"))
        assert [r.id for r in closed] == [oleg]
    anna = threads["Анна Смирнова"]
    async with transaction(factory) as session:
        await assignment.snooze(session, anna, utcnow() + timedelta(hours=2), admin)
        with pytest.raises(TeamError, match="future"):
            await assignment.snooze(session, anna, utcnow() - timedelta(hours=2), admin)
    async with factory() as session:
        default, _ = await list_threads(session, filters=ThreadFilter())
        snoozed, _ = await list_threads(session, filters=ThreadFilter(snoozed=True))
        later, _ = await list_threads(session, filters=ThreadFilter(), now=utcnow() + timedelta(hours=3))
    assert anna not in [r.id for r in default]
    assert [r.id for r in snoozed] == [anna]
    assert anna in [r.id for r in later]  # the time has come: back in the list


async def test_note_is_never_sent_and_mentions_notify(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, threads = shop
    olga = await make_manager(factory, "olga@shop.example", "Ольга Иванова")
    ivan = await make_manager(factory, "ivan.p@shop.example", "Иван Петров")
    anna = threads["Анна Смирнова"]
    async with factory() as session:
        outbox_before = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
    async with transaction(factory) as session:
        note, out = await notes.add_note(session, anna, admin, "@olga проверь оплату, @Иван тоже. me@mail.ru")
    async with factory() as session:
        outbox_after = (await session.execute(select(func.count()).select_from(Outbox))).scalar_one()
        stored = await session.get(Message, note.id)
        got = (await session.execute(select(Notification).order_by(Notification.manager_id))).scalars().all()
    assert outbox_after == outbox_before  # a note never reaches a channel
    assert stored is not None and stored.direction == Direction.NOTE and stored.delivery == "none"
    assert stored.channel is None and stored.account_id is None
    assert [(n.manager_id, n.kind, n.message_id) for n in got] == [
        (olga, "mention", note.id),
        (ivan, "mention", note.id),
    ]
    assert sorted(m for m, _ in out.personal) == [olga, ivan]
    async with transaction(factory) as session:  # mentioning yourself is not a notification
        _, out = await notes.add_note(session, anna, olga, "@olga напоминание себе")
        assert out.personal == []
        with pytest.raises(TeamError, match="empty"):
            await notes.add_note(session, anna, olga, "   ")
    async with transaction(factory) as session:
        assert await notifications.unread_count(session, olga) == 1
        await notifications.mark_read(session, olga)
        assert await notifications.unread_count(session, olga) == 0


async def test_canned_replies_placeholders_shared_and_personal(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, threads = shop
    olga = await make_manager(factory, "olga@shop.example", "Ольга")
    async with transaction(factory) as session:
        await canned.create(
            session,
            shortcut="track",
            title="Трек",
            body="{customer.name}, заказ {order.number}: {order.tracking_url}. {manager.name}",
            owner_id=None,
        )
        await canned.create(session, shortcut="hi", title="Привет", body="Привет!", owner_id=olga)
        with pytest.raises(TeamError, match="taken"):
            await canned.create(session, shortcut="/track", title="x", body="y", owner_id=None)
        with pytest.raises(TeamError, match="unknown placeholder"):
            await canned.create(session, shortcut="bad", title="x", body="{order.secret}", owner_id=None)
    async with factory() as session:
        admin_row = await session.get(Manager, admin)
        assert admin_row is not None
        mine = [c.shortcut for c in await canned.visible(session, olga)]
        theirs = [c.shortcut for c in await canned.visible(session, admin)]
        text = await canned.render(
            session, (await canned.visible(session, admin))[0].body, threads["Анна Смирнова"], admin_row
        )
    assert mine == ["hi", "track"] and theirs == ["track"]
    if canned.order_table() is None:  # no orders feature: order placeholders are left empty
        assert text == "Анна Смирнова, заказ : . Администратор"
    else:
        assert text.startswith("Анна Смирнова, заказ ") and text.endswith(". Администратор")


async def test_labels_and_filters(factory: SessionFactory, shop: tuple[int, dict[str, int]]) -> None:
    _admin, threads = shop
    async with transaction(factory) as session:
        vip = await labels.create_label(session, "VIP", "#aa0000")
        wholesale = await labels.create_label(session, "Опт")
        assert (await labels.create_label(session, " VIP ")).id == vip.id
        with pytest.raises(TeamError, match="colour"):
            await labels.create_label(session, "x", "red")
        await labels.label_thread(session, threads["Анна Смирнова"], vip.id)
        await labels.label_thread(session, threads["Анна Смирнова"], vip.id)  # twice is once
        igor_customer = (await session.get(Thread, threads["Игорь Петров"])).customer_id  # type: ignore[union-attr]
        await labels.label_customer(session, igor_customer, wholesale.id)
    async with factory() as session:
        by_vip, _ = await list_threads(session, filters=ThreadFilter(label_id=vip.id))
        by_opt, _ = await list_threads(session, filters=ThreadFilter(label_id=wholesale.id))
        by_vk, _ = await list_threads(session, filters=ThreadFilter(channel="vk"))
        by_sms_unread, _ = await list_threads(session, filters=ThreadFilter(channel="sms", unread=True))
        shown = await labels.thread_labels(session, [threads["Анна Смирнова"]])
    assert [r.id for r in by_vip] == [threads["Анна Смирнова"]]
    assert [r.id for r in by_opt] == [threads["Игорь Петров"]]  # customer labels filter too
    assert [r.id for r in by_vk] == [threads["Игорь Петров"]]
    assert [r.id for r in by_sms_unread] == [threads["Мария Кузнецова"]]
    assert [lb.name for lb in shown[threads["Анна Смирнова"]]] == ["VIP"]
    async with transaction(factory) as session:
        await labels.label_thread(session, threads["Анна Смирнова"], vip.id, on=False)
    async with factory() as session:
        assert (await list_threads(session, filters=ThreadFilter(label_id=vip.id)))[0] == []


async def test_waiting_customer_notifies_assignee_once(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, threads = shop
    maria = threads["Мария Кузнецова"]  # last inbound 30 minutes ago
    async with transaction(factory) as session:
        await assignment.assign(session, maria, admin, admin)
        out = await notifications.notify_waiting(session, 20)
        again = await notifications.notify_waiting(session, 20)
        none = await notifications.notify_waiting(session, 60)
    assert [(m, e.data["kind"]) for m, e in out.personal] == [(admin, "waiting")]
    assert again.personal == [] and none.personal == []


async def test_managers_admin_actions_are_audited(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    admin, _ = shop
    async with transaction(factory) as session:
        m = await managers.create_manager(
            session, admin, email="New@Shop.example", name="Новый", password="long-password", role="manager"
        )
        await managers.set_role(session, admin, m.id, "admin")
        await managers.set_active(session, admin, m.id, False)
        with pytest.raises(TeamError, match="already exists"):
            await managers.create_manager(
                session, admin, email="new@shop.example", name="x", password="long-password", role="manager"
            )
        with pytest.raises(TeamError, match="at least 8"):
            await managers.create_manager(
                session, admin, email="x@shop.example", name="x", password="short", role="manager"
            )
    with pytest.raises(TeamError, match="Последнего активного администратора"):
        async with transaction(factory) as session:
            await managers.set_active(session, admin, admin, False)
    async with factory() as session:
        log = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars().all()
    assert [(e.action, e.target, e.actor_id) for e in log] == [
        ("manager.create", "new@shop.example", admin),
        ("manager.role", "new@shop.example", admin),
        ("manager.deactivate", "new@shop.example", admin),
    ]
    assert log[1].details == {"manager_id": m.id, "old": "manager", "new": "admin"}


async def test_dashboard_numbers(factory: SessionFactory) -> None:
    from inbox.team.stats import dashboard, period

    a = await make_manager(factory, "a@shop.example", "Анна")
    t0 = utcnow() - timedelta(hours=3)
    async with transaction(factory) as session:
        threads = []
        for name in ("one", "two", "bot"):
            c = Customer(name=name, tags=[], fields={})
            session.add(c)
            await session.flush()
            t = Thread(customer_id=c.id, last_message_at=t0)
            session.add(t)
            await session.flush()
            threads.append((c.id, t.id))

        def msg(
            i: int, direction: str, minutes: int, author: str = "customer", manager: int | None = None
        ) -> Message:
            cid, tid = threads[i]
            return Message(
                thread_id=tid,
                customer_id=cid,
                direction=direction,
                channel="telegram",
                author=author,
                manager_id=manager,
                text="x",
                meta={},
                revisions=[],
                created_at=t0 + timedelta(minutes=minutes),
            )

        session.add_all(
            [
                msg(0, "in", 0),
                msg(0, "in", 5),
                msg(0, "out", 10, "manager", a),
                msg(1, "in", 0),
                msg(1, "out", 30, "manager", a),
                msg(2, "in", 0),
                msg(2, "out", 1, "bot"),
            ]
        )
        await session.flush()
        await assignment.set_status(session, threads[0][1], "open", a)  # no change: no event
        thread_one = await session.get(Thread, threads[0][1])
        assert thread_one is not None
        thread_one.status = "waiting"
    async with transaction(factory) as session:
        await assignment.set_status(session, threads[0][1], "closed", a)
        closed = (await session.execute(select(Message).where(Message.direction == "event"))).scalar_one()
        closed.created_at = t0 + timedelta(minutes=60)
    async with factory() as session:
        tables = await dashboard(session, period(None, None, "Europe/Moscow"))
    assert tables["first_response"].rows == [[a, "Анна", 2, 20.0, 30.0]]
    assert tables["resolution"].rows == [[a, "Анна", 1, 60.0, 60.0]]
    assert dict(tables["bots"].rows) == {"bot_only": 1, "handed_off": 0}
    counts = dict(tables["threads"].rows)
    assert counts["open"] == 2 and counts["unassigned"] == 2 and counts["waiting"] == 0
    per_day: dict[tuple[object, object], int] = {}
    for r in tables["messages"].rows:  # summed: the three hours may straddle midnight
        per_day[(r[1], r[2])] = per_day.get((r[1], r[2]), 0) + int(str(r[3]))
    assert per_day[("telegram", "in")] == 4 and per_day[("telegram", "out")] == 3


async def test_customer_message_wakes_snoozed_thread_and_round_robin_assigns(
    factory: SessionFactory, shop: tuple[int, dict[str, int]]
) -> None:
    from inbox.core.events import Event, EventBus
    from inbox.team.background import auto_assign_listener

    admin, threads = shop
    anna = threads["Анна Смирнова"]
    async with transaction(factory) as session:
        await assignment.snooze(session, anna, utcnow() + timedelta(days=1), admin)
        await set_options(session, round_robin=True, waiting_minutes=15)
        await presence.heartbeat(session, admin)
    seen: list[Event] = []
    bus = EventBus()

    async def record(event: Event) -> None:
        seen.append(event)

    bus.subscribe(record)
    listener = auto_assign_listener(factory, bus)
    await listener(Event("message.new", thread_id=anna, data={"direction": "out"}))  # not a customer: ignored
    async with factory() as session:
        assert (await session.get(Thread, anna)).snoozed_until is not None  # type: ignore[union-attr]
    # A real customer message: ingest wakes the snoozed thread, the listener assigns it round robin.
    from inbox.core.ingest import apply_message
    from inbox.core.types import ChannelKind, InboundMessage
    from inbox.models import Identity

    ingest_bus = EventBus()  # the listener hears the message once its transaction commits
    ingest_bus.subscribe(listener)
    async with ingest_bus.transaction(factory) as session:
        ident = (
            (
                await session.execute(
                    select(Identity).where(
                        Identity.customer_id == (await session.get(Thread, anna)).customer_id
                    )
                )
            )
            .scalars()
            .first()
        )  # type: ignore[union-attr]
        assert ident is not None
        await apply_message(
            session,
            InboundMessage(
                kind=ChannelKind(ident.kind),
                account_id=ident.account_id,
                external_user_id=ident.external_id,
                external_message_id="wake-1",
                sent_at=utcnow(),
                text="Я снова здесь",
            ),
            [],
        )
    async with factory() as session:
        thread = await session.get(Thread, anna)
    assert thread is not None and thread.snoozed_until is None and thread.assignee_id == admin
    assert [e.type for e in seen] == ["thread.updated", "notification.new"]
