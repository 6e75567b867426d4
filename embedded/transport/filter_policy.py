"""SNS subscription filter policies on message attributes: the exact-match subset we use.

A policy maps attribute names to lists of allowed values; a message matches when every named
attribute is present with one of its values (shared/contracts/topology.py filters on `type` this
way).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def parse(policy_json: str) -> dict[str, list[str]]:
    """Read a policy, refusing the operators (prefix, numeric, ...) this transport lacks."""
    policy = json.loads(policy_json)
    if not isinstance(policy, dict):
        raise ValueError("a filter policy is a JSON object")
    for name, allowed in policy.items():
        if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
            raise ValueError(f"filter on {name!r}: only lists of exact string values are supported")
    return policy


def matches(policy: Mapping[str, list[str]], attributes: Mapping[str, Any]) -> bool:
    return all(
        attributes.get(name, {}).get("StringValue") in allowed for name, allowed in policy.items()
    )
