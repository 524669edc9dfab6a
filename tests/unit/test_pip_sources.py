"""scripts/pip_sources.py: the machine's pip package sources, as flags for uv (scripts/setup)."""

from __future__ import annotations

import pip_sources


def test_each_source_becomes_its_flag_and_a_list_value_one_flag_a_url() -> None:
    listing = "\n".join(
        [
            "global.index-url='https://mirror.example/simple'",
            "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'",
            ":env:.find-links='/opt/wheels'",
        ]
    )
    assert pip_sources.uv_flags(listing) == [
        "--index-url",
        "https://mirror.example/simple",
        "--extra-index-url",
        "file:///opt/a/simple",
        "--extra-index-url",
        "file:///opt/b/simple",
        "--find-links",
        "/opt/wheels",
    ]


def test_a_value_set_in_two_scopes_counts_once_and_keys_uv_has_no_flag_for_are_left_out() -> None:
    listing = "\n".join(
        [
            "global.find-links='/opt/wheels'",
            "global.cert='/etc/ssl/certs/ca-certificates.crt'",
            "global.constraint='/etc/xdg/pip/constraints.txt'",
            ":env:.find-links='/opt/wheels'",
            ":env:.default-timeout='180'",
            "a line without a value",
        ]
    )
    assert pip_sources.uv_flags(listing) == [
        "--find-links",
        "/opt/wheels",
        "--constraint",
        "/etc/xdg/pip/constraints.txt",
    ]


def test_nothing_configured_gives_no_flags() -> None:
    assert pip_sources.uv_flags("") == []
