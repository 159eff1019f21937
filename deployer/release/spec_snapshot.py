"""The service's spec as the release was planned, stored with its plan: whoever carries a release on
without deployer.yaml at hand (the judge function, the guard) reads it from the record."""

from __future__ import annotations

import json

from deployer.spec import Service

KEY = "spec"  # in the record's plan part (written once, compressed)


def with_spec(plan_dict: dict, service: Service) -> dict:
    """The plan's dict with the service's spec beside it."""
    import msgspec

    from deployer.spec.checked import enc_hook

    return {**plan_dict, KEY: json.loads(msgspec.json.encode(service, enc_hook=enc_hook))}


def service_of(plan_dict: dict) -> Service | None:
    """The spec stored with a plan; None for a plan stored before specs were (an older deployer).
    A spec this deployer cannot read (stored by a newer one: a field it does not know) is a
    ConfigError saying so, never a traceback."""
    data = (plan_dict or {}).get(KEY)
    if not data:
        return None
    import msgspec

    from deployer.errors import ConfigError
    from deployer.spec.loader import convert

    try:
        return convert(data, Service)
    except msgspec.ValidationError as exc:
        raise ConfigError([f"the release's stored spec is not one this deployer reads ({exc})"],
                          hint="run `deployer judge install` from the deployer that released it") from None
