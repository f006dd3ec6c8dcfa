"""``ahead`` and ``mapped``: a streamed run's loops overlap, without changing what they see."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing.billing.overlap import ahead, mapped


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


def _recorded(count: int, log: list[int]) -> Iterator[int]:
    """0, 1, … count - 1, each appended to ``log`` as it is made."""
    for number in range(count):
        log.append(number)
        yield number


def test_at_most_one_item_is_made_ahead() -> None:
    made: list[int] = []
    taken = ahead(_recorded(10, made))
    assert next(taken) == 0
    threading.Event().wait(0.2)  # time enough to run further ahead, if it would
    assert made in ([0], [0, 1])
    taken.close()


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=4))
def test_mapped_is_map_in_order(items: list[int], workers: int) -> None:
    assert list(mapped(lambda x: x * 3 + 1, items, workers)) == [x * 3 + 1 for x in items]


def test_mapped_takes_items_only_as_calls_can_start() -> None:
    taken: list[int] = []
    results = mapped(lambda x: x, _recorded(100, taken), workers=2)
    assert next(results) == 0
    assert len(taken) == 2  # not the whole input, as Executor.map would take
    results.close()


def test_mapped_raises_a_failed_call_in_its_place() -> None:
    def function(x: int) -> int:
        if x == 2:
            raise ValueError("part 2")
        return x

    seen = []
    with pytest.raises(ValueError, match="part 2"):
        for result in mapped(function, range(5)):
            seen.append(result)
    assert seen == [0, 1]
