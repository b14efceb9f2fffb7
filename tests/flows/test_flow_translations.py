"""Reasons and offers in other languages, as merchants write them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support.flow_support import (
    data_with,
    errors_of,
)

from cancelpage.flows import (
    BUILTIN_TEXTS,
    LOCALES,
    Reason,
    default_flow,
    flow_to_dict,
    parse_flow,
)

# --- translations of reasons and offers --------------------------------------------------------


TRANSLATED_FLOW: dict[str, Any] = {
    "reasons": [
        {
            "code": "price",
            "label": "Too pricey",
            "feedback": "too_expensive",
            "enabled": True,
            "labels": {"de": "Zu teuer", "fr": "Trop cher", "es": "Demasiado caro"},
        },
        {"code": "other", "label": "Other", "feedback": "other", "enabled": True},
    ],
    "offers": [
        {
            "id": "pct",
            "kind": "discount",
            "title": "Half off",
            "body": "Line 1\nLine 2",
            "titles": {"de": "Halber Preis", "en": "Half price"},
            "bodies": {"fr": "Ligne 1\nLigne 2"},
            "percent_off": 50,
            "duration": "once",
        },
        {"id": "talk", "kind": "contact", "title": "Talk", "body": "", "url": "mailto:a@b.example"},
    ],
    "rules": [],
    "default_offers": ["pct", "talk"],
    "max_offers": 2,
}


def test_translations_parse_and_round_trip() -> None:
    flow = parse_flow(TRANSLATED_FLOW)
    assert flow_to_dict(flow) == TRANSLATED_FLOW
    assert parse_flow(flow_to_dict(flow)) == flow
    price = flow.reason("price")
    assert price is not None
    assert price.labels == {
        "de": "Zu teuer",
        "fr": "Trop cher",
        "es": "Demasiado caro",
    }
    pct = flow.offers["pct"]
    assert pct.titles == {"de": "Halber Preis", "en": "Half price"}
    assert pct.bodies == {"fr": "Ligne 1\nLigne 2"}
    # no translations: nothing extra in the JSON (the default flow keeps its exact shape)
    other, talk = flow_to_dict(flow)["reasons"][1], flow_to_dict(flow)["offers"][1]
    assert "labels" not in other
    assert "titles" not in talk
    assert "bodies" not in talk


def test_translations_are_trimmed_and_private_copies() -> None:
    labels = {"de": "  Zu teuer "}
    data = data_with(lambda d: d["reasons"][0].update(labels=labels))
    flow = parse_flow(data)
    labels["de"] = "changed"
    assert flow.reasons[0].labels == {"de": "Zu teuer"}
    reason = Reason("a", "A", "other", labels=labels)
    labels["fr"] = "B"
    assert reason.labels == {"de": "changed"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["reasons"][0].update(labels={"xx": "?"}),
            "reasons[0].labels: unknown locale 'xx': must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de-AT": "Zu teuer"}),
            "reasons[0].labels: unknown locale 'de-AT': must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["reasons"][0].update(labels=["de", "Zu teuer"]),
            "reasons[0].labels: must be an object",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": ""}),
            "reasons[0].labels.de: must not be empty",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": 5}),
            "reasons[0].labels.de: must be a string",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": "x" * 121}),
            "reasons[0].labels.de: must be at most 120 characters",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": "a\nb"}),
            "reasons[0].labels.de: must not contain control characters",
        ),
        (
            lambda d: d["offers"][0].update(titles={"fr": "  "}),
            "offers[0].titles.fr: must not be empty",
        ),
        (
            lambda d: d["offers"][0].update(titles={1: "x"}),
            "offers[0].titles: unknown locale 1: must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["offers"][0].update(bodies={"es": "x" * 1001}),
            "offers[0].bodies.es: must be at most 1000 characters",
        ),
        (
            lambda d: d["offers"][0].update(bodies="Hola"),
            "offers[0].bodies: must be an object",
        ),
        (
            lambda d: d["offers"][0].update(texts={"de": "x"}),
            "offers[0]: unknown field 'texts'",
        ),
    ],
)
def test_bad_translations_are_refused_with_their_path(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    assert errors_of(data_with(change)) == [message]


def test_bodies_may_span_lines_but_titles_may_not() -> None:
    ok = data_with(lambda d: d["offers"][0].update(bodies={"de": "Zeile 1\nZeile 2"}))
    assert parse_flow(ok).offers["discount_25_3m"].bodies == {"de": "Zeile 1\nZeile 2"}
    bad = data_with(lambda d: d["offers"][0].update(titles={"de": "Zeile 1\nZeile 2"}))
    assert errors_of(bad) == ["offers[0].titles.de: must not contain control characters"]


def test_builtin_texts_are_the_default_flows_customer_facing_texts() -> None:
    flow = default_flow()
    expected = {r.label for r in flow.reasons} | {
        text for o in flow.offers.values() for text in (o.title, o.body)
    }
    assert expected == BUILTIN_TEXTS
    assert "Price-sensitive" not in BUILTIN_TEXTS  # rule names are the merchant's, not customers'
    assert LOCALES == ("en", "de", "fr", "es")
