"""Test servers on 127.0.0.1 for the data tests: a file server in a thread (request
counts, Range support, ETags, broken connections on demand) and an S3 API server process
(moto's server mode) on a free port.

Imported by tests/data/* directly and by tests/core/test_dataset*.py / test_datastore*.py
through ``sys.path`` (tests are not a package).
"""

import collections
import email.utils
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest


class FileServer(object):
    """Serve the files of ``root`` at ``http://127.0.0.1:<port>/``.

    ``gets`` / ``heads`` count requests per file name; ``fail_next[name] = n`` makes the
    next GET of ``name`` send ``n`` bytes of the body and then drop the connection;
    ``ranges`` turns Range support on; ``etags`` sends an ETag made of size and mtime."""

    def __init__(self, root, ranges=True, etags=False):
        self.root = str(root)
        self.ranges = ranges
        self.etags = etags
        self.gets = collections.Counter()
        self.heads = collections.Counter()
        self.range_gets = collections.Counter()
        self.fail_next = {}
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _file(self):
                name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path.lstrip("/"))
                full = os.path.join(server.root, *name.split("/"))
                return name, full

            def _headers(self, full, status, start, length, size):
                st = os.stat(full)
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
                if server.etags:
                    self.send_header("ETag", '"%x-%x"' % (st.st_size, st.st_mtime_ns))
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
                self.end_headers()

            def do_HEAD(self):
                name, full = self._file()
                with server._lock:
                    server.heads[name] += 1
                if not os.path.isfile(full):
                    self.send_error(404, "Not Found")
                    return
                size = os.path.getsize(full)
                self._headers(full, 200, 0, size, size)

            def do_GET(self):
                name, full = self._file()
                with server._lock:
                    server.gets[name] += 1
                    fail = server.fail_next.pop(name, None)
                if not os.path.isfile(full):
                    self.send_error(404, "Not Found")
                    return
                size = os.path.getsize(full)
                start, status = 0, 200
                m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
                if m and server.ranges:
                    start, status = int(m.group(1)), 206
                    with server._lock:
                        server.range_gets[name] += 1
                self._headers(full, status, start, size - start, size)
                with open(full, "rb") as f:
                    f.seek(start)
                    left = size - start if fail is None else fail
                    while left > 0:
                        b = f.read(min(65536, left))
                        if not b:
                            break
                        self.wfile.write(b)
                        left -= len(b)
                if fail is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name=""):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def reset_counts(self):
        with self._lock:
            self.gets.clear()
            self.heads.clear()
            self.range_gets.clear()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class S3Server(object):
    """A real S3 API process (moto's server mode) on 127.0.0.1 and a free port."""

    def __init__(self, log_path=None):
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("the S3 test server exited with code %s" % self.proc.returncode)
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError("the S3 test server did not start")
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module", autouse=True)
def fresh_cache(tmp_path_factory):
    """The importing module's own node cache (run hosts inherit it from the server), so
    what is downloaded is known. Import it into a test module to use it."""
    old = os.environ.get("KYANITE_CACHE_DIR")
    os.environ["KYANITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("node-cache"))
    yield os.environ["KYANITE_CACHE_DIR"]
    if old is None:
        os.environ.pop("KYANITE_CACHE_DIR", None)
    else:
        os.environ["KYANITE_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def mnist_http(mnist_dir):
    """The MNIST files served over HTTP on 127.0.0.1 for the importing module."""
    s = FileServer(mnist_dir)
    yield s
    s.stop()
