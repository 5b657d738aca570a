"""A parent acting for a minor child: the request page, the token, the wallet, coming of age.

Each test gets its own household in the demo civil registry (two parents with wallets and a
minor child), so no test shares a child, a guardianship or a consent with another.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from commons import egn
from consent.ledger.entries import ledger_size
from consent.models import Consent, Guardianship, LedgerEntry, Subject
from consent.wards import CITY_TIMEZONE, coming_of_age_at
from demo import civil_registry
from tests.flows import CITIZEN_PASSWORD, Flow, basic, create_citizen, csrf_token

PERSON = "/api/v1/data/civil_registry/person"
CHILD_BORN = date(2019, 12, 5)


@dataclass
class Household:
    """Two parents with wallets and their minor child, as the civil registry records them."""

    id: str
    address: str
    parents: list[dict[str, Any]]
    child: dict[str, Any]

    def write(self, broker: Any) -> None:
        members = [dict(parent["record"]) for parent in self.parents] + [self.child]
        civil_registry.upsert_household(broker.connectors["civil_registry"].engine, self.id,
                                        self.address,
                                        [dict(m, address=self.address) for m in members])


def _member(national_id: str, given: str, family: str, born: date, role: str,
            gender: str) -> dict[str, Any]:
    return {"national_id": national_id, "given_name": given, "middle_name": None,
            "family_name": family, "birth_date": born, "gender": gender,
            "household_role": role}


#: The children's ЕГН given out in this session: one born on CHILD_BORN has only 1,000 to
#: choose from, and two households sharing a child would share its guardians and notices.
_CHILD_EGNS: set[str] = set()


def _new_child_egn() -> str:
    while True:
        national_id = egn.make(CHILD_BORN, secrets.randbelow(1000))
        if national_id not in _CHILD_EGNS:
            _CHILD_EGNS.add(national_id)
            return national_id


@pytest.fixture
def household(broker: Any, demo: dict[str, Any]) -> Household:
    parents = []
    for given, gender in (("Анна", "F"), ("Петър", "M")):
        citizen = create_citizen(broker, prefix="parent_")
        citizen["record"] = _member(citizen["national_id"], given, "Русева",
                                    egn.birth_date(citizen["national_id"]), "parent", gender)
        parents.append(citizen)
    child = _member(_new_child_egn(), "Рая", "Русева", CHILD_BORN, "child", "F")
    home = Household(f"hh-t-{secrets.token_hex(4)}", "гр. София, ул. Тестова 1", parents,
                     child)
    home.write(broker)
    return home


def _client(app: Any) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("serdika_lang", "en")
    return client


def _service(demo: dict[str, Any]) -> dict[str, Any]:
    return demo["services"][0]


def _ward_id(broker: Any, household: Household) -> int:
    keyring = broker.keys.keyring
    with broker.db.sessions() as session:
        ward_id = session.scalar(select(Subject.id).where(
            Subject.national_id_index == keyring.blind_index(household.child["national_id"])))
    assert ward_id is not None
    return int(ward_id)


def _request_page(flow: Flow) -> tuple[str, str]:
    """Sign in and open the request page; return its URL and HTML."""
    flow.sign_in()
    url = flow.authorize_query()
    page = flow.client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    return url, page.get_data(as_text=True)


def _answer(flow: Flow, url: str, html: str, subject: str, decision: str = "allow") -> Any:
    fields = re.findall(r'name="fields" value="([^"]+)"', html)
    return flow.client.post(url, data={"csrf_token": csrf_token(html), "decision": decision,
                                       "fields": fields, "subject": subject})


def _decide_for_child(flow: Flow, broker: Any, household: Household) -> dict[str, Any]:
    """The parent picks the child on the request page and allows; return the token response."""
    url, html = _request_page(flow)
    ward_id = _ward_id(broker, household)
    response = _answer(flow, url, html, str(ward_id))
    assert response.status_code == 302, response.get_data(as_text=True)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == [flow.state]
    tokens = flow.redeem(query["code"][0])
    assert tokens.status_code == 200, tokens.get_data(as_text=True)
    return dict(tokens.get_json())


def _consent(broker: Any, consent_id: str) -> Consent:
    with broker.db.sessions() as session:
        consent = session.get(Consent, consent_id)
        assert consent is not None
        return consent


def _come_of_age(broker: Any, household: Household) -> None:
    """The child turns 18 today: in the registry, and so in the guardianships."""
    today = datetime.now(CITY_TIMEZONE).date()
    try:
        born = today.replace(year=today.year - 18)
    except ValueError:
        born = today.replace(year=today.year - 18, day=28)
    household.child["birth_date"] = born
    household.write(broker)
    with broker.db.sessions() as session:
        session.execute(update(Guardianship)
                        .where(Guardianship.ward_subject_id == _ward_id(broker, household))
                        .values(ends_at=coming_of_age_at(born)))
        session.commit()
    for parent in household.parents:
        broker.guardians.forget(parent["id"])


def _sections(html: str) -> tuple[str, str]:
    """The parent's own part of the dashboard, and the children's sections."""
    start = html.find('<section aria-labelledby="child-')
    return (html, "") if start < 0 else (html[:start], html[start:])


# --- the request page ---------------------------------------------------------------------------

def test_the_parent_decides_for_the_child_with_a_real_token_and_read(app, broker, demo,
                                                                     household):
    parent = household.parents[0]
    flow = Flow(_client(app), _service(demo), parent)
    _url, html = _request_page(flow)
    assert "Whose data is this request about?" in html
    assert "<legend>" in html and 'type="radio"' in html
    # Nobody is chosen for the parent: they must say whose data it is.
    assert re.findall(r'<input type="radio"[^>]*>', html)
    assert all(" checked" not in radio for radio in re.findall(r'<input type="radio"[^>]*>', html))
    assert "Рая Русева, born 2019 — your child" in html

    tokens = _decide_for_child(flow, broker, household)
    ward_id = _ward_id(broker, household)
    consent = _consent(broker, tokens["consent_id"])
    assert consent.subject_id == ward_id
    assert consent.decided_by_subject_id == parent["id"]
    assert consent.status == "active"

    # The data read goes to the child's record, under the child's pairwise id.
    read = flow.client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200, read.get_data(as_text=True)
    body = read.get_json()
    assert body["data"]["given_name"] == "Рая"
    assert body["data"]["birth_date"] == CHILD_BORN.isoformat()
    assert body["subject"] == consent.subject_pairwise
    assert household.child["national_id"] not in read.get_data(as_text=True)

    service = _service(demo)
    introspection = flow.client.post(
        "/oauth2/introspect", data={"token": tokens["access_token"]},
        headers=basic(service["client_id"], service["client_secret"]))
    assert introspection.get_json()["active"] is True
    assert introspection.get_json()["sub"] == consent.subject_pairwise

    # The parent's own consent with the same service has another pairwise id.
    own = Flow(_client(app), service, parent).tokens()
    assert _consent(broker, own["consent_id"]).subject_id == parent["id"]
    assert _consent(broker, own["consent_id"]).subject_pairwise != consent.subject_pairwise


def _counts(broker: Any) -> tuple[int, int]:
    with broker.db.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Consent)) or 0,
                ledger_size(session))


@pytest.mark.parametrize("lang, error", [
    ("en", "Choose whose data this request is about: you, or your child."),
    ("bg", "Изберете за чии данни е искането: за Вас или за Вашето дете."),
])
def test_allow_without_choosing_whose_data_shows_the_page_again(app, broker, demo, household,
                                                                lang, error):
    """An "allow" without a choice records nothing; the page says why and keeps the ticks."""
    flow = Flow(_client(app), _service(demo), household.parents[0])
    flow.client.set_cookie("serdika_lang", lang)
    url, html = _request_page(flow)
    optional = re.findall(r'name="fields" value="([^"]+)"', html)
    assert len(optional) >= 1
    kept = optional[:1]
    before = _counts(broker)
    response = flow.client.post(url, data={"csrf_token": csrf_token(html), "decision": "allow",
                                           "fields": kept})
    assert response.status_code == 400
    assert "Location" not in response.headers
    again = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in again
    assert 'role="alert"' in again and error in again
    assert 'href="#subject-me"' in again  # the summary leads to the choice
    assert 'aria-describedby="subject-error' in again
    for field in optional:
        box = re.search(rf'<input type="checkbox"[^>]*value="{re.escape(field)}"[^>]*>', again)
        assert box is not None
        assert (" checked" in box.group(0)) == (field in kept), box.group(0)
    assert _counts(broker) == before

    # Choosing now goes through, from the page shown again.
    answered = _answer(flow, url, again, "me")
    assert answered.status_code == 302, answered.get_data(as_text=True)
    assert "code=" in answered.headers["Location"]


def test_deny_needs_no_choice_of_whose_data(app, broker, demo, household):
    flow = Flow(_client(app), _service(demo), household.parents[0])
    url, html = _request_page(flow)
    response = flow.client.post(url, data={"csrf_token": csrf_token(html), "decision": "deny"})
    assert response.status_code == 302
    assert "error=access_denied" in response.headers["Location"]


def test_deny_for_the_child_is_recorded_for_the_child(app, broker, demo, household):
    flow = Flow(_client(app), _service(demo), household.parents[1])
    url, html = _request_page(flow)
    ward_id = _ward_id(broker, household)
    response = _answer(flow, url, html, str(ward_id), decision="deny")
    assert "error=access_denied" in response.headers["Location"]
    with broker.db.sessions() as session:
        denied = session.scalars(select(Consent).where(Consent.subject_id == ward_id)).all()
    assert [(c.status, c.decided_by_subject_id) for c in denied] == [
        ("denied", household.parents[1]["id"])]


@pytest.mark.parametrize("forged", ["stranger", "other-child", "not-a-number", "parent"])
def test_a_forged_ward_is_refused_and_nothing_is_recorded(app, broker, demo, household,
                                                          forged):
    flow = Flow(_client(app), _service(demo), household.parents[0])
    url, html = _request_page(flow)
    if forged == "stranger":
        value = str(create_citizen(broker)["id"])
    elif forged == "other-child":
        # The demo's Никола: a child, but not this parent's.
        georgi = next(c for c in demo["citizens"] if c["username"] == "georgi")
        _request_page(Flow(_client(app), _service(demo), georgi))
        with broker.db.sessions() as session:
            value = str(session.scalar(select(Guardianship.ward_subject_id).join(
                Subject, Subject.id == Guardianship.guardian_subject_id).where(
                Subject.username == "georgi")))
    elif forged == "parent":
        value = str(household.parents[1]["id"])
    else:
        value = "1 OR 1=1"
    with broker.db.sessions() as session:
        before = (session.scalar(select(func.count()).select_from(Consent)),
                  ledger_size(session))
    response = _answer(flow, url, html, value)
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "You cannot answer for this person" in text and "Nothing was recorded" in text
    with broker.db.sessions() as session:
        assert (session.scalar(select(func.count()).select_from(Consent)),
                ledger_size(session)) == before


def test_the_refusal_is_in_bulgarian_too(app, broker, demo, household):
    client = app.test_client()
    flow = Flow(client, _service(demo), household.parents[0])
    url, html = _request_page(flow)
    response = _answer(flow, url, html, str(household.parents[1]["id"]))
    assert response.status_code == 403
    assert 'lang="bg"' in response.get_data(as_text=True)


def test_a_citizen_without_children_sees_no_choice(app, demo):
    flow = Flow(_client(app), _service(demo),
                next(c for c in demo["citizens"] if c["username"] == "elena"))
    _url, html = _request_page(flow)
    assert "Whose data is this request about?" not in html
    assert 'name="subject"' not in html
    # And answering as before still works: the consent is the citizen's own.
    assert Flow(_client(app), _service(demo), flow.citizen).tokens()["consent_id"]


def test_a_registry_that_is_down_leaves_the_page_working(settings, demo, household, tmp_path):
    from dataclasses import replace

    from broker import create_app

    # The registry in a database file that cannot be opened: every read is SourceUnavailable.
    down = replace(settings, civil_registry_url=f"sqlite:///{tmp_path / 'gone' / 'r.sqlite3'}")
    application = create_app({"settings": down, "TESTING": True})
    try:
        flow = Flow(_client(application), _service(demo), household.parents[0])
        url, html = _request_page(flow)
        assert "civil registry cannot be reached just now" in html
        assert 'name="subject"' not in html
        response = _answer(flow, url, html, "me")
        assert response.status_code == 302
        assert "code=" in response.headers["Location"]
        home = flow.client.get("/wallet/")
        assert home.status_code == 200
    finally:
        application.extensions["serdika"].db.dispose()


# --- the wallet ---------------------------------------------------------------------------------

def test_both_parents_see_the_childs_consent_under_the_child(app, broker, demo, household):
    first = Flow(_client(app), _service(demo), household.parents[0])
    consent_id = _decide_for_child(first, broker, household)["consent_id"]

    for parent in household.parents:
        client = _client(app)
        Flow(client, _service(demo), parent).sign_in()
        home = client.get("/wallet/").get_data(as_text=True)
        own, children = _sections(home)
        assert "Consents for Рая Русева (your child)" in children
        assert f'/wallet/consents/{consent_id}"' in children
        assert consent_id not in own

        page = client.get(f"/wallet/consents/{consent_id}")
        assert page.status_code == 200
        assert "This consent is about your child Рая Русева&#39;s data." in \
            page.get_data(as_text=True)
        receipt = re.search(r'href="(/wallet/consents/[^"]+/receipts/[^"]+)"',
                            page.get_data(as_text=True))
        assert receipt is not None
        assert client.get(receipt.group(1)).status_code == 200

    # The other parent pauses, resumes and withdraws it.
    client = _client(app)
    Flow(client, _service(demo), household.parents[1]).sign_in()
    for action, status in (("pause", "paused"), ("resume", "active"), ("revoke", "revoked")):
        page = client.get(f"/wallet/consents/{consent_id}")
        response = client.post(f"/wallet/consents/{consent_id}/{action}",
                               data={"csrf_token": csrf_token(page.get_data(as_text=True))})
        assert response.status_code == 302
        assert _consent(broker, consent_id).status == status


def test_the_childs_consents_come_right_after_the_parents_own(app, broker, demo, household):
    """A parent reads their children's consents before the history of ended ones."""
    consent_id = _decide_for_child(Flow(_client(app), _service(demo), household.parents[0]),
                                   broker, household)["consent_id"]
    client = _client(app)
    Flow(client, _service(demo), household.parents[0]).sign_in()
    home = client.get("/wallet/").get_data(as_text=True)
    active, child, history = (home.index('id="active-title"'),
                              home.index(f'/wallet/consents/{consent_id}"'),
                              home.index('id="history-title"'))
    assert active < child < history


