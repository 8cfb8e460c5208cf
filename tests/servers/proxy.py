"""A forwarding proxy on 127.0.0.1 for the tests: HTTP CONNECT (what curl and kubectl send for https
URLs through an http:// proxy) and SOCKS5 (no authentication; CONNECT by IPv4 address or host name),
told apart by the first byte a client sends.

    proxy = Proxy().start()          # proxy.url: http://127.0.0.1:<port>, proxy.socks_url: socks5://...
    ...
    proxy.tunnels                     # ["CONNECT 127.0.0.1:6443", "SOCKS5 kube.test:6443", ...]: one per tunnel
    proxy.stop()

`resolve` maps host names the proxy is asked for to addresses (a private DNS only the proxy sees);
other names are resolved as usual. Every tunnel is recorded before it is opened, so a test can
check that (and how) the proxy was used."""

import socket
import struct
import threading


class Proxy:
    def __init__(self, resolve=None):
        self.resolve = dict(resolve or {})
        self.tunnels = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._threads, self._conns, self._lock = [], [], threading.Lock()

    @property
    def port(self):
        return self._sock.getsockname()[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def socks_url(self):
        return f"socks5://127.0.0.1:{self.port}"

    def start(self):
        self._spawn(self._accept)
        return self

    def stop(self):
        # shutdown() first: on Linux, close() alone does not wake the thread blocked in accept() (the join
        # below would wait out its bound on every stop).
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            threads = list(self._threads)
        for t in threads:
            t.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn):
        try:
            first = conn.recv(1, socket.MSG_PEEK)
            target = self._socks5(conn) if first == b"\x05" else self._connect(conn)
            if target is None:
                conn.close()
                return
            host, port, reply = target
            upstream = socket.create_connection((self.resolve.get(host, host), port), timeout=10)
            upstream.settimeout(None)
            with self._lock:
                self._conns.append(upstream)
            conn.sendall(reply)
        except OSError:
            conn.close()
            return
        self._spawn(self._pipe, upstream, conn)
        self._pipe(conn, upstream)

    def _connect(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                return None
            head += data
        method, authority = head.split(b"\r\n")[0].decode().split()[:2]
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return None
        host, port = authority.rsplit(":", 1)
        self.tunnels.append(f"CONNECT {authority}")
        return host.strip("[]"), int(port), b"HTTP/1.1 200 Connection established\r\n\r\n"

    def _socks5(self, conn):
        def read(n):
            data = b""
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    raise OSError("closed")
                data += chunk
            return data

        _, nmethods = read(2)
        read(nmethods)
        conn.sendall(b"\x05\x00")  # no authentication
        _, cmd, _, atyp = read(4)
        if atyp == 1:
            host = socket.inet_ntoa(read(4))
        elif atyp == 3:
            host = read(read(1)[0]).decode()
        else:  # IPv6: not needed by the tests
            conn.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return None
        (port,) = struct.unpack("!H", read(2))
        if cmd != 1:
            conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return None
        self.tunnels.append(f"SOCKS5 {host}:{port}")
        return host, port, b"\x05\x00\x00\x01" + bytes(6)

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
