"""Checking one field of a flow's JSON at a time, collecting every problem with its path."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from .model import LOCALES

MAX_URL = 2000


class Errors:
    """Collects problems so that the merchant sees all of them at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def __len__(self) -> int:
        return len(self.items)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def show(value: object) -> str:
    """repr() for messages, shortened so that hostile input cannot flood the error list."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_of(choices: Collection[str]) -> str:
    return "must be one of: " + ", ".join(choices)


def as_object(value: Any, path: str, errs: Errors) -> Mapping[Any, Any] | None:
    if isinstance(value, Mapping):
        return value
    errs.add(path, "must be an object")
    return None


def as_list(value: Any, path: str, errs: Errors, limit: int) -> list[Any] | None:
    # A str is a Sequence too; only real arrays are accepted.
    if not isinstance(value, list | tuple):
        errs.add(path, "must be a list")
        return None
    if len(value) > limit:
        errs.add(path, f"must have at most {limit} items")
    return list(value)


def objects(
    items: list[Any], prefix: str, errs: Errors, allowed: Collection[str]
) -> Iterator[tuple[str, Mapping[Any, Any], int]]:
    """(path, object, errors before it) for each item that is an object with only known keys
    (unknown keys are reported, and counted against the item)."""
    for i, item in enumerate(items):
        path = f"{prefix}[{i}]"
        obj = as_object(item, path, errs)
        if obj is None:
            continue
        before = len(errs)
        unknown_keys(obj, allowed, path, errs)
        yield path, obj, before


def unknown_keys(obj: Mapping[Any, Any], allowed: Collection[str], path: str, errs: Errors) -> None:
    for key in obj:
        if key not in allowed:
            errs.add(path, f"unknown field {show(key)}")


def _has_control(text: str, multiline: bool) -> bool:
    allowed = "\n\t" if multiline else ""
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text)


def _string(obj: Mapping[Any, Any], key: str, where: str, errs: Errors) -> str | None:
    """The value at ``key`` when it is a string; None, with the reason, when absent or not."""
    value = obj.get(key)
    if value is None:
        errs.add(where, "required")
        return None
    if not isinstance(value, str):
        errs.add(where, "must be a string")
        return None
    return value


def text(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: Errors,
    *,
    max_len: int,
    required: bool = True,
    multiline: bool = False,
) -> str | None:
    """A trimmed string; JSON null counts as absent."""
    where = join(path, key)
    if obj.get(key) is None and not required:
        return ""
    value = _string(obj, key, where, errs)
    if value is None:
        return None
    value = value.strip()
    if required and not value:
        errs.add(where, "must not be empty")
        return None
    if len(value) > max_len:
        errs.add(where, f"must be at most {max_len} characters")
        return None
    if _has_control(value, multiline):
        errs.add(where, "must not contain control characters")
        return None
    return value


def translations(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: Errors,
    *,
    max_len: int,
    multiline: bool = False,
) -> dict[str, str]:
    """An optional {locale: text} object, e.g. "labels": {"de": "..."}, locales from LOCALES."""
    where = join(path, key)
    raw = obj.get(key)
    if raw is None:
        return {}
    mapping = as_object(raw, where, errs)
    if mapping is None:
        return {}
    texts: dict[str, str] = {}
    for locale in mapping:
        if not isinstance(locale, str) or locale not in LOCALES:
            errs.add(where, f"unknown locale {show(locale)}: " + one_of(LOCALES))
            continue
        value = text(mapping, locale, where, errs, max_len=max_len, multiline=multiline)
        if value is not None:
            texts[locale] = value
    return texts


def pattern(
    obj: Mapping[Any, Any], key: str, path: str, errs: Errors, pattern: re.Pattern[str], rule: str
) -> str | None:
    where = join(path, key)
    value = _string(obj, key, where, errs)
    if value is None:
        return None
    if not pattern.fullmatch(value):
        errs.add(where, rule)
        return None
    return value


def choice(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: Errors,
    choices: tuple[str, ...],
    default: str | None = None,
) -> str | None:
    where = join(path, key)
    value = obj.get(key)
    if value is None:
        if default is None:
            errs.add(where, "required")
        return default
    # Check the type first: a list is unhashable and must not reach a membership test on a set.
    if not isinstance(value, str) or value not in choices:
        errs.add(where, one_of(choices))
        return None
    return value


def is_int(value: Any) -> bool:
    # bool is an int subclass; true/false is never a count.
    return isinstance(value, int) and not isinstance(value, bool)


def integer(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: Errors,
    low: int,
    high: int,
    default: int | None = None,
) -> int | None:
    where = join(path, key)
    value = obj.get(key)
    if value is None:
        if default is None:
            errs.add(where, "required")
        return default
    if not is_int(value):
        errs.add(where, "must be an integer")
        return None
    if not low <= value <= high:
        errs.add(where, f"must be between {low} and {high}")
        return None
    return int(value)


def boolean(obj: Mapping[Any, Any], key: str, path: str, errs: Errors, default: bool) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        errs.add(join(path, key), "must be true or false")
        return default
    return value


def valid_url(url: str, *, mailto: bool, local_http: bool) -> bool:
    if len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return False
    if mailto and url.lower().startswith("mailto:"):
        return "@" in url[len("mailto:") :]
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    if not host:
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    # Plain http only for a merchant trying the flow on their own machine.
    return local_http and scheme == "http" and host in ("localhost", "127.0.0.1")
