"""One Chromium lookup (locate_chromium) and what a login's browser loads.

The lookup tests build a file-system root of their own with runnable stand-in scripts and an
empty PATH, so they cannot pass by finding the browsers of the machine they run on. The login
test drives the real browser the lookup picks against a login page served on 127.0.0.1.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pims_sync.models import Credentials
from pims_sync.providers.idexx.auth import IdexxAuthenticator
from pims_sync.providers.idexx.chromium import chromium_places, launch_options, locate_chromium


def _stand_in(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def empty_path(monkeypatch, tmp_path) -> Path:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_headless_prefers_the_headless_shell_and_headed_never_gets_it(tmp_path, empty_path):
    root = tmp_path / "root"
    shell = _stand_in(root / "usr/bin/chromium-headless-shell")
    full = _stand_in(root / "usr/bin/chromium")

    headless = locate_chromium(None, headless=True, candidates=chromium_places(headless=True, root=str(root)),
                               playwright_build=False)
    headed = locate_chromium(None, headless=False, candidates=chromium_places(headless=False, root=str(root)),
                             playwright_build=False)

    assert (headless, headed) == (shell, full)


def test_headless_without_the_shell_uses_chromium(tmp_path, empty_path):
    root = tmp_path / "root"
    full = _stand_in(root / "usr/bin/chromium")
    assert locate_chromium(None, candidates=chromium_places(root=str(root)), playwright_build=False) == full


def test_chromium_path_wins_over_everything(tmp_path, empty_path):
    root = tmp_path / "root"
    _stand_in(root / "usr/bin/chromium-headless-shell")
    configured = str(tmp_path / "my-chrome")  # returned as given, even before it exists: the launch names it
    assert locate_chromium(configured, candidates=chromium_places(root=str(root))) == configured
    assert launch_options(configured)["executable_path"] == configured


def test_the_same_names_are_found_on_path(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    shell = _stand_in(bin_dir / "chromium-headless-shell")
    full = _stand_in(bin_dir / "chromium")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert locate_chromium(None, headless=True, candidates=(), playwright_build=False) == shell
    assert locate_chromium(None, headless=False, candidates=(), playwright_build=False) == full


def test_nothing_found_leaves_the_choice_to_playwright(empty_path):
    assert locate_chromium(None, candidates=(), playwright_build=False) is None
    options = launch_options(None, headless=True, timeout_ms=5000)
    if locate_chromium(None, headless=True, playwright_build=False) is None:  # no system browser here
        assert "executable_path" not in options
    assert options["headless"] is True and options["timeout"] == 5000 and "--no-sandbox" in options["args"]


# --- what the login page loads -----------------------------------------------------------------

LOGIN_PAGE = b"""<!doctype html><html><head>
<link rel="stylesheet" href="/style.css">
<style>@font-face { font-family: Brand; src: url(/brand.woff2) format("woff2"); } body { font-family: Brand; }</style>
</head><body><h1>Clinic sign-in</h1><img src="/logo.png" alt="logo"><video src="/intro.mp4" autoplay muted></video>
<form method="post" action="/login">
  <input name="username"> <input name="password" type="password"> <input name="company_id">
  <button type="submit">Sign in</button>
</form></body></html>"""


class LoginSite:
    """A login page with a stylesheet, a font, an image and a video; records every path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                site.paths.append(self.path)
                if self.path == "/login":
                    self._send(200, LOGIN_PAGE, "text/html")
                elif self.path == "/home":
                    self._send(200, b"<!doctype html><p>signed in</p><img src='/avatar.png'>", "text/html")
                elif self.path == "/style.css":
                    self._send(200, b"body { margin: 2rem }", "text/css")
                else:
                    self._send(200, b"\0" * 64, "application/octet-stream")

            def do_POST(self) -> None:  # noqa: N802
                site.paths.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(302, b"", "text/plain", {"Location": "/home", "Set-Cookie": "app_session=s1; Path=/"})

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def login_site() -> Iterator[LoginSite]:
    site = LoginSite()
    site.thread.start()
    yield site
    site.httpd.shutdown()
    site.httpd.server_close()


def test_a_login_loads_the_page_and_its_stylesheet_but_no_image_font_or_media(login_site, playwright_browser):
    auth = IdexxAuthenticator(login_site.url, browser_source=lambda: playwright_browser, timeout_ms=30_000)

    cookies = auth.login(Credentials(username="vet", password="pw", company_id="c1"))

    assert cookies == {"app_session": "s1"}
    assert {"/login", "POST /login", "/home", "/style.css"} <= set(login_site.paths)
    assert not {"/logo.png", "/brand.woff2", "/intro.mp4", "/avatar.png"} & set(login_site.paths)
