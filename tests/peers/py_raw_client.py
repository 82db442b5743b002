#!/usr/bin/env python3
"""Raw-socket WebSocket client that sends deliberately broken frames.

Usage: py_raw_client.py --url ws://127.0.0.1:PORT/path --case CASE

Uses only the standard library (plain `socket`): it performs the opening
handshake by hand (checking the 101 status and Sec-WebSocket-Accept), sends the
frames of CASE, then reads frames until the server's Close and reports it.

Cases (used by tests/interop_connection_close.rs):
  invalid-utf8      one masked text frame, payload b"\\xff\\xfe"
  truncated-utf8    one masked text frame ending inside a character, b"ok\\xe2\\x82"
  fragmented-utf8   masked text frame b"ab\\xe2" (FIN=0), then a continuation
                    b"\\x28cd" (FIN=1): the 3-byte sequence breaks across frames
  unmasked          one UNMASKED text frame "hello" (clients must mask)

Prints exactly one JSON line on stdout:
  {"ok": true, "code": C, "reason": R, "frames_before_close": N}
  {"ok": false, "error": "..."}   (handshake failure, no Close before EOF, 20 s timeout)
Exit code 0 unless it crashes.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 20.0


def frame(opcode, payload, fin=True, mask=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


CASES = {
    "invalid-utf8": [frame(0x1, b"\xff\xfe")],
    "truncated-utf8": [frame(0x1, b"ok\xe2\x82")],
    "fragmented-utf8": [frame(0x1, b"ab\xe2", fin=False), frame(0x0, b"\x28cd")],
    "unmasked": [frame(0x1, b"hello", mask=False)],
}


class Reader:
    def __init__(self, sock, buf=b""):
        self.sock, self.buf = sock, buf

    def take(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection ended after {len(self.buf)} of {n} bytes")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def run(args):
    url = urlsplit(args.url)
    sock = socket.create_connection((url.hostname, url.port or 80), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16))
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return {"ok": False, "error": f"handshake: connection ended: {buf!r}"}
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        return {"ok": False, "error": f"handshake: {lines[0]}"}
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != accept:
        return {"ok": False, "error": "handshake: bad Sec-WebSocket-Accept"}

    for f in CASES[args.case]:
        sock.sendall(f)

    reader = Reader(sock, rest)
    frames = 0
    while True:
        b0, b1 = reader.take(2)
        if b1 & 0x80:
            return {"ok": False, "error": "server sent a masked frame"}
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", reader.take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", reader.take(8))[0]
        data = reader.take(n)
        if b0 & 0x0F == 0x8:
            if len(data) < 2:
                return {"ok": False, "error": f"close frame with {len(data)}-byte body"}
            code = struct.unpack("!H", data[:2])[0]
            reason = data[2:].decode("utf-8")
            try:  # answer the close, as a well-behaved client would
                sock.sendall(frame(0x8, data[:2]))
            except OSError:
                pass
            sock.close()
            return {"ok": True, "code": code, "reason": reason, "frames_before_close": frames}
        frames += 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--case", required=True, choices=sorted(CASES))
    args = p.parse_args()
    try:
        result = run(args)
    except Exception as e:  # report, don't crash: the Rust test reads the JSON
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
