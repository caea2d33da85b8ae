"""The `targetwise` command line: a thin adapter over the library.

Each command parses options, calls one library function and prints its result;
errors become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

from targetwise.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
