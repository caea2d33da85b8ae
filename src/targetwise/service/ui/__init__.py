"""The web UI: server-rendered pages (templates in service/templates, assets in service/static)."""
