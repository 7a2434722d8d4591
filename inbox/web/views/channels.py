"""Admin pages for channel accounts (role admin; mounted under /admin behind require_admin): the list,
add and edit forms generated from each kind's config schema (``ChannelSpec.config``), enable / disable, and
"test connection" (``channels/<kind>/check.py``). Secrets are sealed as everywhere (SecretBox) and never
shown back: a blank secret field keeps the stored value. Add, edit, enable and disable land in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inbox import i18n
from inbox.channels.accounts import after_add_lines, config_of, create_account, update_account
from inbox.channels.checks import CheckFailed, check_connection
from inbox.channels.config import ChannelConfig, ConfigError, ConfigField
from inbox.channels.registry import SPECS
from inbox.core.secretbox import SecretBox
from inbox.db import transaction
from inbox.models import ChannelAccount
from inbox.team import audit
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
RawForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _box(request: AnyRequest) -> SecretBox:
    settings = ctx(request).settings
    return SecretBox(settings.secret_key, settings.secret_key_old)


def _label(config: ChannelConfig, name: str) -> str:
    if name == "name":
        return i18n._("Name")
    try:
        return i18n._(config.field(name).label)
    except KeyError:
        return name


def _error(config: ChannelConfig, exc: ConfigError) -> str:
    return exc.render(lambda name: "«" + _label(config, name) + "»")


async def _form_data(request: AnyRequest) -> dict[str, Any]:
    """The posted form with repeated keys as lists (a multiple field may come as several inputs)."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def _raw(config: ChannelConfig, data: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for f in config.form_fields():
        value = data.get(f.name)
        if f.type == "bool":
            raw[f.name] = value not in (None, "", "0")
        else:
            raw[f.name] = value
    return raw


class ChannelsAdmin(Controller):
    @get("/channels", name="admin_channels")
    async def channels(self, request: AnyRequest) -> Template:
        return await self._list(request, {})

    @get("/channels/new/{kind:str}", name="admin_channel_new")
    async def new(self, request: AnyRequest, kind: FromPath[str]) -> Template:
        config = _config(kind)
        return _form(request, kind, config, None, {}, None)

    @post("/channels/new/{kind:str}", name="admin_channel_create")
    async def create(self, request: AnyRequest, kind: FromPath[str]) -> Template:
        config = _config(kind)
        data = await _form_data(request)
        me = manager_of(request)
        app = ctx(request)
        try:
            async with transaction(app.factory) as session:
                row, settings, secrets = await create_account(
                    session, _box(request), kind, str(data.get("name", "")), _raw(config, data), app.settings
                )
                await audit.record(session, me.id, "channel.add", row.name, account_id=row.id, kind=kind)
        except ConfigError as exc:
            return _form(request, kind, config, None, data, exc, status=400)
        except IntegrityError:  # the same name added at the same moment
            taken = _name_taken(data)
            return _form(request, kind, config, None, data, taken, status=400)
        lines = after_add_lines(row, settings, secrets, app.settings)
        return Template(
            "admin_channel_added.html",
            context={"manager": me, "account": row, "lines": lines, "label": SPECS[kind].label},
        )

    @get("/channels/{account_id:int}/edit", name="admin_channel_edit")
    async def edit(self, request: AnyRequest, account_id: FromPath[int]) -> Template:
        account = await _account(request, account_id)
        config = _config(account.kind)
        values = {f.name: f.form_value(account.settings) for f in config.form_fields()}
        values["name"] = account.name
        return _form(request, account.kind, config, account, values, None)

    @post("/channels/{account_id:int}/edit", name="admin_channel_update")
    async def update(self, request: AnyRequest, account_id: FromPath[int]) -> Template | Redirect:
        me = manager_of(request)
        data = await _form_data(request)
        app = ctx(request)
        try:
            async with transaction(app.factory) as session:
                account = await session.get(ChannelAccount, account_id)
                if account is None:
                    raise NotFoundException(f"no channel account {account_id}")
                config = _config(account.kind)
                changed = await update_account(
                    session,
                    _box(request),
                    account,
                    str(data.get("name", "")),
                    _raw(config, data),
                    app.settings,
                )
                if changed:
                    labels = [config.field(n).label if n != "name" else "Name" for n in changed]  # msgids
                    await audit.record(
                        session,
                        me.id,
                        "channel.edit",
                        account.name,
                        account_id=account.id,
                        fields=changed,
                        labels=labels,
                    )
        except ConfigError as exc:
            row = await _account(request, account_id)
            return _form(request, row.kind, _config(row.kind), row, data, exc, status=400)
        except IntegrityError:
            row = await _account(request, account_id)
            return _form(request, row.kind, _config(row.kind), row, data, _name_taken(data), status=400)
        return Redirect(path="/admin/channels")

    @post("/channels/{account_id:int}/enabled", name="admin_channel_enabled")
    async def channel_enabled(
        self, request: AnyRequest, account_id: FromPath[int], data: RawForm
    ) -> Redirect:
        me = manager_of(request)
        enabled = data.get("enabled") == "1"
        async with transaction(ctx(request).factory) as session:
            account = await session.get(ChannelAccount, account_id)
            if account is None:
                raise NotFoundException(f"no channel account {account_id}")
            if account.enabled != enabled:
                account.enabled = enabled
                await audit.record(
                    session,
                    me.id,
                    "channel.enable" if enabled else "channel.disable",
                    account.name,
                    account_id=account.id,
                )
        return Redirect(path="/admin/channels")

    @post("/channels/{account_id:int}/check", name="admin_channel_check")
    async def channel_check(self, request: AnyRequest, account_id: FromPath[int]) -> Template:
        account = await _account(request, account_id)
        try:
            result = (True, await check_connection(account, ctx(request).settings))
        except CheckFailed as exc:
            result = (False, str(exc))
        return await self._list(request, {account_id: result})

    async def _list(self, request: AnyRequest, results: dict[int, tuple[bool, str]]) -> Template:
        async with ctx(request).factory() as session:
            accounts = list(
                (await session.execute(select(ChannelAccount).order_by(ChannelAccount.id))).scalars()
            )
        kinds = [(kind, spec.label) for kind, spec in SPECS.items() if spec.config is not None]
        return Template(
            "admin_channels.html",
            context={
                "manager": manager_of(request),
                "accounts": accounts,
                "results": results,
                "kinds": kinds,
                "editable": {kind for kind, _label in kinds},
            },
        )


def _name_taken(data: Mapping[str, Any]) -> ConfigError:
    name = repr(str(data.get("name", "")).strip())
    return ConfigError(i18n._("a channel account named {got} already exists"), "name", got=name)


def _config(kind: str) -> ChannelConfig:
    try:
        return config_of(kind)
    except ConfigError as exc:
        raise NotFoundException(str(exc)) from exc


async def _account(request: AnyRequest, account_id: int) -> ChannelAccount:
    async with ctx(request).factory() as session:
        account = await session.get(ChannelAccount, account_id)
    if account is None:
        raise NotFoundException(f"no channel account {account_id}")
    return account


def _form(
    request: AnyRequest,
    kind: str,
    config: ChannelConfig,
    account: ChannelAccount | None,
    values: Mapping[str, Any],
    error: ConfigError | None,
    status: int = 200,
) -> Template:
    fields: list[dict[str, Any]] = []
    for f in config.form_fields():
        value = values.get(f.name)
        if f.secret:
            value = ""  # never shown back, not even the value just typed
        elif isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        elif value is None and account is None and f.default is not None:
            value = f.default
        fields.append(_field_view(f, value, account is not None))
    return Template(
        "admin_channel_form.html",
        context={
            "manager": manager_of(request),
            "kind": kind,
            "label": SPECS[kind].label,
            "account": account,
            "name": values.get("name", ""),
            "fields": fields,
            "error": _error(config, error) if error else None,
            "error_field": error.field if error else None,
        },
        status_code=status,
    )


def _field_view(f: ConfigField, value: Any, editing: bool) -> dict[str, Any]:
    if f.type == "bool":
        shown: Any = value in (True, "1", "on", "true")
    else:
        shown = "" if value is None else str(value)
    return {
        "name": f.name,
        "label": f.label,
        "help": f.help,
        "type": f.type,
        "secret": f.secret,
        "multiple": f.multiple,
        "choices": list(zip(f.choices, f.choice_labels or f.choices, strict=True)),
        "required": f.required and not (editing and f.secret),
        "keeps": editing and f.secret,
        "value": shown,
    }
