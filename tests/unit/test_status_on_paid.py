"""The "when paid, move to" rule survives the status table form and the TOML round trip, and is validated."""

from __future__ import annotations

import pytest

from inbox.orders.errors import StatusConfigError
from inbox.orders.statuses import StatusDef, dump_toml, parse_toml, validate
from inbox.web.status_form import defs_from_form


def _defs() -> list[StatusDef]:
    return [
        StatusDef("new", "new", {"ru": "Новый"}, ["confirmed", "cancelled"], on_paid="confirmed"),
        StatusDef("confirmed", "approval", {"ru": "Подтверждён"}, ["cancelled"]),
        StatusDef("cancelled", "cancel", {"ru": "Отменён"}, []),
    ]


def test_on_paid_round_trips_and_must_be_a_transition() -> None:
    defs = _defs()
    validate(defs)
    assert parse_toml(dump_toml(defs))[0].on_paid == "confirmed"
    defs[1].on_paid = "new"
    with pytest.raises(StatusConfigError, match="on_paid"):
        validate(defs)


def test_the_table_form_keeps_the_rule() -> None:
    form = {"group:new": "new", "t:new:confirmed": "1", "t:new:cancelled": "1", "paid:new": "confirmed"}
    form |= {"group:confirmed": "approval", "t:confirmed:cancelled": "1", "group:cancelled": "cancel"}
    out = defs_from_form(_defs(), form)
    assert [d.on_paid for d in out] == ["confirmed", None, None]
    validate(out)
