"""The catalogs: complete, in step with the sources, compiled in memory, checked by a command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po
from flask import Flask
from flask_babel import ngettext
from support.i18n_support import (
    TRANSLATED,
)

from cancelpage import i18n
from cancelpage.i18n import catalogs

# ---- catalogs --------------------------------------------------------------------------------


def test_every_string_is_translated_and_the_catalogs_match_the_sources() -> None:
    """Fails when a marked string has no de/fr/es translation or a catalog is out of date:
    run `flask --app cancelpage translations update`, translate, commit."""
    assert catalogs.problems() == []


def test_the_check_command_passes(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["translations", "check"])
    assert result.exit_code == 0, result.output
    assert "All catalogs are complete and up to date." in result.output


def test_no_translated_word_is_long_enough_to_overflow_a_phone_screen() -> None:
    for locale in TRANSLATED:
        with catalogs.catalog_path(locale).open("rb") as po:
            catalog = read_po(po, locale=locale)
        for message in catalog:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in strings:
                for word in re.sub(r"%\(\w+\)[sd]", "", string).split():
                    assert len(word) <= 30, (locale, word)


def test_plural_forms_follow_each_language(app: Flask) -> None:
    singular, plural = (
        "%(num)d day free: your next charge, %(amount)s, is on %(date)s.",
        "%(num)d days free: your next charge, %(amount)s, is on %(date)s.",
    )
    seen = {}
    for locale in ("en", *TRANSLATED):
        with app.test_request_context():
            i18n.prefer(link=locale)
            seen[locale] = [
                ngettext(singular, plural, n, amount="$1", date="today")
                for n in (0, 1, 2, 1_000_000)
            ]
    assert seen["en"][0].startswith("0 days")
    assert seen["en"][1].startswith("1 day free")
    assert [s.split(":")[0] for s in seen["de"]] == [
        "0 Tage kostenlos",
        "1 Tag kostenlos",
        "2 Tage kostenlos",
        "1000000 Tage kostenlos",
    ]
    # French counts 0 as singular; CLDR gives French and Spanish a form for exact millions.
    assert [s.split("\u00a0:")[0] for s in seen["fr"]] == [
        "0 jour offert",
        "1 jour offert",
        "2 jours offerts",
        "1000000 de jours offerts",
    ]
    assert [s.split(":")[0] for s in seen["es"]] == [
        "0 días gratis",
        "1 día gratis",
        "2 días gratis",
        "1000000 de días gratis",
    ]


def _copy_catalogs(tmp_path: Path) -> Path:
    target = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def _edit(path: Path, locale: str, change: Any) -> None:
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    change(catalog)
    with path.open("wb") as po:
        write_po(po, catalog)


def test_the_check_names_every_kind_of_problem(tmp_path: Path) -> None:
    directory = _copy_catalogs(tmp_path)

    def german(catalog: Any) -> None:
        catalog.delete("Continue")
        catalog["Cancel subscription"].string = ""
        catalog["No thanks"].flags.add("fuzzy")
        catalog["Back to %(name)s"].string = "Zurück zu %(shop)s"
        catalog.add("A string nobody uses any more", "Weg damit")

    def french(catalog: Any) -> None:
        catalog["%(amount)s every %(num)d month"].string = ("%(amount)s tous les %(num)d mois", "")

    _edit(catalogs.catalog_path("de", directory), "de", german)
    _edit(catalogs.catalog_path("fr", directory), "fr", french)
    _edit(
        catalogs.catalog_path("es", directory),
        "es",
        lambda catalog: setattr(
            catalog, "mime_headers", [("Plural-Forms", "nplurals=1; plural=0;")]
        ),
    )
    found = catalogs.problems(directory)
    update = "run `flask --app cancelpage translations update`"
    assert f"de: missing 'Continue'; {update}" in found
    assert "de: 'Cancel subscription' is not translated" in found
    assert "de: 'No thanks' is fuzzy (a guess to review)" in found
    assert "de: 'Back to %(name)s' must use exactly the placeholders ['name']" in found
    assert f"de: 'A string nobody uses any more' is no longer in the sources; {update}" in found
    assert "fr: '%(amount)s every %(num)d month' is not translated" in found
    assert f"es: Plural-Forms should be '{get_plural('es').plural_forms}'" in found
    assert len(found) == 7, found


def test_update_adopts_the_installed_babels_plural_rules(tmp_path: Path) -> None:
    """A Babel release that changes the plural rules: update follows them, check names the gap."""
    directory = _copy_catalogs(tmp_path)
    french = catalogs.catalog_path("fr", directory)
    # A catalog written under a Babel that gave French two forms (write_po keeps two strings).
    _edit(french, "fr", lambda c: setattr(c, "mime_headers", [("Plural-Forms", "nplurals=2;")]))
    assert "fr: Plural-Forms should be" in " ".join(catalogs.problems(directory))
    assert catalogs.update(directory) == [french]
    with french.open("rb") as po:
        catalog = read_po(po, locale="fr")
    assert catalog.plural_forms == get_plural("fr").plural_forms
    plurals = [m for m in catalog if isinstance(m.id, tuple)]
    assert plurals
    assert all(len(m.string) == get_plural("fr").num_plurals for m in plurals)
    # The form the old catalog lacked is left for a translator, and check says which.
    assert sorted(catalogs.problems(directory)) == sorted(
        f"fr: {m.id[0]!r} is not translated" for m in plurals
    )


def test_update_brings_in_new_strings_from_code_and_email_templates(tmp_path: Path) -> None:
    """The one command that adds another branch's strings (emails are .txt and .html)."""
    root = tmp_path / "src"
    package = root / "cancelpage"
    (package / "templates" / "emails").mkdir(parents=True)
    shutil.copy(catalogs.MAPPING_FILE, root / "babel.cfg")
    (package / "dunning.py").write_text(
        "from flask_babel import lazy_gettext as _l\nSUBJECT = _l('Your payment failed')\n"
    )
    (package / "templates" / "emails" / "failed.txt").write_text(
        "{{ _('Please update your card, %(name)s.', name=name) }}\n"
        "{{ ngettext('%(num)d day left', '%(num)d days left', days) }}\n"
    )
    (package / "templates" / "emails" / "failed.html").write_text("<p>{{ _('Update card') }}</p>")
    directory = tmp_path / "translations"
    changed = catalogs.update(directory, root)
    assert sorted(p.parent.parent.name for p in changed) == ["de", "es", "fr"]
    found = catalogs.problems(directory, root)
    for locale in TRANSLATED:
        for msgid in (
            "Your payment failed",
            "Please update your card, %(name)s.",
            "%(num)d day left",
            "Update card",
        ):
            assert f"{locale}: {msgid!r} is not translated" in found
    german = catalogs.catalog_path("de", directory).read_text()
    assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in german
    assert "#: cancelpage/templates/emails/failed.txt\n" in german  # file names, no line numbers
    assert catalogs.update(directory, root) == []  # a second run changes nothing


def test_catalogs_compile_in_memory_and_fuzzy_entries_stay_english(tmp_path: Path) -> None:
    directory = _copy_catalogs(tmp_path)
    _edit(
        catalogs.catalog_path("de", directory),
        "de",
        lambda catalog: catalog["No thanks"].flags.add("fuzzy"),
    )
    shutil.rmtree(directory / "es")
    compiled = i18n.compile_catalogs(directory)
    assert sorted(compiled) == ["de", "fr"]  # a missing catalog is left out (shown in English)
    assert compiled["de"].gettext("Continue") == "Weiter"
    assert compiled["de"].gettext("No thanks") == "No thanks"
    assert not list(tmp_path.rglob("*.mo"))
    assert not list(i18n.TRANSLATIONS_DIR.rglob("*.mo"))
