"""Every page and every error of the web inbox, rendered for a Russian-speaking manager, is in Russian.

The demo shop is seeded; every GET route of the app is requested with real ids (and with ids that do not
exist, for the 404 pages), plus the errors a manager meets (a forbidden admin page, a bad date range, a
merge conflict, a wrong profile value). The visible text and the texts of titles, placeholders and labels
may hold Latin words only from the allow-list: what is English by nature (product and channel names,
SKUs, e-mail addresses, the brand) and the demo data itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.models import (
    CannedReply,
    ChannelAccount,
    Customer,
    Identity,
    Label,
    Manager,
    Message,
    Order,
    Product,
    Thread,
)
from inbox.orders import service as svc
from inbox.orders.statuses import ensure_defaults
from inbox.orders.stock import warehouse_by_code
from inbox.settings import Settings
from inbox.web.app import create_app
from tests.integration.test_team_web import PLAIN_EMAIL, PLAIN_PASSWORD, shop, signed_in
from tests.orders_factories import add_product
from tests.server import threaded_server

__all__ = ["shop"]
DEMO_EMAIL, DEMO_PASSWORD = "admin@shop.example", "inbox-demo"

# The brand, channels, providers, formats, key names, carriers; "English" names itself in the switcher.
ALLOWED = {
    "inbox",
    "telegram",
    "vk",
    "vkontakte",
    "sms",
    "email",
    "e-mail",
    "imap",
    "smtp",
    "twilio",
    "ru",
    "smsru",
    "csv",
    "api",
    "id",
    "url",
    "html",
    "json",
    "toml",
    "yml",
    "commerceml",
    "p90",
    "ok",
    "cdek",
    "demo",
    "botfather",  # the Telegram bot that issues bot tokens
    "bot",
    "bots",
    "http",
    "https",
    "www",
    "pdf",
    "png",
    "jpg",
    "mb",
    "kb",
    "utc",
    "msk",
    "iso",
    "e164",
    "english",
    "ctrl",
    "enter",
    "esc",
    "shift",
    "alt",
    "tab",
    "dpd",
    "boxberry",
    "gdpr",
    "rfm",
    "widget",
    "zip",
}
# Machine endpoints (JSON, metrics, files, streams) carry no UI text.
SKIP_PREFIXES = (
    "/api",
    "/static",
    "/webhooks",
    "/events",
    "/healthz",
    "/readyz",
    "/metrics",
    "/attachments",
    "/logout",
    "/widget",
    "/swagger-ui",  # static files of the API docs (English by nature: the API speaks English)
)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
SKIP_TAGS = {"script", "style", "code", "pre", "time", "textarea"}  # textarea: data being edited
TEXT_ATTRS = {"title", "placeholder", "aria-label", "alt", "label", "data-confirm", "hx-confirm"}
EMAILS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Template placeholders ({customer.name}) and CSV column names are identifiers, not prose.
PLACEHOLDERS = re.compile(r"\{[\w.]+\}|\((?:columns|столбцы) [\w, ]+\)")
URLS = re.compile(r"https?://\S+|/[\w/{}.:-]+")


class Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self.skip += 1
        shaped = any(name == "pattern" for name, _ in attrs)  # its placeholder shows a format, not prose
        for name, value in attrs:
            if shaped and name == "placeholder":
                continue
            if name in TEXT_ATTRS and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.texts.append(data)


def english_words(html: str, allowed: set[str]) -> set[str]:
    parser = Visible()
    parser.feed(html)
    found: set[str] = set()
    for text in parser.texts:
        text = URLS.sub(" ", EMAILS.sub(" ", PLACEHOLDERS.sub(" ", text)))
        for word in WORD.findall(text):
            if word.lower().strip("'-") not in allowed:
                found.add(word)
    return found


async def demo_words(factory: SessionFactory) -> set[str]:
    """Names in the demo data (products, SKUs, customers, accounts, labels, messages) are data, not UI."""
    words: set[str] = set()
    async with factory() as s:
        for column in (
            Product.name,
            Product.sku,
            Customer.name,
            Customer.email,
            ChannelAccount.name,
            Label.name,
            Manager.name,
            Identity.display,
            Identity.username,
            Identity.external_id,
            Message.text,
            Manager.email,
            CannedReply.title,
            CannedReply.body,
        ):
            for value in (await s.execute(select(column))).scalars():
                words.update(w.lower().strip("'-") for w in WORD.findall(str(value or "").replace("@", " ")))
    return words


def get_routes(settings: Settings) -> list[str]:
    app = create_app(settings, run_workers=False)
    paths = []
    for route in app.routes:
        if "GET" not in route.methods:
            continue
        path = route.path
        if path.startswith(SKIP_PREFIXES):
            continue
        if "/csv/" in path or path.endswith((".html", "/email.html")):
            continue
        paths.append(path)
    return sorted(set(paths))


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings, run_workers=False) as url:
        yield url


async def test_every_page_and_error_is_russian(base: str, shop: SessionFactory, settings: Settings) -> None:
    async with transaction(shop) as s:  # an order in the first thread, for the order pages
        await ensure_defaults(s)
        wh = await warehouse_by_code(s, "main")
        product = await add_product(s, "KETTLE-1", 259900, 5, wh.id, name="Чайник")
        thread = (await s.execute(select(Thread).order_by(Thread.id))).scalars().first()
        assert thread is not None
        actor = svc.Actor("api")
        order = await svc.do_create_draft(s, customer_id=thread.customer_id, actor=actor, thread_id=thread.id)
        await svc.do_add_line(s, order, product, 1, actor=actor)
        await svc.do_submit(s, order, actor=actor)
    allowed = ALLOWED | await demo_words(shop)
    async with shop() as s:
        ids = {
            "thread_id": (await s.execute(select(Thread.id).order_by(Thread.id))).scalars().first(),
            "customer_id": (await s.execute(select(Customer.id).order_by(Customer.id))).scalars().first(),
            "manager_id": (await s.execute(select(Manager.id).order_by(Manager.id))).scalars().first(),
            "message_id": (await s.execute(select(Message.id).order_by(Message.id))).scalars().first(),
            "order_id": (await s.execute(select(Order.id).order_by(Order.id))).scalars().first(),
            "number": (await s.execute(select(Order.number).where(Order.number.is_not(None))))
            .scalars()
            .first(),
        }
        customers = list((await s.execute(select(Customer.id).order_by(Customer.id))).scalars())
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    plain = signed_in(base, PLAIN_EMAIL, PLAIN_PASSWORD)
    problems: dict[str, set[str]] = {}

    def check(label: str, response: httpx.Response, statuses: tuple[int, ...]) -> None:
        assert response.status_code in statuses, f"{label}: {response.status_code} {response.text[:300]}"
        if "text/html" not in response.headers.get("content-type", ""):
            return
        words = english_words(response.text, allowed)
        if words:
            problems[label] = words

    for path in get_routes(settings):
        real = path
        missing = path
        for name, value in ids.items():
            real = re.sub(r"\{" + name + r":(int|str)\}", str(value), real)
            missing = re.sub(r"\{" + name + r":(int|str)\}", "999999", missing)
        unknown = re.search(r"\{\w+:\w+\}", real) is not None  # an id we have no real value for
        real = re.sub(r"\{\w+:\w+\}", "1", real)
        params = {"q": "чайник", "thread": str(ids["thread_id"])}
        if path.endswith("/merge"):
            params = {"other": str(customers[1])}
        for client, who in ((admin, "admin"), (plain, "manager")):
            for headers in ({}, {"HX-Request": "true"}):
                r = client.get(real, params=params, headers=headers)
                ok = (200, 303, 302, 403, 404) if unknown else (200, 303, 302, 403)
                check(f"{who} GET {real} {headers}", r, ok)
        if missing != path:
            check(f"GET {missing}", admin.get(missing, params=params), (200, 303, 400, 404))

    check("bad date range", admin.get("/dashboard", params={"start": "2026-02-30"}), (400,))
    check("no such page", admin.get("/no-such-page"), (404,))
    check("forbidden admin page", plain.get("/admin/managers"), (403,))
    htmx = {"HX-Request": "true"}
    check(
        "merge conflict",
        admin.post(f"/customers/{customers[0]}/merge", data={"other_id": str(customers[1])}, headers=htmx),
        (200, 409),
    )
    check(
        "wrong profile",
        admin.post(f"/customers/{customers[0]}/profile", data={"phone": "12", "email": "x@"}, headers=htmx),
        (400,),
    )
    assert not problems, "English in the Russian UI:\n" + "\n".join(
        f"{label}: {sorted(words)}" for label, words in sorted(problems.items())
    )
