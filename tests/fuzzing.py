"""Hypothesis strategies for hostile callable payloads, shared by the unit and the emulator fuzz tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NASTY_IDS = [
    "",
    " ",
    ".",
    "..",
    "/",
    "a/b",
    "../a1",
    "a1/..",
    "__name__",
    "__a1__",
    "a" * 129,
    "a" * 100_000,
    "a1\x00",
    "\n",
    "appointments/a1",
    "ä1",
    "😀",
    "a1 ",
    "%2F",
    "a\u200b1",
    "\ud800",
]


def payload_strategy(json_only: bool) -> st.SearchStrategy[Any]:
    """Hostile payloads; ``json_only`` keeps to what JSON can carry (no NaN or infinities)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=not json_only, allow_infinity=not json_only),
        st.text(max_size=300),
        st.sampled_from(NASTY_IDS),
    )
    nested = st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
        max_leaves=12,
    )
    ids = st.one_of(scalars, nested)
    return st.one_of(
        nested,
        st.fixed_dictionaries({"appointmentId": ids}),
        st.fixed_dictionaries({"appointmentId": ids}, optional={"extra": nested}),
    )


payloads = payload_strategy(json_only=False)
json_payloads = payload_strategy(json_only=True)
