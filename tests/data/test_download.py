"""`partbench data download`: resumable HTTP download from a loopback server (never the network)."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import time

import pytest
from typer.testing import CliRunner

from partbench.cli.main import app
from partbench.data.download import download
from partbench.errors import PartbenchError


def make_tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for i in range(3):
            data = bytes(range(256)) * (200 + i)  # incompressible enough to span several chunks of the test server
            info = tarfile.TarInfo(f"trainval/Annotations_Part/2008_00000{i}.mat")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server:
    """Serves one payload at /file on 127.0.0.1, honouring `Range: bytes=N-`; `cut` truncates the next full answer
    (the connection drops after that many bytes). Stops on close(), or by itself after `lifetime_s`."""

    def __init__(self, payload: bytes, cut: int | None = None, honour_range: bool = True, lifetime_s: float = 30):
        self.payload, self.cut, self.honour_range, self.requests = payload, cut, honour_range, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                body, status = server.payload, 200
                rng = self.headers.get("Range")
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].rstrip("-"))
                    body, status = server.payload[start:], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut is not None:
                    body, server.cut = body[:server.cut], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 0.2
        self.stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/file"
        self.thread = threading.Thread(target=self._serve, args=(lifetime_s,), daemon=True)
        self.thread.start()

    def _serve(self, lifetime_s: float) -> None:
        deadline = time.monotonic() + lifetime_s
        while not self.stopped.is_set() and time.monotonic() < deadline:
            self.httpd.handle_request()  # returns after `timeout` when nobody calls

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.httpd.server_close()


@pytest.fixture
def payload() -> bytes:
    return make_tar_gz()


def test_resume_after_a_dropped_connection(tmp_path, payload):
    server = Server(payload, cut=len(payload) // 3)
    dest = tmp_path / "trainval.tar.gz"
    try:
        with pytest.raises(PartbenchError, match="run the same command again to resume"):
            download(server.url, dest, progress=False, timeout=5)
        partial = dest.with_name("trainval.tar.gz.part")
        assert partial.stat().st_size == len(payload) // 3 and not dest.exists()
        download(server.url, dest, sha256=hashlib.sha256(payload).hexdigest(), progress=False, timeout=5)
    finally:
        server.close()
    assert dest.read_bytes() == payload and not partial.exists()
    assert server.requests == [None, f"bytes={len(payload) // 3}-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path, payload):
    dest = tmp_path / "a.tar.gz"
    dest.with_name("a.tar.gz.part").write_bytes(b"stale bytes")
    server = Server(payload, honour_range=False)
    try:
        download(server.url, dest, progress=False, timeout=5)
    finally:
        server.close()
    assert dest.read_bytes() == payload


def test_checksum_mismatch_is_refused(tmp_path, payload):
    server = Server(payload)
    try:
        with pytest.raises(PartbenchError, match="does not match the expected"):
            download(server.url, tmp_path / "x.tar.gz", sha256="0" * 64, progress=False, timeout=5)
    finally:
        server.close()
    assert not (tmp_path / "x.tar.gz").exists() and not (tmp_path / "x.tar.gz.part").exists()


def test_corrupt_archive_is_refused(tmp_path, payload):
    server = Server(payload[:-200] + b"\x00" * 200)
    try:
        with pytest.raises(PartbenchError, match="truncated or corrupt"):
            download(server.url, tmp_path / "x.tar.gz", progress=False, timeout=5)
    finally:
        server.close()


def test_cli_download_then_manual_steps(tmp_path, payload):
    server = Server(payload)
    try:
        result = CliRunner().invoke(app, ["data", "download", "pascal-part", "--data-root", str(tmp_path),
                                          "--url", server.url])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert (tmp_path / "downloads/trainval.tar.gz").read_bytes() == payload
    assert "partbench data prepare pascal-part --source" in result.output
    result = CliRunner().invoke(app, ["data", "download", "pascal-part-116", "--data-root", str(tmp_path)])
    assert result.exit_code == 3
    assert "gdown" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["data", "download", "pascal-prt", "--data-root", str(tmp_path)])
    assert result.exit_code == 2 and "Did you mean" in result.output
