"""All tables. Each table group lives in its own module; this package re-exports them."""

from inbox.models.base import Base, utcnow
from inbox.models.core import (
    ApiToken,
    Attachment,
    Author,
    ChannelAccount,
    Customer,
    Delivery,
    Direction,
    Identity,
    InboundEvent,
    KeyValue,
    Manager,
    Message,
    Outbox,
    Thread,
    ThreadStatus,
)
from inbox.models.identity import MergeLog

__all__ = [
    "ApiToken",
    "Attachment",
    "Author",
    "Base",
    "ChannelAccount",
    "Customer",
    "Delivery",
    "Direction",
    "Identity",
    "InboundEvent",
    "KeyValue",
    "Manager",
    "MergeLog",
    "Message",
    "Outbox",
    "Thread",
    "ThreadStatus",
    "utcnow",
]
