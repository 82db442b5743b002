#!/usr/bin/env python3
"""A WebSocket client that keeps sending while the server closes, built on
the Python `websockets` package; reports which Close frame (if any) it got.

Usage: py_flood_client.py --url ws://127.0.0.1:PORT/path --mode MODE
                          [--trials N] [--size BYTES] [--chunk BYTES]
                          [--stall SECONDS]

Runs --trials connections at once (default 1), each doing --mode:
  fragments  send ONE binary message of --size bytes as --chunk-byte
             fragments (an async generator passed to `ws.send`), then wait
             for the connection to close.
  stream     send binary messages of --chunk bytes, back to back, until the
             connection closes (at most --size bytes in all).
  stall      like stream, but not reading at all (the transport's reading
             is paused right after the handshake, so the server's frames
             pile up in the kernel); as soon as one send has been blocked
             for --stall seconds (the server stopped reading) or --size
             bytes are out, stop sending, resume reading and read every
             message until the connection closes.

Every connection uses max_size=None, compression=None, no keepalive pings.
Prints one JSON line per trial on stdout, as each trial ends:
  {"trial": I, "close": {"code": C, "reason": R}, "sent": B, "received": M,
   "ending": "..."}
  {"trial": I, "close": null, "detail": "no close frame received", ...}
where "close" is the Close frame received from the server (websockets'
`protocol.close_rcvd`, also the ConnectionClosed exception's `rcvd`), "sent"
the bytes of data sent, "received" the messages read (stall mode), and
"ending" how sending ended (an exception, or "done"). Exit code 0 unless it
crashes; a 60 s hard timeout ends every trial still running.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import threading

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

HARD_TIMEOUT = 60.0
CLOSE_WAIT = 15.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--mode", required=True, choices=["fragments", "stream", "stall"])
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--size", type=int, default=4 << 20)
    p.add_argument("--chunk", type=int, default=64 << 10)
    p.add_argument("--stall", type=float, default=0.5)
    return p.parse_args()


def describe(exc):
    return f"{type(exc).__name__}: {exc}"


async def trial(args, index):
    report = {"trial": index, "close": None, "sent": 0, "received": 0, "ending": "done"}
    chunk = bytes((i * 31 + 7) & 0xFF for i in range(args.chunk))
    ws = await connect(
        args.url,
        max_size=None,
        compression=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=10,
        proxy=None,
    )
    if args.mode == "stall":
        ws.transport.pause_reading()
    try:
        if args.mode == "fragments":

            async def fragments():
                while report["sent"] < args.size:
                    n = min(args.chunk, args.size - report["sent"])
                    report["sent"] += n
                    yield chunk[:n]

            await ws.send(fragments())
        elif args.mode == "stream":
            while report["sent"] < args.size:
                await ws.send(chunk)
                report["sent"] += len(chunk)
        else:  # stall
            while report["sent"] < args.size:
                try:
                    await asyncio.wait_for(ws.send(chunk), args.stall)
                except (asyncio.TimeoutError, TimeoutError):
                    report["ending"] = f"a send blocked for {args.stall} s; reading"
                    break
                report["sent"] += len(chunk)
            ws.transport.resume_reading()
            while True:
                await ws.recv()
                report["received"] += 1
    except ConnectionClosed as exc:
        report["ending"] = describe(exc)
    except Exception as exc:  # report, never crash: the Rust test reads the JSON
        report["ending"] = describe(exc)
    try:
        await asyncio.wait_for(ws.wait_closed(), CLOSE_WAIT)
    except (asyncio.TimeoutError, TimeoutError):
        report["ending"] += f"; not closed {CLOSE_WAIT:.0f} s later"
    rcvd = ws.protocol.close_rcvd
    if rcvd is not None:
        report["close"] = {"code": int(rcvd.code), "reason": rcvd.reason}
    else:
        report["detail"] = "no close frame received"
    return report


async def guarded(args, index):
    try:
        report = await asyncio.wait_for(trial(args, index), HARD_TIMEOUT)
    except (asyncio.TimeoutError, TimeoutError):
        report = {"trial": index, "close": None,
                  "detail": f"hard timeout after {HARD_TIMEOUT:.0f} s"}
    except Exception as exc:
        report = {"trial": index, "close": None, "detail": describe(exc)}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


async def main(args):
    await asyncio.gather(*(guarded(args, i) for i in range(args.trials)))


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=logging.CRITICAL)
    # Backstop in case the event loop itself gets stuck.
    backstop = threading.Timer(HARD_TIMEOUT + 10, lambda: os._exit(3))
    backstop.daemon = True
    backstop.start()
    asyncio.run(main(parse_args()))
    os._exit(0)
