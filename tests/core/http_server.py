"""A real HTTP server on 127.0.0.1 for download tests, with switches for failure modes.

It serves one body at ``/model.pt`` and honours ``Range: bytes=N-`` (206 with Content-Range).
Switches (attributes, changeable between requests):

* ``cut_after`` — on the next ``cut_times`` requests, announce the full length but close the
  connection after this many body bytes of the response;
* ``truncate_to`` — serve only the first N bytes, with a consistent Content-Length (a short file);
* ``body`` — replace the content (wrong file);
* ``content_type`` — e.g. ``text/html`` for an error page;
* ``ignore_range`` — answer 200 with the whole body even to a Range request;
* ``wrong_range_start`` — answer a Range request with bytes from 0 labelled as such (mismatch);
* ``stall_s`` — with ``cut_after``, stay silent this long before closing (a stalled connection).

``/redirect`` answers 302 to ``/model.pt``, as Dropbox's ``?dl=1`` links do.

Every request's path and headers are appended to ``requests``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of base
        pass

    def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
        ctl = self.server.control
        ctl.requests.append({"path": self.path, "headers": dict(self.headers.items())})
        if self.path.split("?")[0] == "/redirect":  # like Dropbox's ?dl=1 link
            self.send_response(302)
            self.send_header("Location", "/model.pt")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.split("?")[0] != "/model.pt":
            self.send_error(404, "Not Found")
            return
        body = ctl.body if ctl.truncate_to is None else ctl.body[: ctl.truncate_to]
        total = len(body)
        start = 0
        status = 200
        rng = self.headers.get("Range")
        if rng and not ctl.ignore_range:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if m:
                start = int(m.group(1))
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Type", ctl.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", '"fixture-v1"')
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            label = 0 if ctl.wrong_range_start else start
            self.send_header("Content-Range", f"bytes {label}-{label + len(payload) - 1}/{total}")
        self.end_headers()
        if ctl.cut_after is not None and ctl.cut_times > 0:
            ctl.cut_times -= 1
            self.wfile.write(payload[: ctl.cut_after])
            self.wfile.flush()
            if ctl.stall_s:
                time.sleep(ctl.stall_s)  # a silent connection: the client must time out
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(payload)


class _Control:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[dict[str, Any]] = []
        self.cut_after: int | None = None
        self.cut_times = 0
        self.truncate_to: int | None = None
        self.content_type = "application/octet-stream"
        self.ignore_range = False
        self.wrong_range_start = False
        self.stall_s = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    control: _Control

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-body (cancel, rejected download) is expected here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ModelServer:
    """Serve ``body`` on 127.0.0.1 (random port) in a background thread; a context manager."""

    def __init__(self, body: bytes) -> None:
        self.control = _Control(body)
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.control = self.control
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        """URL of the served file."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/model.pt"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Requests received so far (path and headers)."""
        return self.control.requests

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 whose port has nothing listening (a server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/model.pt"
