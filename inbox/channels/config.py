"""A channel kind's config schema, declared once in ``channels/<kind>/spec.py``.

From one :class:`ChannelConfig` come both the ``inbox channel add <kind>`` options (``inbox.cli``) and the
admin form (``inbox.web.views.channels``), with one validation: :meth:`ChannelConfig.parse` turns raw input
(CLI strings, form fields) into the ``channel_account.settings`` and ``.secrets`` to store, or raises
:class:`ConfigError`. Secret fields are stored encrypted (SecretBox) and never shown back; on edit a blank
secret keeps the stored one.

Labels and help texts are English msgids marked with ``N_`` and translated where they are shown. An error's
text may name fields as ``{field_name}`` placeholders: the CLI shows them as ``--option``, the form as the
field's label. A kind may print extra lines after an account is added (webhook URLs, the widget's snippet)
through ``after_add``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from inbox.i18n import _, gettext

if TYPE_CHECKING:
    from inbox.settings import Settings

FieldType = Literal["text", "int", "float", "bool", "choice", "url"]
Values = dict[str, Any]
Stored = tuple[dict[str, Any], dict[str, Any]]  # (settings, secrets)


def N_(message: str) -> str:
    return message


class ConfigError(ValueError):
    """Bad channel config. ``text`` is already translated and may hold ``{field}`` placeholders (the field's
    name) that the caller renders as a CLI option or a form label; ``params`` fill other placeholders."""

    def __init__(self, text: str, field: str | None = None, **params: Any) -> None:
        self.text = text
        self.field = field
        self.params = params
        super().__init__(self.render(lambda name: "--" + name.replace("_", "-")))

    def render(self, ref: Callable[[str], str]) -> str:
        names = {
            name: ref(self.field if name == "field" and self.field else name)
            for name in re.findall(r"\{(\w+)\}", self.text)
            if name not in self.params
        }
        try:
            return self.text.format(**names, **self.params)
        except (KeyError, IndexError, ValueError):  # a translation with a broken placeholder
            return self.text


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str  # python name: the form field, the CLI option --name-with-dashes (unless ``option``)
    label: str  # English msgid (N_)
    help: str = ""  # English msgid (N_)
    type: FieldType = "text"
    required: bool = False
    secret: bool = False  # stored in secrets (encrypted), never shown back in a form
    default: Any = None
    choices: tuple[str, ...] = ()
    choice_labels: tuple[str, ...] = ()  # msgids (N_) shown for the choices in the form; default: the values
    multiple: bool = False  # a list: a repeated CLI option, one value per line in the form
    option: str = ""  # the CLI flag when it is not --<name>
    minimum: float | None = None
    maximum: float | None = None
    key: str = ""  # where the value is stored (settings or secrets), for the edit form; default: name
    show: Callable[[Any], str] | None = None  # a stored value -> the form's text
    stored_in: Literal["settings", "secrets", "none"] = "settings"  # "none": an action flag (CLI only)

    @property
    def flag(self) -> str:
        return self.option or "--" + self.name.replace("_", "-")

    @property
    def store_key(self) -> str:
        return self.key or self.name

    @property
    def where(self) -> str:
        return "secrets" if self.secret else self.stored_in

    def form_value(self, settings: Mapping[str, Any]) -> str:
        """What the edit form shows: never a secret."""
        if self.secret or self.stored_in == "none":
            return ""
        value = settings.get(self.store_key)
        if value is None:
            return ""
        if self.show is not None:
            return self.show(value)
        if self.multiple and isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        if isinstance(value, bool):
            return "1" if value else ""
        return str(value)


@dataclass(frozen=True, slots=True)
class AddedAccount:
    """What ``after_add`` gets: the stored account, for the lines to show after it was added."""

    id: int
    kind: str
    name: str
    settings: dict[str, Any]
    secrets: dict[str, Any]  # opened
    app: Settings  # the server's settings (INBOX_PUBLIC_URL, …)


AfterAdd = Callable[[AddedAccount], Sequence[str]]
AppCheck = Callable[[Stored, "Settings"], None]


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    fields: tuple[ConfigField, ...]
    build: Callable[[Values], Stored]  # checks across fields and the stored shape; raises ConfigError
    after_add: AfterAdd | None = None  # lines shown after an account is added (URLs to paste, snippet)
    check_app: AppCheck | None = (
        None  # checks that need the server's settings (INBOX_PUBLIC_URL); ConfigError
    )
    cli_only: tuple[str, ...] = field(default=())  # fields the admin form leaves out (``--no-sync``)

    def field(self, name: str) -> ConfigField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def form_fields(self) -> tuple[ConfigField, ...]:
        return tuple(f for f in self.fields if f.name not in self.cli_only and f.stored_in != "none")

    def parse(
        self,
        raw: Mapping[str, Any],
        *,
        keep_secrets: Mapping[str, Any] | None = None,
        app: Settings | None = None,
    ) -> Stored:
        """Raw input (str, list of str, bool or None per field name) -> (settings, secrets). With
        ``keep_secrets`` (editing), a blank secret field keeps the stored value; with ``app`` (the server's
        settings) the kind's ``check_app`` runs too."""
        values: Values = {}
        for f in self.fields:
            value = coerce(f, raw.get(f.name))
            if value is None and f.secret and keep_secrets is not None:
                value = keep_secrets.get(f.store_key)
            if value is None and f.required:
                raise ConfigError(_("{field} is required"), f.name)
            values[f.name] = f.default if value is None else value
        stored = self.build(values)
        if app is not None and self.check_app is not None:
            self.check_app(stored, app)
        return stored


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def coerce(f: ConfigField, value: Any) -> Any:
    """One field's raw input -> its typed value (None when blank), or ConfigError."""
    if f.type == "bool":
        if isinstance(value, bool):
            return value
        return None if _blank(value) else str(value).strip().lower() in ("1", "on", "true", "yes")
    if f.multiple:
        items = (
            value if isinstance(value, list | tuple) else ([] if value is None else str(value).splitlines())
        )
        out = [coerce_one(f, str(v)) for v in items if not _blank(v)]
        return out or None
    if isinstance(value, list | tuple):
        value = value[-1] if value else None
    return None if _blank(value) else coerce_one(f, str(value))


def coerce_one(f: ConfigField, text: str) -> Any:
    text = text.strip()
    value: Any = text
    if f.type == "int":
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(_("{field} must be a whole number, got {got}"), f.name, got=text) from None
    elif f.type == "float":
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            raise ConfigError(_("{field} must be a number, got {got}"), f.name, got=text) from None
    elif f.type == "choice" and text not in f.choices:
        raise ConfigError(_("{field} must be one of: {choices}"), f.name, choices=", ".join(f.choices))
    elif f.type == "url":
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
            raise ConfigError(_("{field} must be an http(s) URL"), f.name)
        value = text.rstrip("/")
    if f.minimum is not None and value < f.minimum:
        raise ConfigError(_("{field} must be at least {n}"), f.name, n=_num(f.minimum))
    if f.maximum is not None and value > f.maximum:
        raise ConfigError(_("{field} must be at most {n}"), f.name, n=_num(f.maximum))
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def translated(msgid: str) -> str:
    return gettext(msgid) if msgid else ""
