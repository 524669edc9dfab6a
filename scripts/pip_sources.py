"""Print, one argument a line, the uv flags that give it the package sources pip is configured with here.

uv does not read pip's configuration files or its PIP_* variables, and this machine's packages come
from there (a local index, extra indexes, a find-links folder, a constraints file). ``pip config list``
prints every value pip would use, files and environment merged, as ``scope.key='value'``; a value may
hold several URLs separated by spaces. scripts/setup passes what this prints to ``uv pip install``.
"""

from __future__ import annotations

import ast
import subprocess
import sys

FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    # the machine's caps on versions (here: the releases that lie on its disk)
    "constraint": "--constraint",
}


def uv_flags(config_listing: str) -> list[str]:
    """The uv flags for a ``pip config list`` output; a key set in several scopes counts once a value."""
    flags: list[str] = []
    for line in config_listing.splitlines():
        name, sep, raw = line.partition("=")
        if not sep:
            continue
        flag = FLAGS.get(name.rpartition(".")[2])
        if flag is None:
            continue
        value = ast.literal_eval(raw)
        for url in str(value).split():
            if (flag, url) not in zip(flags[::2], flags[1::2], strict=True):
                flags += [flag, url]
    return flags


def main() -> int:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for argument in uv_flags(listing):
        print(argument)
    return 0


if __name__ == "__main__":
    sys.exit(main())
