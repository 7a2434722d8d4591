"""Property-based fuzzing of every route in the app's route table (webhooks, API, pages and forms) over real
HTTP on SQLite and PostgreSQL: random and hostile path values, queries, headers and bodies, sent with a valid
API token or a signed-in admin's session and CSRF token. No answer may be a 5xx, none may hang, and the
server answers /healthz afterwards. New routes are covered automatically."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from dataclasses import dataclass

import httpx
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from inbox.core.security import new_api_token, token_digest
from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.demo import seed as seed_demo
from inbox.models import ApiToken
from inbox.settings import Settings
from inbox.web.app import create_app
from tests.server import threaded_server

# Streams never end (SSE) and sign-out ends the fuzzing session: both are tested elsewhere.
SKIP = {("GET", "/events"), ("POST", "/logout")}
EXAMPLES = 120

HUGE_INTS = [0, -1, 2**31, 2**63 - 1, 2**63, 10**30, -(10**30)]
ints = st.one_of(st.integers(min_value=-3, max_value=12), st.sampled_from(HUGE_INTS))
hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["\x00", "a\u0000b", "\u202eevil", "<script>x</script>", "' OR 1=1 --", "%00", "../../etc"]
    ),
)
FIELDS = [
    "text", "email", "password", "role", "active", "name", "label", "on", "qty", "sku", "cost", "status",
    "until", "other_id", "identity_id", "channel", "locale", "note", "reply_to", "product_id", "line_id",
    "tracking", "carrier", "method", "address", "comment", "color", "title", "body", "assignee", "minutes",
    "choice_name", "warehouse", "price", "group", "transitions", "key",
]  # fmt: skip
QUERY_KEYS = ["limit", "cursor", "status", "q", "view", "other", "label", "assignee", "lang", "next", "since"]
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=False, allow_infinity=False), hostile_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), hostile_text), inner, max_size=5),
    ),
    max_leaves=15,
)
scalars = st.one_of(hostile_text, ints.map(str))
bodies = st.one_of(
    json_values.map(lambda v: ("application/json", json.dumps(v).encode())),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), hostile_text), scalars, max_size=6).map(
        lambda d: ("application/x-www-form-urlencoded", urllib.parse.urlencode(d).encode())
    ),
    st.tuples(
        st.sampled_from(
            ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
        ),
        st.binary(max_size=120),
    ),
    st.sampled_from(
        [
            ("application/json", b"[" * 5000 + b"]" * 5000),
            ("application/json", b'{"text": "\xff\xfe"}'),
            ("application/x-www-form-urlencoded", b"text=%ff%fe&qty=1e309"),
            (
                "multipart/form-data; boundary=x",
                b"--x\r\nContent-Disposition: form-data; name=text\r\n\r\nhi\r\n",
            ),
            ("application/json", b""),
        ]
    ),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str


def routes(app_settings: Settings) -> list[Route]:
    app = create_app(app_settings, run_workers=False)
    out = []
    for route in app.routes:
        for method in sorted(route.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"}):
            if (method, route.path) not in SKIP:
                out.append(Route(method, route.path))
    return out


def path_values(path: str) -> st.SearchStrategy[str]:
    parts = re.split(r"(\{\w+:\w+\})", path)
    pieces: list[st.SearchStrategy[str]] = []
    for part in parts:
        match = re.fullmatch(r"\{(\w+):(\w+)\}", part)
        if not match:
            pieces.append(st.just(part))
        elif match.group(2) == "int":
            pieces.append(ints.map(str))
        else:
            text = st.one_of(
                st.sampled_from(["telegram", "vk", "sms", "email", "app.css", "x"]), hostile_text
            )
            pieces.append(text.filter(bool).map(lambda t: urllib.parse.quote(t, safe="")))
    return st.tuples(*pieces).map("".join)


async def sign_in(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        page = await client.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert token
        data = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "_csrf_token": token.group(1)}
        done = await client.post("/login", data=data)
        assert done.status_code == 302, done.text
        return client.cookies["session"], client.cookies["csrftoken"]


async def test_no_route_answers_5xx_or_hangs(factory: SessionFactory, settings: Settings) -> None:
    await seed_demo(factory)
    api_token = new_api_token()
    async with transaction(factory) as session:
        session.add(ApiToken(name="fuzz", token_sha256=token_digest(api_token)))
    table = routes(settings)
    assert any(r.path.startswith("/webhooks/") for r in table) and any(
        r.path.startswith("/api/v1") for r in table
    )
    assert any(r.method == "POST" and r.path.startswith("/admin") for r in table)

    with threaded_server(settings) as base:
        session_id, csrf = await sign_in(base)
        failures: list[str] = []
        form_answers: list[int] = []

        @seed(13)
        @settings_profile
        @given(
            route=st.sampled_from(table),
            data=st.data(),
            body=bodies,
            query=st.dictionaries(st.sampled_from(QUERY_KEYS), scalars, max_size=3),
            htmx=st.booleans(),
        )
        def probe(
            route: Route,
            data: st.DataObject,
            body: tuple[str, bytes],
            query: dict[str, str],
            htmx: bool,
        ) -> None:
            path = data.draw(path_values(route.path), label="path")
            headers = {
                "Authorization": f"Bearer {api_token}",
                "Cookie": f"session={session_id}; csrftoken={csrf}",
                "x-csrftoken": csrf,
            }
            if htmx:
                headers["HX-Request"] = "true"
            content: bytes | None = None
            if route.method != "GET":
                headers["Content-Type"], content = body
            with httpx.Client(base_url=base, timeout=15) as client:
                try:
                    r = client.request(route.method, path, params=query, content=content, headers=headers)
                except httpx.TimeoutException:
                    failures.append(f"hang: {route.method} {path}")
                    raise
            if route.method == "POST" and not route.path.startswith(("/webhooks", "/api", "/login")):
                form_answers.append(r.status_code)
            if r.status_code >= 500:
                failures.append(f"{r.status_code}: {route.method} {path} {query} {body!r:.200}")
            assert r.status_code < 500, (route, path, query, body, r.text[:300])

        await asyncio.to_thread(probe)
        assert not failures, failures
        # The session and CSRF token were good: form routes were reached, not refused at the door.
        assert form_answers and any(code != 403 for code in form_answers), form_answers
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200


settings_profile = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=False,
)
