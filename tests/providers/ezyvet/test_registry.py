"""The provider registry and the worker's choice of provider per clinic."""

from __future__ import annotations

import pytest

from pims_sync.errors import ConfigError, PimsHostRefused
from pims_sync.models import Clinic
from pims_sync.providers.ezyvet.provider import EzyvetProvider
from pims_sync.providers.idexx.provider import IdexxProvider
from pims_sync.providers.registry import API_QUEUE, BROWSER_QUEUE, provider_spec, queue_for
from workers.runtime import RefusedProvider, WorkerRuntime


def test_specs_declare_fields_browser_limits_and_queue():
    idexx, ezy = provider_spec("idexx"), provider_spec("ezyvet")
    assert idexx is provider_spec("idexx-neo") is provider_spec(None)
    assert idexx.field_names == ("username", "password", "company_id") and idexx.needs_browser
    assert ezy.field_names == ("partner_id", "client_id", "client_secret", "site_uid") and not ezy.needs_browser
    assert (ezy.rate_limit.per_endpoint, ezy.rate_limit.per_site) == (60, 180)
    assert [f.name for f in ezy.credential_fields if f.secret] == ["client_secret"]
    assert queue_for("idexx") == BROWSER_QUEUE and queue_for("ezyvet") == API_QUEUE
    with pytest.raises(ConfigError, match="clinics.pims_provider"):
        provider_spec("cornerstone")


def test_the_worker_builds_the_clinics_provider_or_refuses_naming_the_field(base_settings):
    rt = WorkerRuntime(base_settings)
    clinic = Clinic(id="c1", name="x", timezone="America/Chicago")
    assert isinstance(rt.provider_for(clinic), IdexxProvider)
    ezy = rt.provider_for(Clinic(id="c2", name="x", timezone="UTC", pims_provider="ezyvet"))
    assert isinstance(ezy, EzyvetProvider) and ezy.client.base_url == "https://api.ezyvet.com"
    trial = rt.provider_for(Clinic(id="c3", name="x", timezone="UTC", pims_provider="ezyvet",
                                   pims_host="api.trial.ezyvet.com"))
    assert trial.client.base_url == "https://api.trial.ezyvet.com"
    # the client secret never goes to a host nobody allowed, nor does an unknown provider run
    for bad in (Clinic(id="c4", name="x", timezone="UTC", pims_provider="ezyvet", pims_host="evil.example.com"),
                Clinic(id="c5", name="x", timezone="UTC", pims_provider="cornerstone")):
        refused = rt.provider_for(bad)
        assert isinstance(refused, RefusedProvider)
        with pytest.raises(ConfigError) as e:
            refused.appointments(None, None)
        assert bad.id in str(e.value) or "pims_provider" in str(e.value)
    with pytest.raises(PimsHostRefused, match="IDEXX_EXTRA_HOSTS"):
        rt.provider_for(Clinic(id="c4", name="x", timezone="UTC", pims_provider="ezyvet",
                               pims_host="evil.example.com")).ensure_session()
