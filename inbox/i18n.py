"""One Babel catalog for web and bots; the current locale lives in a ContextVar (per request / per event)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

SUPPORTED = ("ru", "en")
DEFAULT = "ru"


def _locales_dir() -> Path:
    """Catalogs compiled into the package (an installed wheel), else the source tree's ``locales/``."""
    packaged = Path(__file__).resolve().parent / "locales"
    if (packaged / DEFAULT / "LC_MESSAGES" / "messages.mo").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "locales"


LOCALES_DIR = _locales_dir()
_current: ContextVar[str] = ContextVar("inbox_locale", default=DEFAULT)


class CatalogMissing(RuntimeError):
    pass


@cache
def translations(locale: str) -> NullTranslations:
    if locale == "en":
        # English is the source language: untranslated strings are already English.
        return Translations.load(str(LOCALES_DIR), [locale], domain="messages")
    loaded = Translations.load(str(LOCALES_DIR), [locale], domain="messages")
    if not isinstance(loaded, Translations):
        raise CatalogMissing(
            f"the {locale} catalog is not compiled: run `pybabel compile -d locales` (make install does it)"
        )
    return loaded


def normalize(locale: str | None) -> str:
    if not locale:
        return DEFAULT
    short = locale.replace("-", "_").split("_")[0].lower()
    return short if short in SUPPORTED else "en"


def current() -> str:
    return _current.get()


@contextlib.contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    token = _current.set(normalize(locale))
    try:
        yield
    finally:
        _current.reset(token)


def set_locale(locale: str | None) -> None:
    _current.set(normalize(locale))


def gettext(message: str) -> str:
    return translations(_current.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ungettext(singular, plural, n)


_ = gettext
