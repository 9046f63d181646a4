"""Property-based requests from the OpenAPI document: no 5xx, and every answer matches the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.http.conftest import InProcess, make_inproc

# Bounded so the whole test stays well under two minutes on two busy cores.
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    # Long polls are capped short: generated `wait` values would otherwise hold each case for seconds.
    for served in make_inproc(Path(tmp_path_factory.mktemp("schemathesis")), events_wait_seconds_max=0.01):
        c = served.client
        c.post("/v1/accounts", json={"id": "@world", "currency": "USD", "min_balance": None})
        c.post("/v1/accounts", json={"id": "user:1", "currency": "USD"})
        c.post("/v1/transfers", json={"id": "t1", "source": "@world", "destination": "user:1", "amount": 100})
        c.post("/v1/transfers", json={"id": "h1", "source": "user:1", "destination": "@world", "amount": 5,
                                      "pending": True})  # fmt: skip
        yield served


@pytest.fixture(scope="module")
def api_schema(app: InProcess) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app.client.app)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_every_operation_answers_within_its_documented_shapes(api_schema: Any, app: InProcess, mode: Any) -> None:
    headers = {"Authorization": f"Bearer {app.admin}"}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            continue  # nothing to break: an operation without parameters or body has no negative cases
        except Exception as error:
            raise AssertionError(f"{operation.label} ({mode.value}): {error}") from error
