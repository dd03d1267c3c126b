"""Kubernetes resource quantities (`500m`, `2`, `1.5`, `512Mi`, `4Gi`, `129e6`) parsed into exact numbers."""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

# Suffixes as the Kubernetes API defines them (k8s.io/apimachinery `resource.Quantity`): binary ones
# are powers of 1024, decimal ones powers of 1000, and `m` is a thousandth. They are case-sensitive,
# so `500m` of memory is half a byte, not 500 megabytes.
_SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$"
)
GIBIBYTE = 2**30


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity such as `500m`, `2`, `512Mi` or `129e6`.

    Raises ValueError, with the accepted forms in its message, for text that is not a quantity or
    is negative.
    """
    value = str(text).strip()
    match = _QUANTITY.match(value)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity: use a number with an optional suffix, "
            "such as 500m or 2 for CPU and 512Mi or 4Gi for memory"
        )
    try:
        number = Decimal(match.group("number"))
        if match.group("exponent"):
            number = number.scaleb(int(match.group("exponent")[1:]))
    except decimal.InvalidOperation:
        raise ValueError(f"{text!r} is not a Kubernetes quantity: its number cannot be read") from None
    if number < 0:
        raise ValueError(f"{text!r} is negative: a resource quantity must be 0 or more")
    return number * _SUFFIXES[match.group("suffix") or ""]


def format_bytes(count: int | Decimal) -> str:
    """Format a byte count in the largest binary unit that keeps it readable, such as `1.5 GiB`."""
    value = Decimal(count)
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{_trim(value / size)} {unit}"
    return f"{_trim(value)} bytes"


def format_cpus(count: Decimal) -> str:
    """Format a CPU count, such as `0.5` or `2`."""
    return _trim(count)


def _trim(value: Decimal) -> str:
    rounded = value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
