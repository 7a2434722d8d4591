"""Provider webhooks: verify, commit the raw events, then answer. Processing happens after the answer."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath

from inbox.channels.registry import is_kind
from inbox.core.types import WebhookRejected, WebhookRequest
from inbox.orders.carriers.service import BadWebhook, accept_cdek
from inbox.orders.errors import NotFound
from inbox.orders.payments.notifications import BadNotification, accept_yookassa
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


async def _body(request: AnyRequest, limit: int) -> bytes:
    length = int(request.headers.get("content-length") or 0)
    if length > limit:
        raise ClientException("request body too large", status_code=413)
    body = await request.body()
    if len(body) > limit:
        raise ClientException("request body too large", status_code=413)
    return body


async def _yookassa(request: AnyRequest, account_id: int) -> Response[str]:
    """A YooKassa notification: queued for a check against the API, answered 200 after the commit."""
    app = ctx(request)
    body = await _body(request, app.settings.max_webhook_bytes)
    try:
        await accept_yookassa(app.factory, account_id, body)
    except NotFound as exc:
        raise NotFoundException(exc.reason) from exc
    except BadNotification as exc:
        raise ClientException(str(exc)) from exc
    app.wake_dispatcher()
    return Response(content="ok", status_code=200, media_type="text/plain")


async def _cdek(request: AnyRequest, account_id: int) -> Response[str]:
    """A СДЭК ORDER_STATUS webhook: queued for a check against the API, answered 200 after the commit."""
    app = ctx(request)
    body = await _body(request, app.settings.max_webhook_bytes)
    try:
        await accept_cdek(app.factory, account_id, body)
    except NotFound as exc:
        raise NotFoundException(exc.reason) from exc
    except BadWebhook as exc:
        raise ClientException(str(exc)) from exc
    app.wake_dispatcher()
    return Response(content="ok", status_code=200, media_type="text/plain")


async def _handle(request: AnyRequest, kind: str, account_id: int, sub_path: str) -> Response[str]:
    app = ctx(request)
    if kind == "yookassa" and not sub_path:
        return await _yookassa(request, account_id)
    if kind == "cdek" and not sub_path:
        return await _cdek(request, account_id)
    if not is_kind(kind):
        raise NotFoundException(f"unknown channel kind {kind!r}")
    length = int(request.headers.get("content-length") or 0)
    if length > app.settings.max_webhook_bytes:
        raise ClientException("request body too large", status_code=413)
    body = await request.body()
    if len(body) > app.settings.max_webhook_bytes:
        raise ClientException("request body too large", status_code=413)
    cfg = await app.workers.hub.config(account_id)
    if cfg is None or cfg.kind != kind:
        raise NotFoundException(f"no enabled {kind} account {account_id}")
    channel = await app.workers.hub.for_config(cfg)
    wreq = WebhookRequest(
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query={k: v for k, v in request.query_params.items()},
        url=_public_url(request, app.settings.public_url),
        sub_path=sub_path,
    )
    try:
        result = channel.handle_webhook(wreq)
    except WebhookRejected as exc:
        return Response(content=exc.reason, status_code=exc.status, media_type="text/plain")
    await app.workers.before_store(account_id, list(result.events))  # payments: the fast path
    # Commit before answering: a provider that got its 200 never sends the update again.
    await app.workers.raw_writer.store(account_id, list(result.events))
    if result.events:
        app.wake_processor()
    return Response(content=result.body, status_code=result.status, media_type=result.content_type)


def _public_url(request: AnyRequest, public_url: str | None) -> str:
    """The URL the provider called (signatures cover it): behind a proxy, INBOX_PUBLIC_URL tells."""
    url = str(request.url)
    if public_url:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return public_url.rstrip("/") + path
    return url


@post("/webhooks/{kind:str}/{account_id:int}", name="webhook", exclude_from_csrf=True, status_code=200)
async def webhook(request: AnyRequest, kind: FromPath[str], account_id: FromPath[int]) -> Response[str]:
    return await _handle(request, kind, account_id, "")


@post(
    "/webhooks/{kind:str}/{account_id:int}/status",
    name="webhook_status",
    exclude_from_csrf=True,
    status_code=200,
)
async def webhook_status(
    request: AnyRequest, kind: FromPath[str], account_id: FromPath[int]
) -> Response[str]:
    return await _handle(request, kind, account_id, "status")
