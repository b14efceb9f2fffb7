"""Dates, money, percentages and plural forms follow the language."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.i18n_support import (
    DEC_31_2026,
    HX,
    add_merchant,
    page,
    set_snapshot,
)

from cancelpage import flows

# ---- dates, money, percentages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "confirm", "done"),
    [
        (
            "en",
            "Your subscription will end on December 31, 2026.",
            "It ends on December 31, 2026.",
        ),
        ("de", "Ihr Abonnement endet am 31. Dezember 2026.", "Es endet am 31. Dezember 2026."),
        (
            "fr",
            "Votre abonnement prendra fin le 31 décembre 2026.",
            "Il prend fin le 31 décembre 2026.",
        ),
        (
            "es",
            "Su suscripción finalizará el 31 de diciembre de 2026.",
            "Finaliza el 31 de diciembre de 2026.",
        ),
    ],
)
def test_dates_per_locale(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    locale: str,
    confirm: str,
    done: str,
) -> None:
    url = start(locale=locale)
    set_snapshot(app, period_end=DEC_31_2026)
    assert confirm in page(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert done in page(client.get(url))


MONEY_FLOW: dict[str, Any] = {
    **flows.DEFAULT_FLOW,
    "offers": [
        {
            "id": "euro19",
            "kind": "discount",
            "title": "€19 off",
            "titles": {"de": "19 € Rabatt", "fr": "19 € de réduction", "es": "19 € de descuento"},
            "amount_off": 1900,
            "currency": "eur",
            "duration": "once",
        },
        {
            "id": "big",
            "kind": "discount",
            "title": "A big discount",
            "titles": {"de": "Großer Rabatt", "fr": "Grosse réduction", "es": "Gran descuento"},
            "amount_off": 123456,
            "currency": "usd",
            "duration": "forever",
        },
    ],
    "rules": [],
    "default_offers": ["euro19", "big"],
}


@pytest.mark.parametrize(
    ("locale", "euros", "dollars", "percent"),
    [
        (
            "en",
            "€19.00 off your next payment.",
            "$1,234.56 off for as long as you stay.",
            "25% off for 3 months.",
        ),
        (
            "de",
            "19,00\u00a0€ Rabatt auf Ihre nächste Zahlung.",
            "1.234,56\u00a0$ Rabatt, solange Sie bleiben.",
            "25\u00a0% Rabatt für 3 Monate.",
        ),
        (
            "fr",
            "19,00\u00a0€ de réduction sur votre prochain paiement.",
            "1\u202f234,56\u00a0$US de réduction aussi longtemps que vous restez avec nous.",
            "25\u00a0% de réduction pendant 3 mois.",
        ),
        (
            "es",
            "19,00\u00a0€ de descuento en su próximo pago.",
            "1.234,56\u00a0US$ de descuento mientras siga con nosotros.",
            "25\u00a0% de descuento durante 3 meses.",
        ),
    ],
)
def test_money_and_percentages_per_locale(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    locale: str,
    euros: str,
    dollars: str,
    percent: str,
) -> None:
    add_merchant(app, "money", flow=MONEY_FLOW)
    url = start("money", locale=locale)
    first = page(client.post(f"{url}/survey", data={"reason": "other"}, headers=HX))
    assert euros in first
    second = page(
        client.post(f"{url}/offer", data={"offer": "euro19", "action": "decline"}, headers=HX)
    )
    assert dollars in second
    url = start(locale=locale, customer="cus_pct")
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert percent in page(client.get(url))
