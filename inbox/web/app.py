"""Litestar application factory: plugins, routes, templates, static files, background workers."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Response, Router, get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.logging.config import LoggingConfig
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.exc import DataError, DBAPIError

from inbox import __version__, i18n, logs
from inbox.core.events import EventBus
from inbox.core.secretbox import SecretBox, seal_all
from inbox.db import make_engine, make_session_factory
from inbox.gcpolicy import freeze_long_lived
from inbox.keys import Keyring
from inbox.settings import Settings
from inbox.web import filters
from inbox.web.auth import login, login_page, logout, require_manager, require_token
from inbox.web.csp import add_csp
from inbox.web.headers import SecurityHeadersMiddleware
from inbox.web.live import ClusterWake, make_channels_plugin
from inbox.web.not_found import not_found
from inbox.web.proxy import is_https
from inbox.web.public import public_prefixes, public_route_handlers
from inbox.web.session_store import DatabaseStore
from inbox.web.state import AppContext
from inbox.web.swagger import OfflineSwagger
from inbox.web.views.admin import AdminController, require_admin
from inbox.web.views.api import ApiV1
from inbox.web.views.broadcasts import BroadcastsController
from inbox.web.views.carriers_admin import CarrierStatusesAdmin, ShipmentLabels
from inbox.web.views.carts import CartsController
from inbox.web.views.channels import ChannelsAdmin
from inbox.web.views.customer_card import CustomerCardController, CustomFieldsAdmin
from inbox.web.views.customers import CustomersController
from inbox.web.views.customers_api import CustomersApi
from inbox.web.views.dashboard import DashboardController
from inbox.web.views.demo_customer import DemoCustomerController, detect_demo_shop
from inbox.web.views.demo_shop import DemoShopController
from inbox.web.views.email import EmailController
from inbox.web.views.inbox import InboxController
from inbox.web.views.ops import metrics_view, readyz, timing_middleware
from inbox.web.views.orders import OrdersController, OrderStatusesAdmin
from inbox.web.views.orders_api import OrdersApi, PaymentLinkApi
from inbox.web.views.privacy import PersonalDataAdmin
from inbox.web.views.sales_admin import SalesAdmin
from inbox.web.views.sales_api import BroadcastsApi, CartsApi, SegmentsApi
from inbox.web.views.search import SearchController
from inbox.web.views.segments import SegmentsController
from inbox.web.views.tasks import TasksController
from inbox.web.views.team import TeamController
from inbox.web.views.unsubscribe import unsubscribe_now, unsubscribe_page
from inbox.web.views.webhooks import webhook, webhook_status
from inbox.web.websession import WebSessionConfig, WebSessionMiddleware
from inbox.workers import Workers

HERE = Path(__file__).parent
SWAGGER_UI = "/swagger-ui"


def swagger_ui_dir() -> Path:
    """The Swagger UI dist files shipped by the swagger-ui-py package (served by us: no CDN, works
    offline). Located without importing the package, whose __init__ wants web frameworks."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("the swagger-ui-py package is missing: pip install swagger-ui-py")
    return Path(spec.origin).parent / "static"


def swagger_plugin() -> OfflineSwagger:
    return OfflineSwagger(
        js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
    )


log = logging.getLogger(__name__)


@get("/healthz", name="healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> Response[dict[str, str]]:
    """Alive; says which process answered (several serve one port with ``--processes N``)."""
    return Response({"status": "ok", "version": __version__}, headers={"X-Inbox-Pid": str(os.getpid())})


def jinja_environment(settings: Settings) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["current_locale"] = i18n.current
    filters.register(env, settings.timezone)
    return env


async def warm_adapters(workers: Workers) -> None:
    """Build every enabled account's adapter now: importing a client library takes seconds, which
    belongs to start-up rather than to the first webhook."""
    for cfg in await workers.hub.enabled_accounts():
        try:
            await workers.hub.for_config(cfg)
        except Exception:
            log.exception("channel account %s (%s) is misconfigured", cfg.id, cfg.name)


async def log_server_error(exc: Exception, scope: Any) -> None:
    """Server errors get a traceback in the log; client errors (4xx with a reason) do not."""
    if (isinstance(exc, HTTPException) and exc.status_code < 500) or bad_value(exc):
        return
    log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)


def bad_value(exc: BaseException) -> bool:
    """A value from the request that no column holds (asyncpg wraps its out-of-int64 error in a plain
    DBAPIError, SQLite raises OverflowError)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, OverflowError | DataError) or type(seen).__name__ == "DataError":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if bad_value(exc):
        return out_of_range(request, exc)
    return Response({"status_code": 500, "detail": i18n._("Internal server error.")}, status_code=500)


def out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A number no column holds (10**30 in a path, a query or a body) is the client's mistake, not ours."""
    log.info("value out of range on %s %s: %s", request.method, request.url.path, exc)
    return Response(
        {"status_code": 400, "detail": i18n._("A number in the request is out of range.")}, status_code=400
    )


def undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """JSON nested thousands deep (the decoder gives up with RecursionError) or bytes that are not UTF-8."""
    log.warning("undecodable body on %s %s: %r", request.method, request.url.path, exc)
    return Response(
        {"status_code": 400, "detail": i18n._("The request body cannot be decoded.")}, status_code=400
    )


def create_app(settings: Settings, *, run_workers: bool | None = None) -> Litestar:
    logs.register_secret(settings.secret_key)
    logs.register_secret(settings.shop_webhook_secret)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    channels = make_channels_plugin(settings.redis_url)
    bus = EventBus(channels)
    cluster = ClusterWake(channels) if settings.redis_url else None
    workers = Workers(engine=engine, factory=factory, settings=settings, bus=bus, cluster=cluster)
    context = AppContext(
        settings=settings, engine=engine, factory=factory, bus=bus, workers=workers, channels=channels
    )
    start_workers = settings.run_workers if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        i18n.translations("ru")  # fail at start, not on the first page, when the catalog is missing
        # Secrets written by an older version (or by hand) are encrypted at rest from now on.
        await seal_all(factory, SecretBox(settings.secret_key, settings.secret_key_old), only_plaintext=True)
        await warm_adapters(workers)
        if start_workers:
            workers.start()
        freeze_long_lived()  # no full-collection pauses over what start-up loaded (inbox.gcpolicy)
        try:
            yield
        finally:
            await workers.close()
            await engine.dispose()

    html = Router(path="/", route_handlers=[login_page, login, logout], include_in_schema=False)
    inbox_ui = Router(
        path="/",
        route_handlers=[
            InboxController,
            CustomersController,
            CustomerCardController,
            TeamController,
            SearchController,
            DashboardController,
            EmailController,
            OrdersController,
            ShipmentLabels,
            TasksController,
            SegmentsController,
            BroadcastsController,
            CartsController,
            DemoCustomerController,
            DemoShopController,
        ],
        before_request=require_manager,
        include_in_schema=False,
    )
    admin_ui = Router(
        path="/admin",
        route_handlers=[
            AdminController,
            ChannelsAdmin,
            OrderStatusesAdmin,
            CarrierStatusesAdmin,
            PersonalDataAdmin,
            CustomFieldsAdmin,
            SalesAdmin,
        ],
        before_request=require_admin,
        include_in_schema=False,
    )
    api = Router(
        path="/api/v1",
        route_handlers=[ApiV1, CustomersApi, OrdersApi, PaymentLinkApi, SegmentsApi, BroadcastsApi, CartsApi],
        before_request=require_token,
        tags=["api"],
    )
    hooks = Router(
        path="/",
        route_handlers=[webhook, webhook_status, unsubscribe_page, unsubscribe_now],
        include_in_schema=False,
    )
    session_store = DatabaseStore(factory, "sessions")
    web_sessions = WebSessionConfig(
        store=session_store,
        keys=Keyring(settings.secret_key, settings.secret_key_old),
        https=lambda scope: is_https(scope, settings.public_url, settings.trusted_proxies),
        # Providers, API clients and static files carry no browser session and no CSRF token.
        exclude=(
            "/webhooks/",
            "/api/",
            "/healthz",
            "/readyz",
            "/metrics",
            "/static/",
            "/u/",
            f"{SWAGGER_UI}/",
            *public_prefixes(),  # channels' public routes (the website widget) carry their own credentials
        ),
    )
    template_engine = JinjaTemplateEngine.from_environment(jinja_environment(settings))
    app = Litestar(
        route_handlers=[
            html,
            inbox_ui,
            admin_ui,
            hooks,
            api,
            healthz,
            readyz,
            metrics_view,
            *public_route_handlers(),
            create_static_files_router(
                path="/static", directories=[HERE / "static"], include_in_schema=False
            ),
            create_static_files_router(
                path=SWAGGER_UI, directories=[swagger_ui_dir()], include_in_schema=False, name="swagger_ui"
            ),
        ],
        plugins=[channels, HTMXPlugin()],
        template_config=TemplateConfig(instance=template_engine),
        middleware=[SecurityHeadersMiddleware, DefineMiddleware(WebSessionMiddleware, config=web_sessions)],
        stores={"sessions": session_store},
        openapi_config=OpenAPIConfig(
            title="inbox API", version=__version__, path="/api/schema", render_plugins=[swagger_plugin()]
        ),
        lifespan=[lifespan],
        on_startup=[detect_demo_shop],
        request_max_body_size=settings.max_upload_bytes + 1024 * 1024,
        debug=False,
        logging_config=LoggingConfig(log_exceptions="never", configure_root_logger=False),
        after_exception=[log_server_error],
        exception_handlers={
            OverflowError: out_of_range,
            DBAPIError: database_error,
            RecursionError: undecodable,
            UnicodeDecodeError: undecodable,
            NotFoundException: not_found,
        },
        before_send=[add_csp],
    )
    app.state.ctx = context
    # Around the router (not per route), so that 404s and 405s are timed, logged and get a request id too.
    app.asgi_handler = timing_middleware(app.asgi_handler)
    return app


def app_from_env() -> Litestar:
    """For ``uvicorn inbox.web.app:app_from_env --factory``."""
    return create_app(Settings.from_env())
