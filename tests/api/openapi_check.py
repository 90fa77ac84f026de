"""Check a real answer against the published /openapi.json: a documented status, media type and schema."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs


class DocumentedAnswers:
    """Validates answers against one OpenAPI document and remembers which operations answered what."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()
        self._validators: dict[str, Any] = {}

    def operation_for(self, method: str, url: str) -> str:
        """The document's path template that a concrete URL path matches."""
        path = url.split("?", 1)[0]
        for template, ops in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
            if method.lower() in ops and re.match(pattern, path):
                return template
        raise AssertionError(f"{method} {path} is not in /openapi.json")

    def check(self, method: str, url: str, resp: Any) -> Any:
        """Assert the answer is documented and valid; returns it for chaining."""
        template = self.operation_for(method, url)
        responses = self.document["paths"][template][method.lower()]["responses"]
        status = str(resp.status_code)
        assert status in responses, (
            f"{method} {url} answered {status}, which /openapi.json does not document "
            f"(documented: {sorted(responses)}): {resp.get_data(as_text=True)[:300]}")
        content = responses[status]["content"]
        assert resp.mimetype in content, f"{method} {url} {status}: {resp.mimetype} not in {sorted(content)}"
        schema = content[resp.mimetype]["schema"]
        if resp.mimetype == "application/json":
            body = resp.get_json()
            ref = schema["$ref"]
            if ref not in self._validators:
                root = {"$ref": ref, "components": self.document["components"]}
                self._validators[ref] = jsonschema_rs.Draft202012Validator(root)
            errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}"
                      for e in self._validators[ref].iter_errors(body)]
            assert not errors, f"{method} {url} {status} does not match {ref}: {errors}; body: {body}"
        else:
            assert schema == {"type": "string"} and isinstance(resp.get_data(as_text=True), str)
        self.seen.add((method.upper(), template, resp.status_code))
        return resp

    def operations(self) -> set[tuple[str, str]]:
        return {(m.upper(), p) for p, ops in self.document["paths"].items() for m in ops}


class CheckedClient:
    """A Flask test client whose every answer is checked against the app's own /openapi.json."""

    def __init__(self, client: Any):
        self.client = client
        self.answers = DocumentedAnswers(client.get("/openapi.json").get_json())

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.answers.check("GET", url, self.client.get(url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.answers.check("POST", url, self.client.post(url, **kwargs))
