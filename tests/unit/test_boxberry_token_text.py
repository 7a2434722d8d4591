"""A Boxberry connection error whose text quotes the request URL (the token travels in its query) does not
carry the token into the error, which reaches the thread, the outbox's last error and the logs."""

from __future__ import annotations

import httpx
import pytest

from inbox.orders.carriers.boxberry import BoxberryClient
from inbox.orders.payments.errors import ProviderUnavailable

TOKEN = "d6f33e419c16131e5325cbd84d5d6000"


async def test_an_unreachable_boxberry_error_never_holds_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    client = BoxberryClient(TOKEN, "http://boxberry.invalid", transport=httpx.MockTransport(refuse))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.history("BBR0012345678")
    assert "ConnectError" in caught.value.reason and "json.php" in caught.value.reason
    assert TOKEN not in caught.value.reason and TOKEN not in str(caught.value)
