"""make bench's load run: the servers' turn orders are balanced, so no server always follows the same one."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections import Counter
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("load_bench", Path(__file__).parents[2] / "bench" / "load_bench.py")
assert _SPEC is not None
assert _SPEC.loader is not None
load_bench = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("load_bench", load_bench)  # its dataclasses look their module up by name
_SPEC.loader.exec_module(load_bench)


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6, 7])
def test_each_server_takes_each_place_and_follows_each_other_equally_often(count: int) -> None:
    orders = load_bench.turn_orders(count)

    assert len(orders) == (count if count % 2 == 0 else 2 * count)
    assert all(sorted(order) == list(range(count)) for order in orders)
    places = Counter((place, server) for order in orders for place, server in enumerate(order))
    assert set(places.values()) == {len(orders) // count}
    assert len(places) == count * count
    follows = Counter(pair for order in orders for pair in itertools.pairwise(order))
    assert set(follows) == {(a, b) for a in range(count) for b in range(count) if a != b}
    assert len(set(follows.values())) == 1


def test_the_default_rounds_run_the_five_servers_orders_once_each() -> None:
    assert len(load_bench.SERVERS) == 5
    assert len(load_bench.turn_orders(5)) == load_bench.DEFAULT_ROUNDS
