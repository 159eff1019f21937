"""JSON Schema of deployer.yaml, for editors (yaml-language-server and friends)."""

from __future__ import annotations

import json

import msgspec

from deployer.spec.checked import schema_hook
from deployer.spec.models import DeployerConfig


def json_schema() -> dict:
    (ref,), components = msgspec.json.schema_components([DeployerConfig], schema_hook=schema_hook, ref_template="#/$defs/{name}")
    schema = {**components[ref["$ref"].rsplit("/", 1)[1]], "$defs": components}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "deployer.yaml"
    # `name` comes from the key under `services`; editors should not ask for it.
    service = schema["$defs"].get("Service", {})
    if "name" in service.get("required", []):
        service["required"].remove("name")
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)
