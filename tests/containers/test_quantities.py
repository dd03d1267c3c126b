"""Kubernetes quantities: suffixes, exponents, and the messages for text that is not a quantity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from operatorflow.containers.quantities import format_bytes, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("0.25", Decimal("0.25")),
        (".5", Decimal("0.5")),
        ("100m", Decimal("0.1")),
        ("512Mi", Decimal(512 * 2**20)),
        ("4Gi", Decimal(4 * 2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("64Ki", Decimal(64 * 1024)),
        ("1Ti", Decimal(2**40)),
        ("1k", Decimal(1000)),
        ("129M", Decimal(129_000_000)),
        ("2G", Decimal(2_000_000_000)),
        ("129e6", Decimal(129_000_000)),
        ("1E3", Decimal(1000)),
        ("1E", Decimal(10) ** 18),
        (" 8Gi ", Decimal(8 * 2**30)),
        ("0", Decimal(0)),
    ],
)
def test_parse_quantity_reads_kubernetes_forms(text, expected):
    assert parse_quantity(text) == expected


def test_parse_quantity_suffix_is_case_sensitive():
    assert parse_quantity("400m") == Decimal("0.4")
    assert parse_quantity("400M") == Decimal(400_000_000)


@pytest.mark.parametrize("text", ["", "4GB", "4gi", "four", "1.2.3", "Gi", "5 Gi", "1e", "0x10"])
def test_parse_quantity_rejects_other_text(text):
    with pytest.raises(ValueError) as raised:
        parse_quantity(text)

    assert str(raised.value) == (
        f"{text!r} is not a Kubernetes quantity: use a number with an optional suffix, "
        "such as 500m or 2 for CPU and 512Mi or 4Gi for memory"
    )


def test_parse_quantity_rejects_negative():
    with pytest.raises(ValueError) as raised:
        parse_quantity("-1Gi")

    assert str(raised.value) == "'-1Gi' is negative: a resource quantity must be 0 or more"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(512, "512 bytes"), (2048, "2 KiB"), (512 * 2**20, "512 MiB"), (3 * 2**29, "1.5 GiB"), (16 * 2**30, "16 GiB")],
)
def test_format_bytes_picks_readable_unit(count, expected):
    assert format_bytes(count) == expected
