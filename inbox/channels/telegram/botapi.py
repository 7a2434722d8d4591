"""A small Telegram Bot API client: JSON (or multipart with files) over aiohttp, plain dicts back.

Why not aiogram's ``Bot``: importing any part of aiogram runs ``aiogram.types``' package init, which builds
pydantic validators for all ~300 Bot API types: about 150 MB of resident memory in every process that sends
or receives on Telegram (measured: ``import aiogram.types`` 170 MB RSS, a bare interpreter 11 MB), more than
the rest of ``inbox serve`` together. The adapter uses a dozen methods and reads a few fields of their
answers; this client speaks the same wire format (https://core.telegram.org/bots/api#making-requests) and
raises the same kinds of errors aiogram does, decided from the answer's ``error_code`` and ``parameters``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

PRODUCTION_BASE = "https://api.telegram.org"


class BotApiError(Exception):
    """An unsuccessful call: the Bot API said no, or no readable answer came back."""

    def __init__(self, method: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"Telegram server says - {message}" if status else message)
        self.method = method
        self.message = message
        self.status = status


class RetryAfter(BotApiError):
    def __init__(self, method: str, message: str, retry_after: int) -> None:
        super().__init__(method, message, status=429)
        self.retry_after = retry_after


class MigrateToChat(BotApiError):
    def __init__(self, method: str, message: str, migrate_to_chat_id: int) -> None:
        super().__init__(method, message, status=400)
        self.migrate_to_chat_id = migrate_to_chat_id


class BadRequest(BotApiError):  # 400
    pass


class Unauthorized(BotApiError):  # 401
    pass


class Forbidden(BotApiError):  # 403
    pass


class NotFound(BotApiError):  # 404
    pass


class Conflict(BotApiError):  # 409
    pass


class EntityTooLarge(BotApiError):  # 413
    pass


class ServerError(BotApiError):  # 5xx and anything else unexpected
    pass


class NetworkError(BotApiError):  # no answer: refused, reset, timed out
    pass


class DecodeError(BotApiError):  # an answer that is not the Bot API's JSON
    pass


_BY_STATUS: dict[int, type[BotApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: EntityTooLarge,
}


@dataclass(frozen=True)
class Upload:
    """A file to upload: bytes in memory or a file on disk."""

    filename: str
    data: bytes | None = None
    path: Path | None = None

    async def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return await asyncio.to_thread(self.path.read_bytes)


class BotApi:
    def __init__(self, token: str, base: str | None = None, *, timeout: float = 30) -> None:
        self.token = token
        self.base = (base or PRODUCTION_BASE).rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def method_url(self, method: str) -> str:
        return f"{self.base}/bot{self.token}/{method}"

    def file_url(self, file_path: str) -> str:
        return f"{self.base}/file/bot{self.token}/{file_path}"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        files: Mapping[str, Upload] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The call's ``result``; raises a BotApiError subclass. None-valued parameters are left out."""
        values = {k: v for k, v in params.items() if v is not None}
        kwargs: dict[str, Any] = {}
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for key, value in values.items():
                form.add_field(key, _form_value(value))
            for key, upload in files.items():
                form.add_field(key, await upload.read(), filename=upload.filename)
            kwargs["data"] = form
        else:
            kwargs["json"] = values
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with self._http().post(self.method_url(method), timeout=limit, **kwargs) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise NetworkError(method, "HTTP Client says - Request timeout error") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(method, f"HTTP Client says - {type(exc).__name__}: {exc}") from exc
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise DecodeError(method, f"Failed to deserialize object: {raw[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise DecodeError(method, f"Failed to deserialize object: {raw[:200]!r}")
        if answer.get("ok") and 200 <= status < 300:
            return answer.get("result")
        description = str(answer.get("description") or f"HTTP {status}")
        error_code = answer.get("error_code")
        code: int = error_code if isinstance(error_code, int) else status
        raw_parameters = answer.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        retry_after = parameters.get("retry_after")
        if isinstance(retry_after, int):
            raise RetryAfter(method, description, retry_after)
        migrate_to = parameters.get("migrate_to_chat_id")
        if isinstance(migrate_to, int):
            raise MigrateToChat(method, description, migrate_to)
        raise _BY_STATUS.get(code, ServerError)(method, description, status=code)

    async def stream(self, url: str, *, timeout: float, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """A download in chunks; raises aiohttp.ClientResponseError for an HTTP error status."""
        limit = aiohttp.ClientTimeout(total=timeout)
        async with self._http().get(url, timeout=limit, raise_for_status=True) as response:
            async for chunk in response.content.iter_chunked(chunk_size):
                yield chunk


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
