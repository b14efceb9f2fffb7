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
            "Your Pro subscription will end on December 31, 2026.",
            "It ends on December 31, 2026.",
        ),
        ("de", "Ihr Abonnement Pro endet am 31. Dezember 2026.", "Es endet am 31. Dezember 2026."),
        (
            "fr",
            "Votre abonnement Pro prendra fin le 31 décembre 2026.",
            "Il prend fin le 31 décembre 2026.",
        ),
        (
            "es",
            "Su suscripción Pro finalizará el 31 de diciembre de 2026.",
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
            "€29.00 → €10.00 on your next payment (December 31, 2026), then €29.00 a month.",
            "$29.00 → $0.00 a month for as long as you stay.",
            "$29.00 → $21.75 a month for the next 3 months, then $29.00.",
        ),
        (
            "de",
            "29,00\u00a0€ → 10,00\u00a0€ bei Ihrer nächsten Zahlung (31. Dezember 2026), danach "
            "29,00\u00a0€ pro Monat.",
            "29,00\u00a0$ → 0,00\u00a0$ pro Monat, solange Sie bleiben.",
            "29,00\u00a0$ → 21,75\u00a0$ pro Monat für die nächsten 3 Monate, danach 29,00\u00a0$.",
        ),
        (
            "fr",
            "29,00\u00a0€ → 10,00\u00a0€ lors de votre prochain paiement (31 décembre 2026), puis "
            "29,00\u00a0€ par mois.",
            "29,00\u00a0$US → 0,00\u00a0$US par mois tant que vous restez.",
            "29,00\u00a0$US → 21,75\u00a0$US par mois pendant les 3 prochains mois, puis "
            "29,00\u00a0$US.",
        ),
        (
            "es",
            "29,00\u00a0€ → 10,00\u00a0€ en su próximo pago (31 de diciembre de 2026), después "
            "29,00\u00a0€ al mes.",
            "29,00\u00a0US$ → 0,00\u00a0US$ al mes mientras siga con nosotros.",
            "29,00\u00a0US$ → 21,75\u00a0US$ al mes los próximos 3 meses, después 29,00\u00a0US$.",
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
    url = start("money", locale=locale, attributes={"currency": "eur", "mrr": "2900"})
    set_snapshot(app, period_end=DEC_31_2026)
    first = page(client.post(f"{url}/survey", data={"reason": "other"}, headers=HX))
    assert euros in first
    # The dollar amount off means nothing to a euro subscription: not shown, so on to confirm.
    second = page(
        client.post(f"{url}/offer", data={"offer": "euro19", "action": "decline"}, headers=HX)
    )
    assert "$" not in second
    url = start("money", locale=locale, customer="cus_usd")
    client.post(f"{url}/survey", data={"reason": "other"})
    assert dollars in page(client.get(url))
    url = start(locale=locale, customer="cus_pct")
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert percent in page(client.get(url))
