"""Languages: which one a customer gets, the catalogs, and merchant text per locale.

English is the source language; the other catalogs are `translations/<lang>/LC_MESSAGES/
messages.po`, committed, and compiled in memory when the app starts. There are no `.mo` files to
build, ship or forget to rebuild: what runs is always what the `.po` files say.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flask_babel
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Domain, get_locale, refresh
from werkzeug.utils import cached_property

from cancelpage import flows

if TYPE_CHECKING:
    from cancelpage.models import Merchant

# The source language first. Adding one: append it to flows.LOCALES and LANGUAGE_NAMES, then
# run `flask --app cancelpage translations update` and translate the new catalog.
SUPPORTED_LOCALES: tuple[str, ...] = flows.LOCALES
SOURCE_LOCALE = "en"
# Each language in its own name, as the language switcher shows it.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
}
TRANSLATIONS_DIR = Path(__file__).parent.parent / "translations"
DOMAIN = "messages"
# English: the source strings as written (with English plural rules).
SOURCE_TEXT = NullTranslations()


# ---- choosing the locale ---------------------------------------------------------------------


def supported(tag: Any) -> str | None:
    """The supported language a locale tag asks for (`de-AT`, `de_AT`, `DE` -> `de`), else None."""
    if not isinstance(tag, str):
        return None
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    return base if base in SUPPORTED_LOCALES else None


@dataclass(frozen=True)
class LocaleHints:
    """What a request knows about the customer's language, strongest first."""

    link: str | None = None
    customer: Sequence[str] = ()
    merchant: str | None = None


def resolve_locale(hints: LocaleHints, accept: Iterable[tuple[str, float]] = ()) -> str:
    """The link's locale, else the customer's Stripe locales, else the browser's, else the
    merchant's default, else English. Unknown tags and `*` fall through to the next level."""
    for tag in (hints.link, *hints.customer):
        if code := supported(tag):
            return code
    for tag, quality in sorted(accept, key=lambda item: -item[1]):
        if quality > 0 and (code := supported(tag)):
            return code
    return supported(hints.merchant) or SOURCE_LOCALE


def prefer(
    link: str | None = None, customer: Sequence[str] = (), merchant: str | None = None
) -> None:
    """Tell this request what is known about the customer's language (before rendering)."""
    g.locale_hints = LocaleHints(link=link, customer=tuple(customer or ()), merchant=merchant)
    refresh()  # drop a locale Flask-Babel may already have picked for this request


def select_locale() -> str:
    """Flask-Babel's locale selector for requests."""
    hints = g.get("locale_hints") or LocaleHints()
    accept = request.accept_languages if has_request_context() else ()
    return resolve_locale(hints, accept)


def current() -> str:
    """The code of the locale in use (`en` outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None else SOURCE_LOCALE


def language_choices() -> list[tuple[str, str]]:
    """(code, own name) of every supported language, for the switcher."""
    return [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES]


# ---- catalogs --------------------------------------------------------------------------------


def catalog_path(locale: str, directory: Path = TRANSLATIONS_DIR) -> Path:
    return directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.lru_cache(maxsize=32)
def _compile(path: str, locale: str, _mtime_ns: int, _size: int) -> Translations:
    """One .po compiled in memory; cached per process while the file is unchanged."""
    with open(path, "rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: show English instead
    mo.seek(0)
    return Translations(mo, domain=DOMAIN)


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> dict[str, Translations]:
    """Every non-source catalog there is, compiled (a broken one stops the app from starting)."""
    compiled = {}
    for locale in SUPPORTED_LOCALES:
        path = catalog_path(locale, directory)
        if locale == SOURCE_LOCALE or not path.is_file():
            continue
        stat = path.stat()
        compiled[locale] = _compile(str(path), locale, stat.st_mtime_ns, stat.st_size)
    return compiled


class CatalogDomain(Domain):
    """Flask-Babel's domain, reading the catalogs compiled at start-up instead of .mo files."""

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        if locale is None:
            return SOURCE_TEXT
        catalogs: dict[str, Translations] = current_app.extensions["cancelpage.catalogs"]
        return catalogs.get(locale.language, SOURCE_TEXT)


class Babel(flask_babel.Babel):
    """Flask-Babel with the in-memory catalogs."""

    @cached_property
    def domain_instance(self) -> Domain:
        return CatalogDomain(domain=DOMAIN)


def init_app(app: Flask, babel: Babel) -> None:
    """Compile the catalogs and let Flask-Babel pick each request's locale."""
    catalogs = compile_catalogs()
    for locale in set(SUPPORTED_LOCALES) - set(catalogs) - {SOURCE_LOCALE}:
        # Shown in English until `flask translations update` creates it (the suite fails on it).
        app.logger.warning("no %s catalog at %s", locale, catalog_path(locale))
    app.extensions["cancelpage.catalogs"] = catalogs
    babel.init_app(app, default_locale=SOURCE_LOCALE, locale_selector=select_locale)


# ---- merchant text per locale ----------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def pick(
    translations: Mapping[str, Any], locale: str | None, default_locale: str | None
) -> str | None:
    """The translation for the locale, else for the merchant's default locale, else None."""
    for code in (supported(locale), supported(default_locale)):
        if code and (text := _text(translations.get(code))):
            return text
    return None


def localized(
    source: Merchant | Mapping[str, Any],
    key: str,
    locale: str | None = None,
    default: str | None = None,
    default_locale: str | None = None,
) -> str | None:
    """Merchant copy in a locale: `copy[locale][key]`, then the merchant's default locale
    (`copy[default_locale][key]`, then the untranslated `copy[key]`), then `default`.

    `source` is a Merchant (its `copy`, plus `headline` as the key "headline") or a plain mapping
    of that shape, e.g. {"email_subject": "...", "de": {"email_subject": "..."}}.
    """
    if isinstance(source, Mapping):
        mapping: Mapping[str, Any] = source
    else:
        mapping = {"headline": source.headline, **(source.copy or {})}
        default_locale = default_locale or source.default_locale
    per_locale = {
        code: entry.get(key)
        for code, entry in mapping.items()
        if code in SUPPORTED_LOCALES and isinstance(entry, Mapping)
    }
    chosen = pick(per_locale, locale or current(), default_locale) or _text(mapping.get(key))
    return chosen or default


def builtin(text: str) -> str:
    """Built-in flow text (the default reasons and offers) in the current language; anything a
    merchant wrote is returned as written."""
    return flask_babel.gettext(text) if text in flows.BUILTIN_TEXTS else text


@dataclass(frozen=True)
class MerchantTexts:
    """A merchant's words in one locale, for the templates."""

    merchant: Merchant
    locale: str

    def copy(self, key: str) -> str | None:
        return localized(self.merchant, key, self.locale)

    def _flow_text(self, base: str, translations: Mapping[str, str]) -> str:
        return pick(translations, self.locale, self.merchant.default_locale) or builtin(base)

    def label(self, reason: flows.Reason) -> str:
        return self._flow_text(reason.label, reason.labels)

    def title(self, offer: flows.Offer) -> str:
        return self._flow_text(offer.title, offer.titles)

    def body(self, offer: flows.Offer) -> str:
        return self._flow_text(offer.body, offer.bodies)
