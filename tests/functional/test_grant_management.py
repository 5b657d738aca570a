"""Grant Management for OAuth 2.0 (the FAPI draft): grant_id in token responses, update and
replace of a consent by a later authorization request, and the grant management endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from consent.models import Consent, ConsentStatus
from tests.flows import Flow, basic, create_citizen, person_details

PERSON = "/api/v1/data/civil_registry/person"


def _ask(client: Any, service: dict[str, Any], citizen: dict[str, Any], fields: list[str]
         ) -> Flow:
    return Flow(client, service, citizen, details=person_details(fields), fresh=False)


def _status(client: Any, token: str, fields: str) -> int:
    """404: the decision let the read through to the source, which does not know a citizen
    made by the test; 401 or 403: refused."""
    return client.get(f"{PERSON}?fields={fields}",
                      headers={"Authorization": f"Bearer {token}"}).status_code


def _service_token(client: Any, service: dict[str, Any], scope: str) -> str:
    response = client.post("/oauth2/token", headers=basic(service["client_id"],
                                                          service["client_secret"]),
                           data={"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["access_token"])


def _refresh(client: Any, service: dict[str, Any], refresh_token: str) -> Any:
    return client.post("/oauth2/token", headers=basic(service["client_id"],
                                                      service["client_secret"]),
                       data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _scope(broker: Any, consent_id: str) -> list[str]:
    with broker.db.sessions() as session:
        consent = session.get(Consent, consent_id)
        return [name for item in consent.scope for name in item["fields"]]


@pytest.fixture
def granted(client, demo, broker) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    citizen = create_citizen(broker)
    service = demo["services"][0]
    tokens = _ask(client, service, citizen, ["given_name"]).tokens()
    return citizen, service, tokens


def test_every_token_response_names_its_grant(client, granted):
    _, service, tokens = granted
    assert tokens["grant_id"] == tokens["consent_id"]
    refreshed = _refresh(client, service, tokens["refresh_token"]).get_json()
    assert refreshed["grant_id"] == tokens["consent_id"]


@pytest.mark.parametrize("action", ["update", "merge"])
def test_update_merges_the_request_into_the_grant(client, broker, granted, action):
    citizen, service, tokens = granted
    again = _ask(client, service, citizen, ["family_name"]).tokens(
        grant_id=tokens["grant_id"], grant_management_action=action)
    assert again["grant_id"] == tokens["grant_id"]
    assert _scope(broker, tokens["grant_id"]) == ["given_name", "family_name"]
    # The tokens issued before keep working, for the merged scope.
    assert _status(client, tokens["access_token"], "given_name,family_name") == 404


def test_the_consent_page_shows_what_an_update_adds(client, granted):
    citizen, service, tokens = granted
    flow = _ask(client, service, citizen, ["family_name"])
    flow.sign_in()
    client.set_cookie("serdika_lang", "en")
    page = client.get(flow.authorize_query(grant_id=tokens["grant_id"],
                                           grant_management_action="update"))
    change = page.get_data(as_text=True).split('id="change"')[1].split("</section>")[0]
    assert "It may also read" in change and "no longer read" not in change


def test_replace_supersedes_the_grant_and_ends_its_earlier_tokens(client, broker, granted):
    citizen, service, tokens = granted
    again = _ask(client, service, citizen, ["family_name"]).tokens(
        grant_id=tokens["grant_id"], grant_management_action="replace")
    assert again["grant_id"] == tokens["grant_id"]
    assert _scope(broker, tokens["grant_id"]) == ["family_name"]
    assert _status(client, tokens["access_token"], "family_name") == 401
    refresh = _refresh(client, service, tokens["refresh_token"])
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"
    assert _status(client, again["access_token"], "family_name") == 404
    assert _status(client, again["access_token"], "given_name") == 403


@pytest.mark.parametrize(("overrides", "error"), [
    ({"grant_management_action": "update"}, "invalid_request"),
    ({"grant_management_action": "create", "grant_id": "GRANT"}, "invalid_request"),
    ({"grant_management_action": "destroy", "grant_id": "GRANT"}, "invalid_request"),
    ({"grant_management_action": "update", "grant_id": "cns_unknown"}, "invalid_grant_id"),
])
def test_bad_grant_management_parameters_go_back_to_the_service(client, granted, overrides,
                                                                 error):
    citizen, service, tokens = granted
    flow = _ask(client, service, citizen, ["family_name"])
    flow.sign_in()
    query = {key: (tokens["grant_id"] if value == "GRANT" else value)
             for key, value in overrides.items()}
    response = client.get(flow.authorize_query(**query))
    assert response.status_code == 302
    answer = parse_qs(urlsplit(response.headers["Location"]).query)
    assert answer["error"] == [error] and answer["state"] == [flow.state]


def test_another_services_grant_id_is_unknown_to_a_service(client, demo, granted):
    citizen, _, tokens = granted
    other = demo["services"][1]
    flow = Flow(client, other, citizen, fresh=False,
                details=person_details(["given_name"], purpose="public_transport_card"))
    flow.sign_in()
    response = client.get(flow.authorize_query(grant_id=tokens["grant_id"],
                                               grant_management_action="update"))
    answer = parse_qs(urlsplit(response.headers["Location"]).query)
    assert answer["error"] == ["invalid_grant_id"]


# --- the grant management endpoint -----------------------------------------------------------


def test_a_service_queries_its_grant(client, granted):
    _, service, tokens = granted
    token = _service_token(client, service, "grant_management_query")
    response = client.get(f"/oauth2/grants/{tokens['grant_id']}",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["grant_id"] == tokens["grant_id"] and body["status"] == "active"
    assert body["authorization_details"][0]["fields"] == ["given_name"]
    assert body["expires_at"]
    assert response.headers["Cache-Control"] == "no-store"


def test_another_service_cannot_see_or_end_the_grant(client, demo, broker, granted):
    _, _, tokens = granted
    other = demo["services"][1]
    query = _service_token(client, other, "grant_management_query grant_management_revoke")
    headers = {"Authorization": f"Bearer {query}"}
    assert client.get(f"/oauth2/grants/{tokens['grant_id']}", headers=headers).status_code == 404
    assert client.delete(f"/oauth2/grants/{tokens['grant_id']}",
                         headers=headers).status_code == 404
    with broker.db.sessions() as session:
        assert session.get(Consent, tokens["grant_id"]).status == ConsentStatus.ACTIVE


def test_the_right_scope_is_needed(client, granted):
    _, service, tokens = granted
    query_only = _service_token(client, service, "grant_management_query")
    response = client.delete(f"/oauth2/grants/{tokens['grant_id']}",
                             headers={"Authorization": f"Bearer {query_only}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_deleting_a_grant_ends_it_like_a_withdrawal(client, broker, granted):
    _, service, tokens = granted
    token = _service_token(client, service, "grant_management_revoke grant_management_query")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.delete(f"/oauth2/grants/{tokens['grant_id']}", headers=headers).status_code == 204
    assert client.get(f"/oauth2/grants/{tokens['grant_id']}", headers=headers).status_code == 404
    assert _status(client, tokens["access_token"], "given_name") == 401
    refresh = _refresh(client, service, tokens["refresh_token"])
    assert refresh.get_json()["error"] == "invalid_grant"
    with broker.db.sessions() as session:
        consent = session.scalar(select(Consent).where(Consent.id == tokens["grant_id"]))
        assert (consent.status, consent.revoked_by) == (ConsentStatus.REVOKED, "service")


@pytest.mark.parametrize("grant_id", ["cns_unknown", "x" * 300, "a%00b"])
def test_unknown_or_odd_grant_ids_are_404(client, demo, grant_id):
    token = _service_token(client, demo["services"][0], "grant_management_query")
    response = client.get(f"/oauth2/grants/{grant_id}",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_metadata_names_the_grant_management_endpoint(client):
    document = client.get("/.well-known/oauth-authorization-server").get_json()
    assert document["grant_management_endpoint"] == "http://localhost/oauth2/grants"
    assert document["grant_management_actions_supported"] == ["create", "update", "replace"]


def test_a_grant_of_another_citizen_is_refused_in_the_wallet(app, client, broker, granted):
    _, service, tokens = granted
    stranger = create_citizen(broker)
    other_browser = app.test_client()
    flow = _ask(other_browser, service, stranger, ["family_name"])
    flow.sign_in()
    url = flow.authorize_query(grant_id=tokens["grant_id"], grant_management_action="update")
    other_browser.set_cookie("serdika_lang", "en")
    page = other_browser.get(url)
    assert page.status_code == 409
    assert "not yours or is no longer in force" in page.get_data(as_text=True)
    assert _scope(broker, tokens["grant_id"]) == ["given_name"]