def test_the_childs_consents_are_not_in_a_strangers_wallet(app, broker, demo, household):
    consent_id = _decide_for_child(Flow(_client(app), _service(demo), household.parents[0]),
                                   broker, household)["consent_id"]
    stranger = Flow(_client(app), _service(demo), create_citizen(broker))
    stranger.sign_in()
    assert stranger.client.get(f"/wallet/consents/{consent_id}").status_code == 404
    assert consent_id not in stranger.client.get("/wallet/").get_data(as_text=True)


# --- coming of age ------------------------------------------------------------------------------

def test_at_18_the_parent_is_refused_and_the_child_claims_the_wallet(app, broker, demo,
                                                                    household):
    parent = household.parents[0]
    flow = Flow(_client(app), _service(demo), parent)
    tokens = _decide_for_child(flow, broker, household)
    consent_id = tokens["consent_id"]
    ward_id = _ward_id(broker, household)
    url, html = _request_page(flow)  # answered only after the birthday

    _come_of_age(broker, household)

    # The parent's control has ended, before any job ran.
    client = _client(app)
    Flow(client, _service(demo), parent).sign_in()
    assert client.get(f"/wallet/consents/{consent_id}").status_code == 404
    home = client.get("/wallet/").get_data(as_text=True)
    assert consent_id not in home
    assert "your child" not in home
    for action in ("pause", "revoke"):
        response = client.post(f"/wallet/consents/{consent_id}/{action}",
                               data={"csrf_token": csrf_token(home)})
        assert response.status_code == 404
    assert _consent(broker, consent_id).status == "active"
    assert 'name="subject"' not in client.get(Flow(client, _service(demo), parent)
                                              .authorize_query()).get_data(as_text=True)
    response = _answer(flow, url, html, str(ward_id))
    assert response.status_code == 403

    # The hand-over job records it, once.
    runner = app.test_cli_runner()
    result = runner.invoke(args=["guardianship", "hand-over", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["handed_over"] >= 1
    with broker.db.sessions() as session:
        rows = session.scalars(select(Guardianship).where(
            Guardianship.ward_subject_id == ward_id)).all()
    assert rows and all(row.ended_at is not None for row in rows)
    again = runner.invoke(args=["guardianship", "hand-over", "--json"])
    assert json.loads(again.output) == {"handed_over": 0}

    # The adult child claims the wallet and finds the consent there.
    username = "raya_" + secrets.token_hex(4)
    claimed = runner.invoke(args=["citizen", "add", username, "--password-stdin",
                                  "--national-id", household.child["national_id"], "--json"],
                            input=CITIZEN_PASSWORD + "\n")
    assert claimed.exit_code == 0, claimed.output
    assert json.loads(claimed.output)["id"] == ward_id
    child = {"username": username, "password": CITIZEN_PASSWORD}
    own = _client(app)
    Flow(own, _service(demo), child).sign_in()
    home = own.get("/wallet/").get_data(as_text=True)
    assert f'/wallet/consents/{consent_id}"' in _sections(home)[0]
    page = own.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert "your child" not in page
    # The service still reads under the consent: it is the child's own now.
    read = own.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200
    assert read.get_json()["data"]["given_name"] == "Рая"


def test_a_minor_cannot_claim_the_wallet_from_the_cli(app, broker, demo, household):
    _decide_for_child(Flow(_client(app), _service(demo), household.parents[0]), broker,
                      household)
    result = app.test_cli_runner().invoke(
        args=["citizen", "add", "young_" + secrets.token_hex(3), "--password-stdin",
              "--national-id", household.child["national_id"]],
        input=CITIZEN_PASSWORD + "\n")
    assert result.exit_code != 0
    assert "minor" in result.output


def test_a_child_born_18_years_ago_is_no_ward(app, broker, demo, household):
    today = datetime.now(CITY_TIMEZONE).date()
    household.child["birth_date"] = today - timedelta(days=18 * 366)
    household.write(broker)
    flow = Flow(_client(app), _service(demo), household.parents[0])
    _url, html = _request_page(flow)
    assert 'name="subject"' not in html


def test_the_ledger_says_a_guardian_decided_and_acted(app, broker, demo, household):
    flow = Flow(_client(app), _service(demo), household.parents[0])
    tokens = _decide_for_child(flow, broker, household)
    consent_id = tokens["consent_id"]
    page = flow.client.get(f"/wallet/consents/{consent_id}").get_data(as_text=True)
    assert flow.client.post(f"/wallet/consents/{consent_id}/pause",
                            data={"csrf_token": csrf_token(page)}).status_code == 302
    with broker.db.sessions() as session:
        entries = {row.event: json.loads(row.entry) for row in session.scalars(
            select(LedgerEntry).where(LedgerEntry.consent_id == consent_id))}
    assert entries["consent:granted"]["by"] == "guardian"
    assert entries["consent:paused"]["by"] == "guardian"
    # The entries name the child (by pseudonym), never which parent acted.
    assert entries["consent:granted"]["subject"] == _consent(broker, consent_id).subject_pseudonym


def test_the_parent_is_told_of_the_first_read_of_the_childs_data(app, broker, demo, household):
    from broker.mail import run_once
    from consent.models import Notification

    flow = Flow(_client(app), _service(demo), household.parents[0])
    tokens = _decide_for_child(flow, broker, household)
    read = flow.client.get(PERSON, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert read.status_code == 200
    run_once(app)
    with broker.db.sessions() as session:
        told = set(session.scalars(select(Notification.subject_id).where(
            Notification.consent_id == tokens["consent_id"],
            Notification.kind == "first_read")))
    # The child, and the parent in charge (the other parent once the registry was read for
    # them: guardianships are synced per parent).
    assert {_ward_id(broker, household), household.parents[0]["id"]} <= told
    assert told <= {_ward_id(broker, household), household.parents[0]["id"],
                    household.parents[1]["id"]}
    page = flow.client.get("/wallet/notifications").get_data(as_text=True)
    assert "data for the first time under their consent" in page


def test_no_service_may_ask_for_the_wards_resource(app, demo):
    flow = Flow(_client(app), _service(demo), demo["citizens"][0], details=[{
        "type": "personal_data", "connector": "civil_registry", "resource": "wards",
        "fields": ["wards"], "actions": ["read"], "purpose": "kindergarten_enrolment",
        "duration": "P30D"}])
    flow.sign_in()
    response = flow.client.get(flow.authorize_query())
    assert response.status_code == 302
    assert "error=invalid_authorization_details" in response.headers["Location"]
