"""The ezyVet simulator's contract (docs/EZYVET_API.md), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import requests

from pims_sync.ezyvet_simulator import EzyvetSimulator


@pytest.fixture
def sim():
    with EzyvetSimulator(seed=3, sites=2, appointments_per_day=30, per_endpoint=5, per_site=8) as s:
        yield s


def _token_body(site: dict, **over) -> dict:
    body = {"partner_id": site["partner_id"], "client_id": site["client_id"], "client_secret": site["client_secret"],
            "grant_type": "client_credentials", "scope": "read-appointment,read-animal", "site_uid": site["site_uid"]}
    return {**body, **over}


def test_the_same_seed_gives_the_same_world():
    with EzyvetSimulator(seed=3, sites=2) as a, EzyvetSimulator(seed=3, sites=2) as b:
        assert a.sites == b.sites
    with EzyvetSimulator(seed=4, sites=2) as c:
        assert c.sites != a.sites


def test_tokens_lists_filters_paging_and_errors(sim):
    site, other = sim.sites
    url = sim.url
    # JSON and form bodies both give a bearer token with expires_in
    as_json = requests.post(f"{url}/v1/oauth/access_token", json=_token_body(site), timeout=10).json()
    as_form = requests.post(f"{url}/v1/oauth/access_token", data=_token_body(site), timeout=10).json()
    assert as_json["token_type"] == as_form["token_type"] == "Bearer" and as_json["expires_in"] == 43_200
    auth = {"Authorization": f"Bearer {as_json['access_token']}"}
    # refusals: a wrong secret is 401 with the messages envelope; an unknown site 404
    bad = requests.post(f"{url}/v1/oauth/access_token", json=_token_body(site, client_secret="x"), timeout=10)
    assert bad.status_code == 401 and bad.json()["messages"][0]["level"] == "error"
    assert requests.post(f"{url}/v1/oauth/access_token", json=_token_body(site, site_uid="site_nope"),
                         timeout=10).status_code == 404
    assert requests.post(f"{url}/v1/oauth/access_token", json=_token_body(other, site_uid=site["site_uid"]),
                         timeout=10).status_code == 401
    # default page of 10, meta says how many pages; the cap is 200
    first = requests.get(f"{url}/v2/appointment", headers=auth, timeout=10)
    meta = first.json()["meta"]
    assert meta["items_page_size"] == 10 and len(first.json()["items"]) == 10
    assert meta["items_page_total"] == -(-meta["items_total"] // 10)
    assert first.headers["x-ratelimit-limit"] == "5" and first.headers["x-item-limit-per-page"] == "200"
    big = requests.get(f"{url}/v2/appointment", headers=auth, params={"limit": 500}, timeout=10).json()
    assert big["meta"]["items_page_size"] == 200 and len(big["items"]) == 200
    # items are wrapped in their resource's name; v2 typed, v1 strings
    appt = big["items"][0]["appointment"]
    assert isinstance(appt["start_at"], int) and isinstance(appt["active"], bool)
    lo = appt["start_at"]
    ranged = requests.get(f"{url}/v2/appointment", headers=auth, timeout=10,
                          params={"start_at": json.dumps({"gte": lo, "lt": lo + 3600}), "limit": 200}).json()
    assert ranged["items"] and all(lo <= i["appointment"]["start_at"] < lo + 3600 for i in ranged["items"])
    animals = requests.get(f"{url}/v1/animal", headers=auth, timeout=10,
                           params={"id": json.dumps({"in": [1, "2", 3]})}).json()
    assert sorted(i["animal"]["id"] for i in animals["items"]) == ["1", "2", "3"]
    assert requests.get(f"{url}/v1/animal", headers=auth, params={"id": '{"between": 1}'},
                        timeout=10).status_code == 400
    # rate limit: 5 calls a minute per endpoint here, 3 used: two more pass, the next is a 429
    codes = [requests.get(f"{url}/v2/appointment", headers=auth, timeout=10) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    throttled = codes[-1]
    assert int(throttled.headers["x-ratelimit-reset"]) >= 1 and throttled.headers["x-ratelimit-remaining"] == "0"
    assert throttled.json()["messages"][0]["type"] == "TooManyRequestsException"
    stats = requests.get(f"{url}/__sim/stats", timeout=10).json()
    assert stats["rate_limited"] >= 1 and stats["tokens_issued"] == {site["site_uid"]: 2}
    # a dead token: 401 with the envelope naming the access token
    requests.post(f"{url}/__sim/tokens/expire", timeout=10)
    dead = requests.get(f"{url}/v1/species", headers=auth, timeout=10)
    assert dead.status_code == 401 and "access token" in dead.json()["messages"][0]["text"]
    # siteInformation; an expired trial site answers 404
    fresh = requests.post(f"{url}/v1/oauth/access_token", data=_token_body(other), timeout=10).json()
    other_auth = {"Authorization": f"Bearer {fresh['access_token']}"}
    info = requests.get(f"{url}/v3/siteInformation", headers=other_auth, timeout=10).json()
    assert info["items"][0]["siteinformation"]["timezone"] == other["timezone"]
    requests.post(f"{url}/__sim/sites/2/expire", timeout=10)
    assert requests.get(f"{url}/v1/species", headers=other_auth, timeout=10).status_code == 404
