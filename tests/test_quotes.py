"""Locating quotes in page text, whitespace-tolerant."""

from __future__ import annotations

import pytest

from annotator.quotes import locate

TEXT = "采购人：福建省公安厅\n采购需求：微信报警、实名认证\nTotal  budget: 100 yuan"


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("福建省公安厅", (4, "福建省公安厅")),
        ("  福建省公安厅\n", (4, "福建省公安厅")),
        ("公安厅 采购需求", (7, "公安厅\n采购需求")),
        ("公 安 厅", (7, "公安厅")),
        ("Total budget:", (26, "Total  budget:")),
        ("Total\nbudget: 100", (26, "Total  budget: 100")),
        ("(budget)", None),
        ("not here", None),
        ("   ", None),
        ("", None),
    ],
)
def test_locate(quote: str, expected: tuple[int, str] | None) -> None:
    found = locate(TEXT, quote)
    assert found == expected
    if found is not None:
        start, substring = found
        assert TEXT[start : start + len(substring)] == substring
