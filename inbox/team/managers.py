"""Admin actions on managers (create, deactivate / reactivate, role change), each written to the audit log."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.security import check_password_strength, hash_password
from inbox.i18n import _
from inbox.models import Manager
from inbox.team.assignment import NotFound, TeamError
from inbox.team.audit import record

ROLES = ("admin", "manager")


async def all_managers(session: AsyncSession) -> list[Manager]:
    return list((await session.execute(select(Manager).order_by(Manager.id))).scalars())


async def create_manager(
    session: AsyncSession,
    actor_id: int,
    *,
    email: str,
    name: str,
    password: str,
    role: str,
    locale: str = "ru",
) -> Manager:
    address = email.strip().lower()
    if "@" not in address or len(address) > 254:
        raise TeamError(f"not an email address: {email!r}")
    if role not in ROLES:
        raise TeamError(f"role must be admin or manager, got {role!r}")
    if not name.strip():
        raise TeamError("a manager needs a name")
    try:
        check_password_strength(password)
    except ValueError as exc:
        raise TeamError(str(exc)) from exc
    taken = await session.execute(select(Manager.id).where(Manager.email == address))
    if taken.scalar_one_or_none() is not None:
        raise TeamError(f"a manager with email {address} already exists")
    manager = Manager(
        email=address,
        name=name.strip(),
        password_hash=hash_password(password),
        role=role,
        locale=locale if locale in ("ru", "en") else "ru",
    )
    session.add(manager)
    await session.flush()
    await record(session, actor_id, "manager.create", address, manager_id=manager.id, role=role)
    return manager


async def _get(session: AsyncSession, manager_id: int) -> Manager:
    manager = await session.get(Manager, manager_id)
    if manager is None:
        raise NotFound(f"no manager {manager_id}")
    return manager


async def _admins_left(session: AsyncSession, without: int) -> int:
    count = await session.execute(
        select(func.count())
        .select_from(Manager)
        .where(Manager.role == "admin", Manager.active.is_(True), Manager.id != without)
    )
    return int(count.scalar_one())


async def set_active(session: AsyncSession, actor_id: int, manager_id: int, active: bool) -> Manager:
    manager = await _get(session, manager_id)
    if not active and manager.role == "admin" and await _admins_left(session, manager_id) == 0:
        raise TeamError(_("The last active admin cannot be deactivated."))
    if manager.active != active:
        manager.active = active
        await record(
            session,
            actor_id,
            "manager.activate" if active else "manager.deactivate",
            manager.email,
            manager_id=manager.id,
        )
    return manager


async def set_role(session: AsyncSession, actor_id: int, manager_id: int, role: str) -> Manager:
    if role not in ROLES:
        raise TeamError(f"role must be admin or manager, got {role!r}")
    manager = await _get(session, manager_id)
    if manager.role == "admin" and role != "admin" and await _admins_left(session, manager_id) == 0:
        raise TeamError(_("The last active admin cannot lose the admin role."))
    if manager.role != role:
        old = manager.role
        manager.role = role
        await record(
            session, actor_id, "manager.role", manager.email, manager_id=manager.id, old=old, new=role
        )
    return manager
