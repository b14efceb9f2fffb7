"""Keeping the message catalogs in step with the sources: `flask translations update|check`.

`update` extracts every marked string (babel.cfg) and merges it into each language's .po file,
creating missing catalogs; `check` lists what is missing, stale, fuzzy or broken. Both need a
source checkout (babel.cfg sits next to the package).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

import click
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from cancelpage.i18n import (
    DOMAIN,
    SOURCE_LOCALE,
    SUPPORTED_LOCALES,
    TRANSLATIONS_DIR,
    catalog_path,
)

SOURCE_ROOT = Path(__file__).resolve().parents[2]
MAPPING_FILE = SOURCE_ROOT / "babel.cfg"
# Beyond Babel's defaults (_, gettext, ngettext, N_, ...): lazy strings, often imported as _l.
# Nn_ marks a singular/plural pair in the pure flow engine (cancelpage.flows.offers).
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "Nn_": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)")
# {name} in the email copy's str.format-style strings (python-brace-format), kept with braces.
BRACE_PLACEHOLDER_RE = re.compile(r"\{\w+\}")
UPDATE_COMMAND = "flask --app cancelpage translations update"


def extract(root: Path = SOURCE_ROOT) -> Catalog:
    """Every translatable string in the sources, as a template catalog."""
    mapping = root / MAPPING_FILE.name
    if not mapping.is_file():
        raise click.ClickException(f"{mapping} not found: run this from a source checkout")
    with mapping.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(mapping))
    template = Catalog(project="cancelpage", domain=DOMAIN, fuzzy=False)
    package = root / "cancelpage"
    found = extract_from_dir(
        root,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
        # Only the package: never a virtualenv, build or instance folder in the checkout.
        directory_filter=lambda path: (
            Path(path).is_relative_to(package) and "__pycache__" not in path
        ),
    )
    for filename, lineno, message, comments, context in found:
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read(path: Path, locale: str) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


def _render(catalog: Catalog) -> bytes:
    # Sorted, file names without line numbers, no obsolete entries: diffs show real changes only
    # and branches that both add strings merge cleanly.
    out = io.BytesIO()
    write_po(out, catalog, sort_output=True, include_lineno=False, ignore_obsolete=True)
    return out.getvalue()


def update(directory: Path = TRANSLATIONS_DIR, root: Path = SOURCE_ROOT) -> list[Path]:
    """Merge the sources' strings into every catalog (creating missing ones); the changed files."""
    template = extract(root)
    changed = []
    for locale in SUPPORTED_LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        path = catalog_path(locale, directory)
        if path.is_file():
            catalog = _read(path, locale)
            before = path.read_bytes()
        else:
            catalog = Catalog(locale=locale, domain=DOMAIN, project="cancelpage", fuzzy=False)
            before = b""
        catalog.update(template, update_creation_date=False)
        # The installed Babel's CLDR data decides the plural rules (they change between releases:
        # Babel 2.19 gave French and Spanish a third form); plural entries gain or lose forms to
        # match, and `check` lists any form left to translate.
        catalog.mime_headers = [("Plural-Forms", get_plural(locale).plural_forms)]
        after = _render(catalog)
        if after != before:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(after)
            changed.append(path)
    return changed


def _key(message: Message) -> tuple[str | None, str]:
    return message.context, _ids(message)[0]


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, list | tuple) else (message.id,)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, list | tuple):
        return tuple(message.string)
    return (message.string,)


def _placeholders(texts: Iterable[str]) -> set[str]:
    return {
        name
        for text in texts
        for name in (*PLACEHOLDER_RE.findall(text or ""), *BRACE_PLACEHOLDER_RE.findall(text or ""))
    }


def _message_problems(locale: str, catalog: Catalog) -> list[str]:
    """Fuzzy, untranslated, short of plural forms, or with other placeholders than the source."""
    found: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        ids, strings = _ids(message), _strings(message)
        if message.fuzzy:
            found.append(f"{locale}: {ids[0]!r} is fuzzy (a guess to review)")
        elif not all(s.strip() for s in strings):
            found.append(f"{locale}: {ids[0]!r} is not translated")
        elif len(ids) > 1 and len(strings) != catalog.num_plurals:
            found.append(f"{locale}: {ids[0]!r} needs {catalog.num_plurals} plural forms")
        elif any(_placeholders([string]) != _placeholders(ids) for string in strings):
            found.append(
                f"{locale}: {ids[0]!r} must use exactly the placeholders "
                f"{sorted(_placeholders(ids))}"
            )
    return found


def problems(directory: Path = TRANSLATIONS_DIR, root: Path = SOURCE_ROOT) -> list[str]:
    """Everything that keeps the catalogs from matching the sources, one line each."""
    template = extract(root)
    wanted = {_key(message) for message in template if message.id}
    found: list[str] = []
    for locale in SUPPORTED_LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        path = catalog_path(locale, directory)
        if not path.is_file():
            found.append(f"{locale}: no catalog at {path}; run `{UPDATE_COMMAND}`")
            continue
        catalog = _read(path, locale)
        expected_plural = get_plural(locale)
        if catalog.num_plurals != expected_plural.num_plurals or (
            catalog.plural_expr != expected_plural.plural_expr
        ):
            found.append(f"{locale}: Plural-Forms should be '{expected_plural.plural_forms}'")
        present = {_key(m) for m in catalog if m.id}
        for _, msgid in sorted(wanted - present, key=str):
            found.append(f"{locale}: missing {msgid!r}; run `{UPDATE_COMMAND}`")
        for _, msgid in sorted(present - wanted, key=str):
            found.append(f"{locale}: {msgid!r} is no longer in the sources; run `{UPDATE_COMMAND}`")
        found.extend(_message_problems(locale, catalog))
    return found
