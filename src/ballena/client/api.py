"""A small Engine API client: JSON calls, streams, and hijacked connections.

It negotiates the API version as the docker CLI does (``/_ping``'s ``Api-Version``) and
speaks to ``unix://`` and ``tcp://`` hosts (TLS with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``).
"""

from __future__ import annotations

# _socket rather than socket: socket.py imports enum and selectors, 3 ms of every CLI start; the
# C module's socket is the one socket.socket extends, with the same recv/sendall/shutdown.
import _socket
import os

from ballena.client import jsonwire
from ballena.client.http import ProtocolError, Response, read_response, send_request

TYPE_CHECKING = False  # typing itself costs the CLI ~5 ms to import

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator
    from typing import Any, BinaryIO

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str) -> str:
    """Percent-encoding for query strings (urllib.parse costs the CLI ~6 ms to import)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())


def _split_host(url: str) -> tuple[str, str, int | None]:
    scheme, _, rest = url.partition("://")
    hostport = rest.split("/", 1)[0]
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    return scheme, host or "localhost", int(port) if port.isdigit() else None


CLIENT_API_VERSION = "1.56"
DEFAULT_HOST = "unix:///run/ballena/ballena.sock"


class APIError(Exception):
    """The daemon answered with an error: ``status`` and Docker's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConnectionFailed(Exception):
    pass


