"""The wallet's catalogues are complete, and the language switch works.

Bulgarian is the default language of the wallet and English the other one. Every message the
code and the templates mark with ``_()``/``gettext``/``ngettext`` must have a translation in
both catalogues, so a new string without one fails here rather than reaching a citizen in the
wrong language.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "wallet_ui" / "translations"
LOCALES = ("bg", "en")
PLURAL_FORMS = {"bg": 2, "en": 2}
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None}


def _po(locale: str) -> Catalog:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=locale)


def _ids(catalog: Catalog) -> set[Any]:
    return {message.id for message in catalog if message.id}


def _source_ids() -> set[Any]:
    """The msgids in the sources now, found as `make extract-messages` finds them."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: set[Any] = set()
    for folder in ("wallet_ui", "broker"):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
                ROOT / folder, method_map, options_map, keywords=KEYWORDS):
            if isinstance(message, tuple):
                message = message[:2] if len(message) > 1 and message[1] else message[0]
            found.add(message)
    return found


def test_the_template_lists_the_strings_of_the_sources() -> None:
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template = read_po(handle)
    in_sources = _source_ids()
    assert "Sign in to your wallet" in in_sources, "the Jinja templates are extracted"
    missing = in_sources - _ids(template)
    assert not missing, f"run `make extract-messages`; messages.pot lacks {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    catalog = _po(locale)
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy"
    assert catalog.num_plurals == PLURAL_FORMS[locale]
    assert catalog.plural_expr.replace(" ", "") == "(n!=1)"
    untranslated, fuzzy = [], []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            fuzzy.append(message.id)
        if message.pluralizable:
            forms = message.string if isinstance(message.string, tuple) else ()
            if len(forms) != catalog.num_plurals or not all(form.strip() for form in forms):
                untranslated.append(message.id)
        elif not (message.string or "").strip():
            untranslated.append(message.id)
    assert not untranslated, f"{locale}: without translation: {untranslated}"
    assert not fuzzy, f"{locale}: fuzzy: {fuzzy}"
    problems = [(message.id, [str(error) for error in errors])
                for message, errors in catalog.check()]
    assert not problems, f"{locale}: placeholders differ from the msgid: {problems}"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalogue_covers_the_template_and_the_sources(locale: str) -> None:
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template = read_po(handle)
    catalog = _po(locale)
    ids = _ids(catalog)
    missing = (_ids(template) | _source_ids()) - ids
    assert not missing, f"{locale}: run `make extract-messages` and translate {missing}"
    stale = [message.id for message in catalog.obsolete.values()]
    assert not stale, f"{locale}: obsolete entries left in the catalogue: {stale}"


@pytest.mark.parametrize("locale", LOCALES)
def test_english_is_the_msgid_and_bulgarian_is_not(locale: str) -> None:
    catalog = _po(locale)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if locale == "en":
            assert tuple(strings) == tuple(ids), message.id
        elif re.search(r"[A-Za-z]{3,}", re.sub(r"%\(\w+\)[sd]", "", " ".join(ids))):
            assert re.search("[а-яА-Я]", " ".join(strings)), f"not Bulgarian: {message.id}"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalogue_matches_the_po_file(locale: str) -> None:
    compiled = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert compiled.exists(), "run `make translations` to compile the catalogues"
    with open(compiled, "rb") as handle:
        mo = read_mo(handle)
    po = _po(locale)

    def pairs(catalog: Catalog) -> dict[Any, Any]:
        def plain(value: Any) -> Any:
            return tuple(value) if isinstance(value, (list, tuple)) else value
        return {plain(m.id): plain(m.string) for m in catalog if m.id}

    assert pairs(mo) == pairs(po), "the .mo file is stale: run `make translations`"


def _switch_link(page: str, to: str) -> re.Match[str]:
    for link in re.finditer(r"<a (?P<attrs>[^>]*)>", page):
        attrs = link.group("attrs")
        if f'hreflang="{to}"' in attrs:
            assert f'lang="{to}"' in attrs.replace(f'hreflang="{to}"', ""), attrs
            href = re.search(r'href="([^"]+)"', attrs)
            assert href, attrs
            return href
    raise AssertionError(f"no language link with hreflang={to!r} in the page")


def test_the_wallet_speaks_bulgarian_first_then_english(client: Any, demo: Any) -> None:
    page = client.get("/wallet/sign-in")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<html lang="bg"' in text
    assert "<h1>Влезте в портфейла си</h1>" in text
    assert text.count("<h1") == 1
    assert "Sign in to your wallet" not in text

    href = html.unescape(_switch_link(text, "en").group(1))
    assert href.startswith("/wallet/language?")
    assert "lang=en" in href and "next=" in href
    switched = client.get(href)
    assert switched.status_code == 302
    assert "serdika_lang=en" in switched.headers.get("Set-Cookie", "")
    assert switched.headers["Location"].endswith("/wallet/sign-in")

    english = client.get(switched.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en"' in english
    assert "<h1>Sign in to your wallet</h1>" in english
    assert "Влезте" not in english
    back = html.unescape(_switch_link(english, "bg").group(1))
    assert "lang=bg" in back
    assert ">Български</a>" in english

    client.get(back)
    again = client.get("/wallet/sign-in").get_data(as_text=True)
    assert '<html lang="bg"' in again


def test_an_unknown_language_keeps_bulgarian(client: Any, demo: Any) -> None:
    response = client.get("/wallet/language?lang=xx&next=/wallet/sign-in")
    assert response.status_code == 302
    assert "serdika_lang" not in response.headers.get("Set-Cookie", "")
    page = client.get("/wallet/sign-in").get_data(as_text=True)
    assert '<html lang="bg"' in page


@pytest.mark.parametrize(("locale", "iso", "said"), [
    ("bg", "P1D", "1 ден"), ("bg", "P90D", "90 дни"), ("bg", "P1Y", "1 година"),
    ("bg", "P2Y", "2 години"), ("bg", "P6M", "6 месеца"), ("bg", "PT5H", "5 часа"),
    ("en", "P1D", "1 day"), ("en", "P90D", "90 days"), ("en", "P1Y", "1 year"),
])
def test_durations_use_the_plural_forms(app: Any, locale: str, iso: str, said: str) -> None:
    from wallet_ui.wording import human_duration

    with app.test_request_context(headers={"Cookie": f"serdika_lang={locale}"}):
        assert human_duration(iso) == said


@pytest.mark.parametrize("constraints", [
    {"date_range": {"from": "2025-01-01", "to": "2026-12-31"}},
    {"date_range": {"from": "2025-01-01"}}, {"date_range": {"to": "2026-12-31"}},
])
def test_a_sentence_ending_on_a_bulgarian_date_has_one_full_stop(app: Any,
                                                                 constraints: Any) -> None:
    """Long dates end with "г." in Bulgarian, which also ends the sentence: never "г.."."""
    from wallet_ui.wording import limits_in_words

    for locale in ("bg", "en"):
        with app.test_request_context(headers={"Cookie": f"serdika_lang={locale}"}):
            lines = limits_in_words(constraints)
        assert lines
        for line in lines:
            assert ".." not in line, line
            assert line.endswith("."), line
