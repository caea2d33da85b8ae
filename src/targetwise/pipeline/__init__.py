"""Workflows that chain the layers (demo, runs). The CLI and the service call these."""
