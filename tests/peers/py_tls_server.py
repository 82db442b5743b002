#!/usr/bin/env python3
"""WebSocket (ws:// or wss://) test server on the Python `websockets` package.

Usage: py_tls_server.py [--cert PEM --key PEM] [--client-ca PEM]
                        [--compression none|deflate] [--auth USER:PASS]
                        [--redirect LOCATION] [--subprotocol NAME]

Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
to stdout (logs go to stderr). Used by tests/tls_client.rs and tests/proxy*.rs.

  --cert/--key   serve wss:// with this certificate chain and key (PEM files);
                 without them, plain ws://
  --client-ca    require a client certificate issued by this CA (PEM file)
  --compression  none (default) or deflate (permessage-deflate, RFC 7692)
  --auth         require HTTP Basic credentials USER:PASS (401 otherwise)
  --redirect     answer every request with 302 and this Location
  --subprotocol  accept this subprotocol when offered

Every message is echoed with its type, except the text "info", answered with
a JSON object: the request's Authorization, Origin, X-Test and
Sec-WebSocket-Extensions headers, the response's Sec-WebSocket-Extensions and
the subprotocol chosen, and whether TLS is in use.

Exits when stdin reaches EOF or after a hard timeout of 120 s.
"""

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import threading
from http import HTTPStatus

from websockets.asyncio.server import basic_auth, serve
from websockets.exceptions import ConnectionClosed

HARD_TIMEOUT = 120.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca")
    p.add_argument("--compression", choices=["none", "deflate"], default="none")
    p.add_argument("--auth")
    p.add_argument("--redirect")
    p.add_argument("--subprotocol")
    return p.parse_args()


async def main(args):
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(args.client_ca)

    async def handler(ws):
        try:
            async for msg in ws:
                if msg == "info":
                    headers = ws.request.headers
                    await ws.send(json.dumps({
                        "authorization": headers.get("Authorization"),
                        "origin": headers.get("Origin"),
                        "x_test": headers.get("X-Test"),
                        "offered_extensions": headers.get("Sec-WebSocket-Extensions"),
                        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
                        "subprotocol": ws.subprotocol,
                        "tls": tls is not None,
                    }))
                else:
                    await ws.send(msg)
        except ConnectionClosed as e:
            print(f"py_tls_server: connection ended: {e}", file=sys.stderr)

    process_request = None
    if args.redirect:
        def process_request(connection, request):
            response = connection.respond(HTTPStatus.FOUND, "moved\n")
            response.headers["Location"] = args.redirect
            return response
    elif args.auth:
        user, password = args.auth.split(":", 1)
        process_request = basic_auth(realm="wsstack-test", credentials=(user, password))

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def wait_stdin_eof():
        if sys.stdin is not None:
            while sys.stdin.buffer.read(65536):
                pass
        loop.call_soon_threadsafe(lambda: stop.done() or stop.set_result("stdin EOF"))

    server = await serve(
        handler,
        "127.0.0.1",
        0,
        ssl=tls,
        compression="deflate" if args.compression == "deflate" else None,
        process_request=process_request,
        subprotocols=[args.subprotocol] if args.subprotocol else None,
        ping_interval=None,
    )
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    threading.Thread(target=wait_stdin_eof, daemon=True).start()

    try:
        reason = await asyncio.wait_for(stop, HARD_TIMEOUT)
    except asyncio.TimeoutError:
        reason = "hard timeout"
    print(f"py_tls_server: stopping ({reason})", file=sys.stderr)
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    asyncio.run(main(parse_args()))
    sys.stderr.flush()
    os._exit(0)
