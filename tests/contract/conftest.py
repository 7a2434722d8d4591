"""Session-scoped provider emulators and the harness parametrisation of the channel contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from inbox.core.types import Channel
from tests.contract.harness import (
    HARNESSES,
    DemoHarness,
    EmailHarness,
    Harness,
    LoopThread,
    SMSHarness,
    TelegramHarness,
    VKHarness,
    WidgetHarness,
    settings_for,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``kind`` runs over every channel whose harness has the test's feature (``@pytest.mark.feature``)."""
    if "kind" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("feature")
    assert marker is not None, f"{metafunc.definition.name} needs @pytest.mark.feature(...)"
    feature = marker.args[0]
    kinds = [k for k in HARNESSES if feature in FEATURES[k]]
    assert kinds, f"no channel has the feature {feature!r}"
    metafunc.parametrize("kind", kinds)


FEATURES = {
    "telegram": TelegramHarness.features,
    "vk": VKHarness.features,
    "email": EmailHarness.features,
    "sms": SMSHarness.features,
    "demo": DemoHarness.features,
    "widget": WidgetHarness.features,
}


@pytest.fixture(scope="session")
def harnesses() -> Iterator[dict[str, Harness]]:
    loop = LoopThread()
    email = EmailHarness()
    sms = SMSHarness()
    made: dict[str, Harness] = {
        "telegram": TelegramHarness(loop),
        "vk": VKHarness(loop),
        "email": email,
        "sms": sms,
        "demo": DemoHarness(),
        "widget": WidgetHarness(),
    }
    try:
        yield made
    finally:
        email.stop()
        sms.emu.stop()
        loop.run(made["telegram"].emu.stop())  # type: ignore[attr-defined]
        loop.run(made["vk"].emu.stop())  # type: ignore[attr-defined]
        loop.stop()


@pytest.fixture
def harness(harnesses: dict[str, Harness], kind: str) -> Harness:
    chosen = harnesses[kind]
    chosen.reset()
    return chosen


@pytest.fixture
async def channel(harness: Harness, tmp_path: Path) -> AsyncIterator[Channel]:
    made = harness.channel(settings_for(tmp_path))
    try:
        yield made
    finally:
        await made.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feature(name): the channel behaviour a contract test checks")
