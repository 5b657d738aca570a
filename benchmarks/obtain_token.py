"""Run the consent flow against a running broker and print what the load scripts need.

Reuses the end-to-end clients (Authlib for the service, a requests session for the citizen):

    python benchmarks/obtain_token.py http://127.0.0.1:8000 demo.json > token.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import obtain_token, person_details


def main() -> None:
    base_url, demo_file = sys.argv[1], sys.argv[2]
    demo = json.loads(Path(demo_file).read_text())
    service = demo["services"][0]
    client, token = obtain_token(base_url, service, demo["citizens"][0], person_details())
    read = client.read()
    if read.status_code != 200:
        raise SystemExit(f"the token does not read: {read.status_code} {read.text}")
    if not client.introspect(token["access_token"])["active"]:
        raise SystemExit("the token is not active")
    json.dump({"access_token": token["access_token"], "consent_id": token["consent_id"],
               "client_id": service["client_id"], "client_secret": service["client_secret"]},
              sys.stdout)


if __name__ == "__main__":
    main()
