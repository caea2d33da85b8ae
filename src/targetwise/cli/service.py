"""`targetwise serve` and `targetwise keys create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import RunsUrlOption, WorkspaceOption, console, handle_errors, open_workspace

keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed; shown once).", no_args_is_help=True)


@handle_errors
def serve(
    workspace: WorkspaceOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (default: loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    runs_url: RunsUrlOption = None,
) -> None:
    """Serve the REST API (/v1, docs at /docs) and the web UI (/ui/) for the promoted run.

    One process serves a workspace (DuckDB allows one writer process); run it with
    a single worker. The access log names route templates, never customer ids;
    behind a TLS-terminating proxy set TARGETWISE_TRUST_PROXY=1. With --runs-url the
    served run is the URL's active run, fetched once into the workspace's runs folder.
    """
    # the one service import of the CLI: starting it (use cases come from targetwise.usecases)
    from targetwise.service.app import serve as serve_workspace

    ws = open_workspace(workspace, runs_url=runs_url)
    source = f", runs from {ws.settings.runs_url}" if ws.settings.runs_url else ""
    console.print(f"serving {ws.path}{source} on http://{host}:{port} (UI /ui/, API /v1, OpenAPI /openapi.json)")
    serve_workspace(ws, host=host, port=port)


@keys_app.command("create")
@handle_errors
def create(
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin.")] = "read",
    name: Annotated[str | None, typer.Option("--name", help="What the key is for.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a key and print it ONCE (only a salted hash is stored)."""
    from targetwise.io.keys import KeyStore

    key, token = KeyStore(open_workspace(workspace)).create(scope=scope, name=name)
    console.print(f"created key {key.id} ({key.scope}) named {key.name!r}; store it now, it is not shown again:")
    console.print(token, highlight=False, soft_wrap=True)


@keys_app.command("list")
@handle_errors
def list_keys(workspace: WorkspaceOption = None) -> None:
    """Every key: id, name, scope, created, revoked (never the key itself)."""
    from targetwise.io.keys import KeyStore

    table = Table()
    for col in ("id", "name", "scope", "created", "revoked"):
        table.add_column(col)
    for key in KeyStore(open_workspace(workspace)).list():
        table.add_row(key.id, key.name, key.scope, key.created_at, key.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
@handle_errors
def revoke(key_id: Annotated[str, typer.Argument(help="Key id (see `keys list`).")], workspace: WorkspaceOption = None) -> None:
    """Revoke a key: a running service refuses it from its next request on."""
    from targetwise.io.keys import KeyStore

    key = KeyStore(open_workspace(workspace)).revoke(key_id)
    console.print(f"key {key.id} revoked at {key.revoked_at}")
