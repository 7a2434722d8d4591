"""Whatever bytes arrive, the parser answers with a ParsedEmail or EmailRejected, never another error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.channels.email.parse import EmailRejected, ParsedEmail, parse_email

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "email").glob("*.eml"))
CORPUS = [p.read_bytes() for p in FIXTURES]

HEADER_NAMES = [
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"In-Reply-To",
    b"References",
    b"Content-Type",
    b"Content-Transfer-Encoding",
    b"Content-Disposition",
    b"MIME-Version",
    b"Auto-Submitted",
    b"List-Id",
    b"Received",
    b"Reply-To",
    b"Content-ID",
]
HEADER_VALUES = [
    b"a@b.c",
    b"=?utf-8?B?0J/RgNC40LLQtdGC?= <x@y.z>",
    b"=?koi8-r?Q?=F0?=",
    b"=?bogus?X?zz?=",
    b'multipart/mixed; boundary="b"',
    b"multipart/alternative; boundary=b",
    b"text/plain; charset=koi8-r",
    b'text/html; charset="x-unknown"',
    b"base64",
    b"quoted-printable",
    b"attachment; filename*=UTF-8''%D0",
    b"attachment; filename*0*=cp1251''%C4; filename*1*=%EE",
    b"<a@b> <c@d",
    b"Mon, 32 Foo 99999 25:61:00",
    b"\xcf\xf0\xe8\xe2\xe5\xf2",
    b"",
    b'(comment) "unterminated',
    b"message/rfc822",
]

header_line = st.tuples(
    st.sampled_from(HEADER_NAMES), st.one_of(st.sampled_from(HEADER_VALUES), st.binary(max_size=40))
)
structured = st.builds(
    lambda headers, body, boundary_parts: (
        b"".join(n + b": " + v + b"\r\n" for n, v in headers)
        + b"\r\n"
        + body
        + b"".join(b"\r\n--b\r\n" + p for p in boundary_parts)
    ),
    st.lists(header_line, max_size=12),
    st.binary(max_size=200),
    st.lists(st.binary(max_size=80), max_size=4),
)
mutated = st.builds(
    lambda data, pos, junk: data[:pos] + junk + data[pos + len(junk) :],
    st.sampled_from(CORPUS),
    st.integers(min_value=0, max_value=4000),
    st.binary(min_size=1, max_size=30),
)


def _check(raw: bytes) -> None:
    try:
        result = parse_email(raw)
    except EmailRejected as exc:
        assert exc.reason
        return
    assert isinstance(result, ParsedEmail)
    assert "@" in result.from_address
    assert isinstance(result.text, str) and isinstance(result.full_text, str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured)
def test_header_soup(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated)
def test_mutated_corpus(raw: bytes) -> None:
    _check(raw)
