from tests.flows import Flow


def test_allow_read_revoke(client, demo):
    flow = Flow(client, demo["services"][0], demo["citizens"][0])
    tokens = flow.tokens()
    assert tokens["consent_id"].startswith("cns_")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    read = client.get("/api/v1/data/civil_registry/person", headers=headers)
    assert read.status_code == 200, read.get_data(as_text=True)
    body = read.get_json()
    assert set(body["data"]) == {"given_name", "family_name", "birth_date", "address"}
    page = client.get(f"/wallet/consents/{tokens['consent_id']}")
    assert page.status_code == 200
    from tests.flows import csrf_token

    revoked = client.post(f"/wallet/consents/{tokens['consent_id']}/revoke",
                          data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert revoked.status_code == 302
    again = client.get("/api/v1/data/civil_registry/person", headers=headers)
    assert again.status_code == 401
    assert again.get_json()["error"] == "invalid_token"
