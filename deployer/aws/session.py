"""One factory for boto3 clients: region, profile and endpoint override in one place.

`AWS_ENDPOINT_URL` (or `--endpoint-url`) points every client at another endpoint, which is
how the sandbox and the tests reach an emulated AWS with the same code paths.
Botocore's own retries are off: `deployer.aws.base` retries idempotent calls only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from deployer.errors import ConfigError


@dataclass(frozen=True)
class AwsSettings:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    static_key: str | None = None  # an emulated account's key (the sandbox): used as key id and secret

    @classmethod
    def emulated(cls, endpoint_url: str, region: str, key: str) -> "AwsSettings":
        """Settings for an emulated AWS on `endpoint_url` (the sandbox's moto) with a dummy key."""
        return cls(region=region, endpoint_url=endpoint_url, static_key=key)

    @classmethod
    def from_env(cls, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> "AwsSettings":
        return cls(
            region=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            profile=profile or os.environ.get("AWS_PROFILE") or None,
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        )


@dataclass
class ClientFactory:
    settings: AwsSettings
    _session: Any = field(default=None, init=False, repr=False)
    _clients: dict = field(default_factory=dict, init=False, repr=False)

    def client(self, service: str):
        if service not in self._clients:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import ProfileNotFound

            if self._session is None:
                try:
                    key = self.settings.static_key
                    credentials = {"aws_access_key_id": key, "aws_secret_access_key": key} if key else {}
                    self._session = boto3.session.Session(profile_name=self.settings.profile, region_name=self.settings.region,
                                                          **credentials)
                except ProfileNotFound:
                    raise ConfigError([f"AWS profile {self.settings.profile!r} not found"], hint="check AWS_PROFILE or --profile") from None
            if not self._session.region_name:
                raise ConfigError(["no AWS region set"], hint="set AWS_REGION or pass --region")
            config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30, user_agent_extra="deployer")
            kwargs = {"config": config}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            self._clients[service] = self._session.client(service, **kwargs)
        return self._clients[service]
