"""A TCP proxy in front of PostgreSQL that can lose the answer to a COMMIT.

It forwards bytes both ways. Armed, it lets the next message containing the
marker (b"COMMIT") through to the server, waits for the server's answer, and
then drops both sides of that connection instead of passing the answer on:
the transaction is committed, but the client only sees its connection lost.
That is the crash every at-most-once argument has to survive.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

CHUNK_BYTES = 65536


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.cutting = False

    def close(self) -> None:
        for side in (self.client, self.server):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
            side.close()


class CommitCuttingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cuts = 0
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url_for(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def arm(self, marker: bytes = b"COMMIT\x00") -> None:
        """Lose the answer to the next client message containing `marker` (once)."""
        with self._lock:
            self._marker = marker

    def _take_marker(self, data: bytes) -> bool:
        with self._lock:
            if self._marker is not None and self._marker in data:
                self._marker = None
                return True
            return False

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            pair = _Pair(client, socket.create_connection(self.target))
            self._pairs.append(pair)
            threading.Thread(target=self._upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(pair,), daemon=True).start()

    def _upstream(self, pair: _Pair) -> None:
        try:
            while data := pair.client.recv(CHUNK_BYTES):
                if self._take_marker(data):
                    pair.cutting = True
                pair.server.sendall(data)
        except OSError:
            pass
        pair.close()

    def _downstream(self, pair: _Pair) -> None:
        try:
            while data := pair.server.recv(CHUNK_BYTES):
                if pair.cutting:
                    self.cuts += 1  # the server answered the COMMIT: drop the answer
                    break
                pair.client.sendall(data)
        except OSError:
            pass
        pair.close()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for pair in self._pairs:
            pair.close()
