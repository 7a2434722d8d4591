"""A local SMS gateway speaking the Twilio and SMS.ru wire formats, for tests and manual runs.

Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (basic auth sid:token, form To/From/Body/
StatusCallback -> 201 JSON with ``sid``; errors ``{"code", "message", "more_info", "status"}``) and
``GET .../Messages/{MM}/Media/{ME}`` (media of inbound MMS). SMS.ru: ``/sms/send`` (``api_id``, ``to``,
``msg``, ``json=1`` -> ``{"status": "OK", "sms": {number: {"status", "status_code", "sms_id"}}}``).

It records every send, injects failures, and fires provider callbacks at a URL: Twilio inbound messages and
status callbacks signed with X-Twilio-Signature (or deliberately forged), SMS.ru ``data[N]`` callbacks. The
signature code here is written from Twilio's documentation independently of ``inbox`` so that the two check
each other.

In process::

    with SMSEmulator() as emu:
        emu.base_url, emu.sent, emu.fail_next("twilio", http_status=400, code=21211)

Standalone: ``python -m tests.emulators.sms --port 8025``; control API under ``/_control/`` (JSON):
``GET sent``, ``GET config``, ``POST reset``, ``POST fail``, ``POST twilio/inbound``, ``POST twilio/status``,
``POST smsru/callback`` (bodies: the keyword arguments of the methods of the same names).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

TWILIO_SEND = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
TWILIO_MEDIA = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)/Media/([^/]+)$")


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """As twilio.com/docs/usage/webhooks/webhooks-security describes: URL, then name+value sorted by name."""
    data = url
    for name, value in sorted(params):
        data += name + value
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Failure:
    http_status: int = 400
    code: int | None = None  # Twilio error code / SMS.ru status_code
    message: str = "injected failure"
    retry_after: int | None = None
    drop: bool = False  # close the connection without answering (a network error for the client)
    per_number: bool = False  # SMS.ru: fail inside "sms": {number: ...} instead of at the top level


@dataclass
class Fired:
    status: int
    body: str
    content_type: str
    sid: str | None = None


@dataclass
class SMSEmulator:
    host: str = "127.0.0.1"
    port: int = 0
    twilio_sid: str = "AC" + "0" * 32
    twilio_token: str = "twilio-test-token"
    smsru_api_id: str = "00000000-1111-2222-3333-444444444444"
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=lambda: {"twilio": [], "smsru": []})
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0

    # ---- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> SMSEmulator:
        emulator = self

        class Handler(_Handler):
            emu = emulator

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="sms-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SMSEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- control -------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self.media.clear()
            for queue in self.failures.values():
                queue.clear()

    def fail_next(self, provider: str, times: int = 1, **failure: Any) -> None:
        """Make the next ``times`` sends of ``provider`` ("twilio" | "smsru") fail as described."""
        with self._lock:
            self.failures[provider].extend(Failure(**failure) for _ in range(times))

    def _next_failure(self, provider: str) -> Failure | None:
        with self._lock:
            queue = self.failures[provider]
            return queue.pop(0) if queue else None

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # ---- callbacks -----------------------------------------------------------------------------------

    def twilio_inbound_request(
        self,
        url: str,
        *,
        sender: str,
        to: str,
        body: str,
        media: list[dict[str, Any]] | None = None,
        sid: str | None = None,
        forge: bool = False,
    ) -> tuple[dict[str, str], bytes, str]:
        """(headers, body, sid) of an inbound message callback as Twilio would post it."""
        sid = sid or "SM" + secrets.token_hex(16)
        params: list[tuple[str, str]] = [
            ("ToCountry", "US"),
            ("SmsMessageSid", sid),
            ("NumMedia", str(len(media or []))),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("Body", body),
            ("To", to),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", self.twilio_sid),
            ("From", sender),
            ("ApiVersion", "2010-04-01"),
        ]
        for index, item in enumerate(media or []):
            media_sid = "ME" + secrets.token_hex(16)
            data = base64.b64decode(item["data_b64"]) if "data_b64" in item else bytes(item.get("data", b""))
            ctype = str(item.get("content_type", "image/jpeg"))
            path = f"/2010-04-01/Accounts/{self.twilio_sid}/Messages/{sid}/Media/{media_sid}"
            with self._lock:
                self.media[path] = (ctype, data)
            params += [(f"MediaUrl{index}", self.base_url + path), (f"MediaContentType{index}", ctype)]
        headers, body = self._signed(url, params, forge)
        return headers, body, sid

    def twilio_status_request(
        self, url: str, *, sid: str, status: str, error_code: str | None = None, forge: bool = False
    ) -> tuple[dict[str, str], bytes]:
        sent = next((s for s in self.sent if s.get("sid") == sid), {})
        params = [
            ("SmsSid", sid),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", str(sent.get("to", "+15005550006"))),
            ("MessageSid", sid),
            ("AccountSid", self.twilio_sid),
            ("From", str(sent.get("from", "+15005550001"))),
            ("ApiVersion", "2010-04-01"),
        ]
        if error_code:
            params.append(("ErrorCode", error_code))
        return self._signed(url, params, forge)

    def _signed(self, url: str, params: list[tuple[str, str]], forge: bool) -> tuple[dict[str, str], bytes]:
        token = "forged-" + self.twilio_token if forge else self.twilio_token
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(token, url, params),
            "I-Twilio-Idempotency-Token": secrets.token_hex(8),
            "User-Agent": "TwilioProxy/1.1",
        }
        return headers, urlencode(params).encode()

    def smsru_callback_request(
        self, entries: list[str], *, with_hash: bool = True
    ) -> tuple[dict[str, str], bytes]:
        params = [(f"data[{index}]", entry) for index, entry in enumerate(entries)]
        if with_hash:
            params.append(
                ("hash", hashlib.sha256((self.smsru_api_id + "".join(entries)).encode()).hexdigest())
            )
        return {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(params).encode()

    def fire_twilio_inbound(self, url: str, **kwargs: Any) -> Fired:
        headers, body, sid = self.twilio_inbound_request(url, **kwargs)
        fired = _post(url, headers, body)
        fired.sid = sid
        return fired

    def fire_twilio_status(self, sid: str, status: str, url: str | None = None, **kwargs: Any) -> Fired:
        """Post a status callback for a message sent through us (to its StatusCallback unless ``url``)."""
        target = url or next((s.get("status_callback") for s in self.sent if s.get("sid") == sid), None)
        if not target:
            raise LookupError(f"no StatusCallback known for {sid}")
        headers, body = self.twilio_status_request(str(target), sid=sid, status=status, **kwargs)
        return _post(str(target), headers, body)

    def fire_smsru_callback(self, url: str, entries: list[str], *, with_hash: bool = True) -> Fired:
        headers, body = self.smsru_callback_request(entries, with_hash=with_hash)
        return _post(url, headers, body)


def _post(url: str, headers: dict[str, str], body: bytes) -> Fired:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Fired(response.status, response.read().decode(), response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        return Fired(exc.code, exc.read().decode(), exc.headers.get("Content-Type", ""))


class _Handler(BaseHTTPRequestHandler):
    emu: SMSEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    # ---- plumbing ------------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _params(self) -> dict[str, str]:
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        body = self._body()
        if body and "json" not in (self.headers.get("Content-Type") or ""):
            query.update(parse_qsl(body.decode(), keep_blank_values=True))
        return query

    def _reply(
        self, status: int, payload: Any, content_type: str = "application/json", **headers: str
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _basic_auth_ok(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.emu.twilio_sid and password == self.emu.twilio_token

    # ---- routes --------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_control/"):
            return self._control(path[len("/_control/") :], {})
        if path == "/sms/send":
            return self._smsru_send()
        if TWILIO_MEDIA.match(path):
            if not self._basic_auth_ok():
                return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            item = self.emu.media.get(path)
            if item is None:
                return self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            return self._reply(200, item[1], item[0])
        self._reply(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_control/"):
            raw = self._body()
            return self._control(path[len("/_control/") :], json.loads(raw or b"{}"))
        if path == "/sms/send":
            return self._smsru_send()
        match = TWILIO_SEND.match(path)
        if match:
            return self._twilio_send(match.group(1))
        self._reply(404, {"error": f"no route {path}"})

    def _twilio_send(self, sid: str) -> None:
        params = self._params()
        if sid != self.emu.twilio_sid or not self._basic_auth_ok():
            return self._reply(
                401, {"code": 20003, "message": "Authenticate", "more_info": "", "status": 401}
            )
        failure = self.emu._next_failure("twilio")
        if failure is not None:
            if failure.drop:
                return self._drop()
            extra = {"Retry_After": str(failure.retry_after)} if failure.retry_after is not None else {}
            body = {
                "code": failure.code,
                "message": failure.message,
                "more_info": "",
                "status": failure.http_status,
            }
            return self._reply(failure.http_status, body, **extra)
        to = params.get("To", "")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            body = {
                "code": 21211,
                "message": f"The 'To' number {to} is not a valid phone number.",
                "status": 400,
            }
            return self._reply(400, body)
        if not params.get("From") and not params.get("MessagingServiceSid"):
            return self._reply(
                400, {"code": 21603, "message": "A 'From' phone number is required.", "status": 400}
            )
        if not params.get("Body"):
            return self._reply(400, {"code": 21602, "message": "Message body is required.", "status": 400})
        message_sid = "SM" + secrets.token_hex(16)
        record = {
            "provider": "twilio",
            "sid": message_sid,
            "to": to,
            "from": params.get("From"),
            "body": params["Body"],
            "status_callback": params.get("StatusCallback"),
            "params": params,
        }
        with self.emu._lock:
            self.emu.sent.append(record)
        answer = {
            "sid": message_sid,
            "account_sid": sid,
            "to": to,
            "from": params.get("From"),
            "body": params["Body"],
            "status": "queued",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
        }
        self._reply(201, answer)

    def _smsru_send(self) -> None:
        params = self._params()
        if params.get("api_id") != self.emu.smsru_api_id:
            return self._reply(
                200, {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}
            )
        failure = self.emu._next_failure("smsru")
        to = params.get("to", "")
        if failure is not None:
            if failure.drop:
                return self._drop()
            if failure.http_status >= 500:
                return self._reply(failure.http_status, b"<html>Bad Gateway</html>", "text/html")
            error = {"status": "ERROR", "status_code": failure.code or 220, "status_text": failure.message}
            if failure.per_number:
                return self._reply(
                    200, {"status": "OK", "status_code": 100, "sms": {to: error}, "balance": 10.0}
                )
            return self._reply(200, error)
        if not params.get("msg"):
            return self._reply(
                200, {"status": "ERROR", "status_code": 203, "status_text": "Нет текста сообщения"}
            )
        if not re.fullmatch(r"[1-9]\d{9,14}", to):
            error = {
                "status": "ERROR",
                "status_code": 202,
                "status_text": "Неправильно указан номер телефона",
            }
            return self._reply(200, {"status": "OK", "status_code": 100, "sms": {to: error}, "balance": 10.0})
        sms_id = f"{202611:06d}-{1000000 + self.emu._next_id()}"
        record = {
            "provider": "smsru",
            "sid": sms_id,
            "to": to,
            "from": params.get("from"),
            "body": params["msg"],
            "test": params.get("test") == "1",
            "params": params,
        }
        with self.emu._lock:
            self.emu.sent.append(record)
        answer = {
            "status": "OK",
            "status_code": 100,
            "sms": {to: {"status": "OK", "status_code": 100, "sms_id": sms_id}},
            "balance": 4122.56,
        }
        self._reply(200, answer)

    def _control(self, action: str, args: dict[str, Any]) -> None:
        emu = self.emu
        try:
            if action == "sent":
                return self._reply(200, emu.sent)
            if action == "config":
                config = {
                    "base_url": emu.base_url,
                    "twilio_sid": emu.twilio_sid,
                    "twilio_token": emu.twilio_token,
                    "smsru_api_id": emu.smsru_api_id,
                }
                return self._reply(200, config)
            if action == "reset":
                emu.reset()
                return self._reply(200, {"ok": True})
            if action == "fail":
                emu.fail_next(**args)
                return self._reply(200, {"ok": True})
            if action == "twilio/inbound":
                fired = emu.fire_twilio_inbound(**args)
            elif action == "twilio/status":
                fired = emu.fire_twilio_status(**args)
            elif action == "smsru/callback":
                fired = emu.fire_smsru_callback(**args)
            else:
                return self._reply(404, {"error": f"no control action {action!r}"})
            result = {"status": fired.status, "body": fired.body, "content_type": fired.content_type}
            return self._reply(200, result | {"sid": fired.sid})
        except (TypeError, KeyError, LookupError, ValueError) as exc:
            return self._reply(400, {"error": f"{exc.__class__.__name__}: {exc}"})


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Twilio + SMS.ru emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--twilio-sid", default=SMSEmulator.twilio_sid)
    parser.add_argument("--twilio-token", default=SMSEmulator.twilio_token)
    parser.add_argument("--smsru-api-id", default=SMSEmulator.smsru_api_id)
    args = parser.parse_args()
    emu = SMSEmulator(
        host=args.host,
        port=args.port,
        twilio_sid=args.twilio_sid,
        twilio_token=args.twilio_token,
        smsru_api_id=args.smsru_api_id,
    ).start()
    print(f"SMS emulator on {emu.base_url} (control: {emu.base_url}/_control/config)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emu.stop()


if __name__ == "__main__":
    main()
