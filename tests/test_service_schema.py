"""Property-based API test: schemathesis generates requests from ``reme serve``'s OpenAPI schema (valid and
invalid bodies, parameters and paths for every operation) and checks that none gets a server error and that every
response matches the schema. ``REME_SCHEMA_EXAMPLES`` raises the number of examples per operation (default 25)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from reme.llm.types import ChatResult  # noqa: E402
from reme.memory import Memory  # noqa: E402
from reme.retrieval.embedding import RandomEncoder  # noqa: E402
from reme.service import create_app  # noqa: E402

EXAMPLES = int(os.environ.get("REME_SCHEMA_EXAMPLES", "25"))


class ConstantLLM:
    """Answers every prompt with one text that is both a valid compaction summary (a ``##`` heading) and a valid
    summariser reply (an empty JSON array of memories), with made-up but valid token log-probabilities."""

    model = "constant"
    text = "## Summary\nNothing to keep.\n[]"

    def chat(self, messages: list[dict[str, Any]], **_: Any) -> ChatResult:
        return ChatResult(text=self.text, tokens=[self.text], token_logprobs=[-0.1], model=self.model, backend="test")

    async def achat(self, messages: list[dict[str, Any]], **kw: Any) -> ChatResult:
        return self.chat(messages, **kw)


_root = tempfile.mkdtemp(prefix="reme-schema-")
_memory = Memory(f"{_root}/ws", encoder=RandomEncoder(32))
_memory.add("Alice moved to Lisbon in May 2024.", "user:alice")
# schemathesis's in-process client sends Host: testserver; the rate limit would answer most cases 429 and hide
# the endpoints' own behaviour (it is tested in test_hardening.py)
_app = create_app(
    f"{_root}/ws",
    memory=_memory,
    llm=ConstantLLM(),
    max_body_bytes=1 << 16,
    extra_hosts=["testserver"],
    rate_limit=None,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_responses_match_the_schema(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
