"""Payment provider accounts (``inbox payment add|list``) and the client for one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.secretbox import open_secrets
from inbox.models import PaymentAccount
from inbox.orders.errors import NotFound
from inbox.orders.payments.yookassa import YooKassaClient
from inbox.settings import Settings

KINDS = ("yookassa", "telegram", "demo")  # demo: the offline provider of the demo shop only
LINK_KINDS = ("yookassa", "demo")


async def list_accounts(session: AsyncSession) -> list[PaymentAccount]:
    return list((await session.execute(select(PaymentAccount).order_by(PaymentAccount.id))).scalars())


async def get_account(session: AsyncSession, account_id: int, kind: str | None = None) -> PaymentAccount:
    row = await session.get(PaymentAccount, account_id)
    if row is None or not row.enabled or (kind is not None and row.kind != kind):
        raise NotFound(f"no enabled {kind or 'payment'} account {account_id}")
    return row


async def link_account(session: AsyncSession) -> PaymentAccount:
    """The account payment links are made with: the first enabled YooKassa account (the demo shop's
    offline provider when there is none)."""
    rows = (
        await session.execute(
            select(PaymentAccount)
            .where(PaymentAccount.kind.in_(LINK_KINDS), PaymentAccount.enabled.is_(True))
            .order_by(PaymentAccount.id)
        )
    ).scalars()
    row = min(rows, key=lambda r: LINK_KINDS.index(r.kind), default=None)
    if row is None:
        raise NotFound("no payment provider is connected: `inbox payment add yookassa …`")
    return row


def yookassa_client(account: PaymentAccount, settings: Settings) -> YooKassaClient:
    """The client with the account's secret key opened from the box (``INBOX_SECRET_KEY``)."""
    if account.kind == "demo":
        from inbox.orders.payments.demo import DemoPayClient

        return DemoPayClient()
    return YooKassaClient(
        str(account.settings.get("shop_id", "")),
        str(open_secrets(settings, account).get("secret_key", "")),
        account.settings.get("api_base"),
    )
