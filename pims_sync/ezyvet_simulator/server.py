"""Run the ezyVet simulator embedded in a thread (tests) or in the foreground (``python -m``)."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import EXTENSION, create_app


class EzyvetSimulator:
    """``start()``, use ``.url`` and ``.sites``, ``stop()``; also a context manager.
    Keyword options are those of :func:`~.app.create_app`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, **options) -> None:
        self.app = create_app(**options)
        self.state = self.app.extensions[EXTENSION]
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=_Quiet if quiet else WSGIRequestHandler)
        self.host, self.port = host, self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sites(self) -> list[dict]:
        return [s.summary() for s in self.state.sites]

    def start(self) -> EzyvetSimulator:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name=f"ezyvet-sim:{self.port}",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> EzyvetSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass
