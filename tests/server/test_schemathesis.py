"""Property-based API check: schemathesis sends requests generated from the server's own
OpenAPI document (``/api/openapi.json``) to a real server with the workspace token, and no
answer may be a 5xx (``not_a_server_error``): bad input gets a 4xx that says what is wrong.

Bounded for CI: a few examples per operation, derandomized (the same requests every run),
no shrinking, no deadline.

Excluded, because they launch processes (a run host, an environment build, a scoring
server) from whatever definition the generator invents:

- ``POST /api/runs``: a run with a ``definition.script`` is queued and the scheduler
  starts a run host for it (building its environment first);
- ``POST /api/sweeps``: a sweep starts child runs the same way;
- ``POST /api/deployments`` and ``PATCH /api/deployments/{name}``: they build the
  deployment's environment and start its scoring server.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

LAUNCHING = [("POST", "/api/runs"), ("POST", "/api/sweeps"), ("POST", "/api/deployments"),
             ("PATCH", "/api/deployments/{name}")]


@pytest.fixture(scope="module")
def api_schema(ws):
    return schemathesis.openapi.from_url(ws._client.base_url + "/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    name=["%s %s" % pair for pair in LAUNCHING])


@schema.parametrize()
@settings(max_examples=10, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, ws):
    case.call_and_validate(headers={"Authorization": "Bearer " + ws._client.token},
                           checks=[schemathesis.checks.not_a_server_error], timeout=30)
