"""The TypeScript service's README examples, pasted verbatim, work against this API.

The four `/api/sync/*` curl lines are copied as the seed README prints them (only the port and
the key are filled in) and run with the real `curl` against the API over HTTP. Three of them send
`-d '{...}'` without a Content-Type, which curl labels form-encoded: the body is still JSON, so
it is accepted. Each example uses its own clinic, since one clinic runs one sync at a time.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

SEED_EXAMPLES = {
    "full": """curl -X POST http://localhost:5050/api/sync/full \\
  -H "Content-Type: application/json" \\
  -H "X-API-Key: your-clinic-api-key" \\
  -d '{
    "daysAhead": 7,
    "lookbackDays": 7
  }'""",
    "inbound": """curl -X POST http://localhost:5050/api/sync/inbound \\
  -H "X-API-Key: your-clinic-api-key" \\
  -d '{
    "startDate": "2026-01-17",
    "endDate": "2026-01-24"
  }'""",
    "cases": """curl -X POST http://localhost:5050/api/sync/cases \\
  -H "X-API-Key: your-clinic-api-key" \\
  -d '{
    "startDate": "2026-01-17",
    "parallelBatchSize": 5
  }'""",
    "reconcile": """curl -X POST http://localhost:5050/api/sync/reconcile \\
  -H "X-API-Key: your-clinic-api-key" \\
  -d '{
    "lookbackDays": 7
  }'""",
}


@pytest.mark.parametrize("name", sorted(SEED_EXAMPLES))
def test_the_seed_curl_example_is_accepted_verbatim(name, server, store, make_key):
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed; these tests run the seed's examples with the real curl")
    clinic = store.create_clinic(name=f"Seed Example {name}", timezone="America/Los_Angeles")
    key = make_key(clinic.id)
    port = server.rsplit(":", 1)[1]
    command = SEED_EXAMPLES[name].replace("localhost:5050", f"127.0.0.1:{port}").replace("your-clinic-api-key", key.raw)

    done = subprocess.run(["bash", "-c", command + " -sS -w '\\n%{http_code}'"], capture_output=True, text=True,
                          timeout=60)

    body, _, status = done.stdout.rpartition("\n")
    assert status == "202", (status, body, done.stderr)
    answer = json.loads(body)
    assert answer["syncId"] and answer["statusUrl"].endswith(answer["syncId"])


def test_a_body_that_is_not_json_still_gets_415_when_not_labelled_json(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, data="daysAhead=7",
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415 and resp.get_json()["error"]["code"] == "unsupported_media_type"


def test_a_json_array_without_the_json_label_is_refused(client, key):
    resp = client.post("/api/sync/inbound", headers=key.headers, data="[1, 2]",
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415


@pytest.mark.parametrize("body", ["[" * 50_000, '{"a":' * 65 + "1" + "}" * 65, "[" * 65 + "]" * 65])
def test_deeply_nested_json_is_a_400_not_a_crash(client, key, body):
    resp = client.post("/api/sync/inbound", headers=key.headers, data=body, content_type="application/json")
    assert resp.status_code == 400, resp.data[:200]
    assert resp.get_json()["error"]["code"] == "malformed_json"
