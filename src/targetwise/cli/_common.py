"""Shared plumbing for CLI commands: settings, workspace, one-line errors, progress.

Rich reads ``[word]`` in printed text as markup and drops it, so every value
that is not our own markup (messages, fixes, paths, names, customer data) goes
through :func:`plain` before it is printed: a fix such as "set timezone in the
mapping's [options]" then reaches the user intact.

What the terminal shows reads like a product, not a notebook: a Python warning
raised during a command is one ``warning: ...`` line (no class name, no source
path); ``--help`` names values (``TEXT``, ``INTEGER``, ``YYYY-MM-DD``) instead of
Python types (``<str>``, ``<bool>``); numbers in summaries are :func:`human`.
"""

from __future__ import annotations

import functools
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from targetwise.config import Settings, get_settings
from targetwise.errors import TargetwiseError
from targetwise.io.workspace import Workspace
from targetwise.presentation import human_number, plural


class _LiveConsole(Console):
    """A console that reads the terminal width (``COLUMNS`` or the tty) at each print, not once at import:
    Rich freezes ``COLUMNS`` into the console when it is created, so a shell that exports ``COLUMNS=80``
    would otherwise truncate every table to that width for the life of the process."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = None
        self._height = None


console = _LiveConsole()
err_console = _LiveConsole(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: $TARGETWISE_WORKSPACE or ./targetwise-workspace)."),
]

AS_OF_FORMAT = "YYYY-MM-DD"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(value: str | None) -> str | None:
    """An --as-of value checked as an ISO date (``2024-06-01``); anything else is a usage error naming the
    value and the format: ``06/01/2024`` is refused, never read as 1 June or 6 January."""
    if value is None:
        return None
    text = value.strip()
    if not _ISO_DATE.fullmatch(text):
        raise typer.BadParameter(
            f"{value!r} is not a date in the form {AS_OF_FORMAT} (e.g. 2024-06-01): a day-first or month-first "
            "date such as 06/01/2024 could be 6 January or 1 June"
        )
    try:
        date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a calendar date ({AS_OF_FORMAT})") from None
    return text


AsOfOption = Annotated[
    str,
    typer.Option(
        "--as-of", help="Cutoff date YYYY-MM-DD; only earlier data is used.", metavar=AS_OF_FORMAT, callback=iso_date
    ),
]


def report_as_of(ws: Workspace, as_of: str) -> None:
    """Say how many days the cutoff lies after the last order (a nightly run after a day without orders),
    and warn past ``TARGETWISE_STALE_DATA_DAYS``."""
    from targetwise.features._inputs import data_gap

    last = ws.last_ordered_at()
    if last is None:
        return
    gap = data_gap(as_of, last, stale_after_days=ws.settings.stale_data_days)
    note = gap.note()
    if note is None:
        return
    label = "[yellow]warning:[/]" if gap.stale else "[dim]note:[/]"
    err_console.print(f"{label} {plain(note)}", highlight=False, soft_wrap=True)


def count(n: int, noun: str, plural_form: str | None = None) -> str:
    """``1 row``, ``2,345 rows`` (:func:`targetwise.presentation.plural`)."""
    return plural(n, noun, plural_form)


def human(value: object) -> str:
    """A number as a person reads it in a summary: ``8.6M``, ``1.2k``, ``0.32``, ``365``
    (:func:`targetwise.presentation.human_number`)."""
    return human_number(value, missing="n/a")


def plain(value: object) -> str:
    """``value`` as text Rich prints as it is: ``[options]`` in it is not read as markup."""
    return escape(str(value))


RunsUrlOption = Annotated[
    str | None,
    typer.Option("--runs-url", help="Folder or fsspec URL (s3://bucket/runs, file:///mnt/runs) where runs are "
                 "published and served from (default: $TARGETWISE_RUNS_URL; none: the workspace only).",
                 metavar="URL"),
]


def settings_for(workspace: Path | None = None, *, runs_url: str | None = None) -> Settings:
    return get_settings(workspace=workspace, runs_url=runs_url)


def open_workspace(workspace: Path | None, *, runs_url: str | None = None) -> Workspace:
    settings = settings_for(workspace, runs_url=runs_url)
    return Workspace.open(settings.workspace, settings)


def show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    """``warnings.showwarning`` for the terminal: one plain ``warning: ...`` line on stderr, without the
    warning's class, source path or line (``UserWarning: ... at /site-packages/x.py:12``)."""
    text = " ".join(str(message).split())
    err_console.print(f"[yellow]warning:[/] {plain(text)}", highlight=False, soft_wrap=True)


