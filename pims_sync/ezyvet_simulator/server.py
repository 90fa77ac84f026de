"""Run the ezyVet simulator embedded in a thread (tests) or in the foreground (``python -m``).

It runs on the same server as the IDEXX simulator (`pims_sync.wsgi_server`: HTTP/1.1 keep-alive).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from ..wsgi_server import EmbeddedServer
from .app import EXTENSION, State, create_app


class EzyvetSimulator:
    """``start()``, use ``.url`` and ``.sites``, ``stop()``; also a context manager.
    Keyword options are those of :func:`~.app.create_app`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, **options: Any) -> None:
        self.app = create_app(**options)
        self.state: State = self.app.extensions[EXTENSION]
        self._server = EmbeddedServer(self.app, host=host, port=port, quiet=quiet, name="ezyvet-sim")
        self.host, self.port = host, self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sites(self) -> list[dict[str, Any]]:
        return [s.summary() for s in self.state.sites]

    def start(self) -> EzyvetSimulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> EzyvetSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
