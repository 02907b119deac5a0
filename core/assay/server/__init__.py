"""`assay serve`: verifiers over HTTP, with drop-in routes for OpenRLHF and SandboxFusion clients.

Needs the `serve` extra (`pip install 'assay[serve]'`): FastAPI, uvicorn, httpx.
"""

from assay.server.app import create_app
from assay.server.background import BackgroundServer
from assay.server.settings import ServerSettings

__all__ = ["BackgroundServer", "ServerSettings", "create_app"]
