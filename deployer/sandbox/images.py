"""The sandbox's image registry: which behaviour each image name stands for.

A release changes only the image, so a faulty version is an image whose tasks run the example
app with fault settings, e.g. `example/web:3: {ERROR_RATE: "0.2"}`. Images not listed run the
app as is; APP_VERSION is the image tag.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from deployer.errors import ConfigError


def load_images(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None or not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    images = data.get("images", {}) if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise ConfigError([f"{path}: expected `images:` mapping image names to environment settings"])
    out = {}
    for image, env in images.items():
        if not isinstance(env, dict):
            raise ConfigError([f"{path}: images.{image}: expected a mapping of environment variables"])
        out[str(image)] = {str(k): str(v) for k, v in env.items()}
    return out


def image_env(image: str, images: dict[str, dict[str, str]]) -> dict[str, str]:
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    return {"APP_VERSION": tag, **images.get(image, {})}
