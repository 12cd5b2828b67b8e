"""Durations in the spelling the provider reads back.

- Containers: the provider reads a healthcheck's durations back with Go's `time.Duration.String()`
  (kreuzwerker/terraform-provider-docker `internal/provider/resource_docker_container_funcs.go`,
  `healthcheck`): 300 s is `5m0s`.
- Swarm services: `shortDur` in `internal/provider/resource_docker_service_structures.go`, which is
  `Duration.String()` without a trailing `0s` after minutes and `0m` after hours: 300 s is `5m`.

A duration sent as `300s` differs from state on every run (for a service: an update that rolls it).
"""

from __future__ import annotations


def go_duration(seconds: int) -> str:
    """Go's `time.Duration.String()` of whole seconds: `0s`, `45s`, `1m30s`, `5m0s`, `1h0m0s`."""
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def short_duration(seconds: int) -> str:
    """The provider's `shortDur`: `5m0s` becomes `5m`, `1h0m0s` becomes `1h`."""
    text = go_duration(seconds)
    if text.endswith("m0s"):
        text = text[:-2]
    if text.endswith("h0m"):
        text = text[:-2]
    return text


def parse_go_duration(text: str) -> int:
    """Whole seconds of a duration written as Go's `time.ParseDuration` reads `h`, `m` and `s`."""
    total, number = 0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in text:
        if char.isdigit():
            number += char
        elif char in units and number:
            total += int(number) * units[char]
            number = ""
        else:
            raise ValueError(f"not a duration of whole seconds: {text!r}")
    if number:
        raise ValueError(f"a duration needs a unit: {text!r}")
    return total
