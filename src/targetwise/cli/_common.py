"""Shared plumbing for CLI commands: settings, workspace, one-line errors, progress.

Rich reads ``[word]`` in printed text as markup and drops it, so every value
that is not our own markup (messages, fixes, paths, names, customer data) goes
through :func:`plain` before it is printed: a fix such as "set timezone in the
mapping's [options]" then reaches the user intact.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from targetwise.config import Settings, get_settings
from targetwise.errors import TargetwiseError
from targetwise.io.workspace import Workspace

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $TARGETWISE_WORKSPACE or ./targetwise-workspace)."),
]


def plain(value: object) -> str:
    """``value`` as text Rich prints as it is: ``[options]`` in it is not read as markup."""
    return escape(str(value))


def settings_for(workspace: Path | None = None) -> Settings:
    return get_settings(workspace=workspace)


def open_workspace(workspace: Path | None) -> Workspace:
    settings = settings_for(workspace)
    return Workspace.open(settings.workspace, settings)


def handle_errors(func: F) -> F:
    """Turn any TargetwiseError into one clear line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TargetwiseError as exc:
            err_console.print(f"[bold red]error:[/] {plain(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: nothing was half-written (every change is one transaction)")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress(description: str) -> Iterator[Callable[[str], None]]:
    """A Rich spinner with elapsed time for steps that may take over a second."""
    quiet = not sys.stderr.isatty()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task(plain(description), total=None)

        def update(text: str) -> None:
            bar.update(task, description=plain(text))

        yield update
