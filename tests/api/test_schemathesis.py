"""Property-based: every operation in /openapi.json, with a valid key, never 5xx, never off-schema.

Bounded (a few examples per operation) so CI stays fast. Enqueues need no worker: they queue
in the test Redis database, which the fixtures flush.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api.app import all_operations, create_app
from api.openapi import build_document


@pytest.fixture
def api_settings(base_settings, api_redis_url):
    """Wait mode returns within 0.3 s here: the generated ?wait values must not slow the run."""
    return base_settings.replace(redis_url=api_redis_url, sync_timeout_ms=300)


@pytest.fixture
def app(api_settings, store, broker_app, api_redis):
    """Schemathesis sends many deliberately bad keys (its auth checks): no failed-key limit here."""
    app = create_app(api_settings, store=store, celery_app=broker_app, redis_client=api_redis,
                     auth_max_failures=1_000_000, auth_window_s=2, last_used_interval_s=0.2)
    yield app
    app.extensions["pims_sync"].close()


# the document the app serves is built from the same operations (test_probes checks it covers every route)
schema = schemathesis.openapi.from_dict(build_document(all_operations()))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, server, key):
    # positive_data_acceptance is left out on purpose: cross-field rules (endDate >= startDate, at
    # most 90 days) and a date's year bounds (formatMinimum/formatMaximum, which generators ignore)
    # cannot be said in JSON Schema, so some schema-valid bodies are rightly refused with 400;
    # every other check applies
    case.call_and_validate(base_url=server, headers=key.headers, excluded_checks=[positive_data_acceptance])


def test_the_served_document_is_the_tested_one(client):
    assert client.get("/openapi.json").get_json() == build_document(all_operations())
