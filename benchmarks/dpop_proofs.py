"""Get a DPoP-bound token through the real consent flow and write fresh proofs for wrk.

wrk cannot sign, so the proofs are made before the run: one per request, each with its own
``jti`` (a used one is refused on every node) and the token's ``ath``, all within the
proofs' ``iat`` window (SERDIKA_DPOP_WINDOW, 60 s by default) of the run:

    python benchmarks/dpop_proofs.py http://127.0.0.1:8000 demo.json 40000 proofs.lua
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import requests
from requests_oauth2client import ClientSecretBasic, DPoPKey, OAuth2Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import PERSON_URL, REDIRECT_URI, Browser, Service, person_details


def main() -> None:
    base_url, demo_file, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    demo = json.loads(Path(demo_file).read_text())
    registration = demo["services"][0]
    front = Service(base_url, registration)
    code = front.code_from(Browser(base_url, demo["citizens"][0]).consent(
        front.authorization_url(person_details())))
    client = OAuth2Client(
        token_endpoint=f"{base_url}/oauth2/token",
        auth=ClientSecretBasic(registration["client_id"], registration["client_secret"]),
        testing=True,
    )
    key = DPoPKey.generate(alg="ES256")
    token = client.authorization_code(code, dpop=True, dpop_key=key,
                                      redirect_uri=REDIRECT_URI, code_verifier=front.verifier)
    url = f"{base_url}{PERSON_URL}"
    read = requests.get(url, auth=token, timeout=10)
    if read.status_code != 200:
        raise SystemExit(f"the DPoP-bound token does not read: {read.status_code} {read.text}")
    ath = base64.urlsafe_b64encode(
        hashlib.sha256(token.access_token.encode()).digest()).rstrip(b"=").decode()
    with open(out, "w") as lua:
        lua.write(f'token = "{token.access_token}"\nproofs = {{\n')
        for _ in range(count):
            lua.write(f'"{key.proof(htm="GET", htu=url, ath=ath)}",\n')
        lua.write("}\n")


if __name__ == "__main__":
    main()
