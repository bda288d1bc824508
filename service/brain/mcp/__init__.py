"""The MCP server: Brain's memory and messaging as tools for MCP clients, on the service at /mcp
(`endpoint`, Streamable HTTP) and over stdio (`brain mcp`, `remote`). Wiring, like `app`: the
tools call Brain's HTTP API (`tools`), never the areas."""

from __future__ import annotations

from brain.mcp.endpoint import PATH, Endpoint
from brain.mcp.remote import Remote, serve
from brain.mcp.tools import TOOLS

__all__ = ["PATH", "TOOLS", "Endpoint", "Remote", "serve"]
