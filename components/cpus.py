"""A container's `cpus` in the spelling the provider reads back.

The provider sends `cpus` through `opts.ParseCPUs` as `HostConfig.NanoCPUs` and reads it back with
`nanoInt64ToDecimalString` (kreuzwerker/terraform-provider-docker `internal/provider/helpers.go`,
used in `resource_docker_container_funcs.go`); `cpus` is ForceNew, so `"1"` (read back `"1.0"`)
would replace the container on every `pulumi up`.
"""

from __future__ import annotations

from fractions import Fraction

NANO = 1_000_000_000


def nano_cpus(cpus: float | str) -> int:
    """What `opts.ParseCPUs` makes of a value: CPUs times 1e9, rounded to an integer."""
    return round(Fraction(str(cpus)) * NANO)


def decimal_cpus(nano: int) -> str:
    """`nanoInt64ToDecimalString`: nine decimals, then "round" values (exactly nine zeros in the
    string) as one decimal, anything else with trailing zeros cut (so 10 CPUs reads `10.`)."""
    if nano == 0:
        return "0"
    whole, rest = divmod(nano, NANO)
    text = f"{whole}.{rest:09d}"
    if text.count("0") == 9:
        tenths = (nano * 10 + NANO // 2) // NANO  # big.Rat.FloatString(1) rounds half away from zero
        return f"{tenths // 10}.{tenths % 10}"
    return text.rstrip("0")


def docker_cpus(cpus: float | str) -> str:
    """The `cpus` input to send: already in the form it comes back in."""
    return decimal_cpus(nano_cpus(cpus))
