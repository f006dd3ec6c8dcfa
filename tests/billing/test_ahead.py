"""``ahead``: a streamed run's loops work one piece ahead, without changing what they see."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing.billing.stream import ahead


@given(st.lists(st.integers()))
def test_items_come_in_order_all_of_them(items: list[int]) -> None:
    assert list(ahead(items)) == items


def test_the_next_item_is_made_while_the_current_one_is_used() -> None:
    second_started = threading.Event()

    def pieces() -> Iterator[int]:
        yield 1
        second_started.set()
        yield 2

    taken = ahead(pieces())
    assert next(taken) == 1
    assert second_started.wait(timeout=30)  # made without asking for it
    assert list(taken) == [2]


def test_an_error_is_raised_where_its_item_would_have_come() -> None:
    def pieces() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("piece 3 cannot be read")

    seen = []
    with pytest.raises(ValueError, match="piece 3"):
        for item in ahead(pieces()):
            seen.append(item)
    assert seen == [1, 2]


def test_at_most_one_item_is_made_ahead() -> None:
    made: list[int] = []

    def pieces() -> Iterator[int]:
        for number in range(10):
            made.append(number)
            yield number

    taken = ahead(pieces())
    assert next(taken) == 0
    threading.Event().wait(0.2)  # time enough to run further ahead, if it would
    assert made in ([0], [0, 1])
    taken.close()