class Endpoint:
    """A daemon's address: a UNIX socket's path, or a TCP host and port (with TLS or not)."""

    def __init__(
        self, *, unix_path: str | None = None, hostname: str = "", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.unix_path = unix_path
        self.hostname = hostname
        self.port = port
        self.tls = tls


def default_host() -> str:
    return os.environ.get("BALLENA_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _version_lt(a: str, b: str) -> bool:
    return tuple(int(x) for x in a.split(".")) < tuple(int(x) for x in b.split("."))


class Client:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or default_host()
        self._version: str | None = None
        self._sock: _socket.socket | None = None
        self._last: Response | None = None

    # -- connections --------------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        """Where the daemon listens, as the host names it. Raises ConnectionFailed for a
        scheme this client does not speak."""
        h = self.host
        if h.startswith("unix://") or h.startswith("/"):
            return Endpoint(unix_path=h[len("unix://") :] if h.startswith("unix://") else h)
        if "://" not in h or h.split("://", 1)[0] in ("tcp", "http", "https"):
            scheme, hostname, maybe_port = _split_host(h if "://" in h else "tcp://" + h)
            port = maybe_port or 2375
            tls = None
            if os.environ.get("DOCKER_TLS_VERIFY") or scheme == "https" or port == 2376:
                import ssl

                cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
                tls = ssl.create_default_context(cafile=os.path.join(cert_path, "ca.pem"))
                tls.load_cert_chain(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem"))
            return Endpoint(hostname=hostname, port=port, tls=tls)
        raise ConnectionFailed(f"unsupported host {h!r}: use unix:///path or tcp://host:port")

    def connect(self, timeout: float | None = None) -> _socket.socket:
        h = self.host
        try:
            where = self.endpoint()
            if where.unix_path is not None:
                s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(where.unix_path)
                return s
            import socket

            s = socket.create_connection((where.hostname, where.port), timeout=timeout)
            if where.tls is not None:
                s = where.tls.wrap_socket(s, server_hostname=where.hostname)
            return s
        except FileNotFoundError:
            raise ConnectionFailed(f"Cannot connect to the Ballena daemon at {h}. Is ballenad running?") from None
        except ConnectionRefusedError:
            raise ConnectionFailed(f"Cannot connect to the Ballena daemon at {h}. Is ballenad running?") from None
        except PermissionError:
            raise ConnectionFailed(f"permission denied while trying to connect to the daemon socket at {h}") from None
        except OSError as e:
            raise ConnectionFailed(f"Cannot connect to the daemon at {h}: {e}") from None

    @property
    def version(self) -> str:
        if self._version is None:
            resp = self._exchange("HEAD", "/_ping", None, {})
            server = resp.getheader("api-version") or "1.24"
            self._version = server if _version_lt(server, CLIENT_API_VERSION) else CLIENT_API_VERSION
        return self._version

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        url = f"/v{self.version}{path}"
        if params:
            q: list[tuple[str, str]] = []
            for k, v in params.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    q.append((k, "1" if v else "0"))
                elif isinstance(v, list | tuple):
                    q.extend((k, str(x)) for x in v)
                elif isinstance(v, dict):
                    q.append((k, jsonwire.dumps(v)))
                else:
                    q.append((k, str(v)))
            if q:
                url += "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in q)
        return url

    def _exchange(self, method: str, url: str, body: bytes | BinaryIO | None, headers: dict[str, str]) -> Response:
        hdrs = {"Host": "api", "User-Agent": "Ballena-Client/0.1.0", **headers}
        # Reuse the connection only when the previous response was read to its end.
        if self._sock is not None and (self._last is None or not self._last.finished or not self._last.reusable):
            self._sock.close()
            self._sock = None
        for attempt in (0, 1):
            fresh = self._sock is None
            if self._sock is None:
                self._sock = self.connect()
            try:
                send_request(self._sock, method, url, hdrs, body)
                resp = read_response(self._sock, method)
                self._last = resp
                return resp
            except (ConnectionResetError, BrokenPipeError, ProtocolError) as e:
                self._sock.close()
                self._sock = None
                if fresh or attempt or (body is not None and not isinstance(body, bytes | bytearray)):
                    raise ConnectionFailed(f"error during connect to {self.host}: {e}") from None
        raise AssertionError("unreachable")

    # -- calls --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        data: bytes | BinaryIO | None = None
        if body is not None:
            if isinstance(body, bytes | bytearray) or hasattr(body, "read"):
                data = body
                hdrs.setdefault("Content-Type", "application/x-tar")
            else:
                data = jsonwire.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        resp = self._exchange(method, self._url(path, params), data, hdrs)
        if resp.status >= 400:
            raw = resp.read()
            try:
                message = jsonwire.loads(raw).get("message", "")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace").strip()
            raise APIError(resp.status, message or f"{resp.status} {resp.reason}")
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self._json(self.request("GET", path, **kw))

    def post(self, path: str, **kw: Any) -> Any:
        return self._json(self.request("POST", path, **kw))

    def delete(self, path: str, **kw: Any) -> Any:
        return self._json(self.request("DELETE", path, **kw))

    def put(self, path: str, **kw: Any) -> Any:
        return self._json(self.request("PUT", path, **kw))

    @staticmethod
    def _json(resp: Response) -> Any:
        data = resp.read()
        if not data.strip():
            return None
        if "json" not in (resp.getheader("content-type") or "json"):
            return data
        return jsonwire.loads(data)

    def stream_json(self, method: str, path: str, **kw: Any) -> Iterator[dict[str, Any]]:
        """A JSON message stream (pull, load, build, events): one object per line."""
        resp = self.request(method, path, **kw)
        buf = ""
        for chunk in resp.iter_chunks():
            buf += chunk.decode("utf-8", errors="replace")
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    obj, end = jsonwire.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                yield obj

    def stream_raw(self, method: str, path: str, **kw: Any) -> Iterator[bytes]:
        yield from self.request(method, path, **kw).iter_chunks()

    def hijack(
        self, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[_socket.socket, bytes]:
        """POST with ``Upgrade: tcp``; the raw socket after the 101 head, and bytes already read.

        Raises APIError when the daemon answers with an error instead.
        """
        url = self._url(path, params)
        sock = self.connect()
        data = jsonwire.dumps(body).encode() if body is not None else b""
        send_request(
            sock,
            "POST",
            url,
            {
                "Host": "api",
                "User-Agent": "Ballena-Client/0.1.0",
                "Connection": "Upgrade",
                "Upgrade": "tcp",
                "Content-Type": "application/json",
            },
            data,
        )
        resp = read_response(sock, "POST")
        if resp.status >= 400:
            raw = resp.read()
            sock.close()
            try:
                message = jsonwire.loads(raw).get("message", "")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")
            raise APIError(resp.status, message)
        return sock, resp.take_buffer()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