def handle_errors(func: F) -> F:
    """Turn any TargetwiseError into one clear line on stderr and exit code 1; warnings raised while the
    command runs are printed as plain ``warning: ...`` lines (:func:`show_warning`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = show_warning
                return func(*args, **kwargs)
        except TargetwiseError as exc:
            err_console.print(f"[bold red]error:[/] {plain(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except KeyboardInterrupt:
            err_console.print("[bold red]interrupted[/]: nothing was half-written (every change is one transaction)")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


class Steps:
    """The steps of one :func:`progress` block: call it with each step's text as the step starts.

    Each step ends with one line on stdout: ``done TEXT in 1.2 s`` when the next step starts or the
    block ends, or the line of :meth:`finish` when the caller has more to say (a stage's cost).
    """

    def __init__(self, bar: Progress, task: Any) -> None:
        self._bar = bar
        self._task = task
        self._current: list[tuple[str, float]] = []  # the step now running and when it began

    def __call__(self, text: str) -> None:
        self.finish()  # one line per finished step, also when stderr is not a terminal (CI, make demo | tee)
        self._current.append((text, time.perf_counter()))
        self._bar.update(self._task, description=plain(text))

    def finish(self, detail: str | None = None, *, status: str = "[green]done[/]") -> None:
        """End the running step (if any) with ``  STATUS TEXT`` and ``detail`` (default `` in 1.2 s``).

        ``status`` and ``detail`` are Rich markup: pass values through :func:`plain`.
        """
        if not self._current:
            return
        label, began = self._current.pop()
        if detail is None:
            detail = f" in {time.perf_counter() - began:,.1f} s"
        console.print(f"  {status} {plain(label)}{detail}", highlight=False, soft_wrap=True)


@contextmanager
def progress(description: str) -> Iterator[Steps]:
    """A Rich spinner with elapsed time for steps that may take over a second; yields the :class:`Steps`."""
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
        steps = Steps(bar, bar.add_task(plain(description), total=None))
        try:
            yield steps
        finally:
            steps.finish()


# -- help: value names instead of Python types ---------------------------------------------

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "bool": "BOOLEAN", "datetime": "DATE"}


def _value_name(param: Any, ctx: Any) -> str | None:
    """What ``--help`` shows after an option: its metavar, the choices, or the kind of value; nothing for a
    flag (``--json``, ``--help``). Replaces Typer's ``<str>``, ``<int>``, ``<bool>`` tags."""
    if param.metavar is not None:
        return str(param.metavar)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    label = str(param.display_type(ctx)).strip("<>")
    many = label.startswith("list[") or param.nargs != 1
    label = label.removeprefix("list[").removesuffix("]")
    name = "|".join(_TYPE_NAMES.get(part, part) for part in label.split("|"))
    return f"{name}..." if many else name


def _install_help_names() -> None:
    """Typer renders option and argument types as Python type tags; name the values instead, and write an
    argument in the usage line as ``TABLE`` (click's convention), not ``{table}``."""

    def option_type(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return _value_name(self, ctx)

    def argument_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
        return None  # the argument's name says it (TABLE, SOURCE)

    def argument_name(self: typer.core.TyperArgument) -> str:
        name = self.metavar or (self.name or "").upper()
        return name + ("..." if self.metavar is None and self.nargs != 1 else "")

    def argument_usage(self: typer.core.TyperArgument) -> str:
        name = self.metavar or (self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    typer.core.TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    typer.core.TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign]
    if hasattr(typer.core.TyperArgument, "_rich_display_name"):
        typer.core.TyperArgument._rich_display_name = argument_name  # type: ignore[method-assign]
    if hasattr(typer.core.TyperArgument, "_usage_display_name"):
        typer.core.TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]


_install_help_names()
