#!/usr/bin/env python3
"""A stand-in for the Autobahn fuzzing server, built on Python `websockets`,
to test a conformance-testee client end to end.

Usage: py_mock_fuzzingserver.py
Binds 127.0.0.1 port 0 and prints `PORT <n>`. Speaks the testee protocol:
  /getCaseCount                 sends the case count ("4") as text
  /runCase?case=N&agent=A       case 1: text echo; 2: binary 1 MiB echo;
                                3: a message in 3 fragments with a ping between
                                them; 4: sends a close 1000 straight away
  /updateReports?agent=A        closes with 1000, then prints one JSON line
                                {"cases_run": [...], "ok": [...], "agent": A}
                                on stdout and exits.
Exits on stdin EOF or after 120 s.
"""

import asyncio
import json
import os
import sys
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import serve

CASES = 4
results = {"cases_run": [], "ok": [], "agent": None, "deflate": []}
done = asyncio.Event()


async def run_case(ws, case):
    if case == 1:
        await ws.send("hello ✓")
        return await ws.recv() == "hello ✓"
    if case == 2:
        data = bytes((i * 7) & 0xFF for i in range(1 << 20))
        await ws.send(data)
        return await ws.recv() == data
    if case == 3:
        async def fragments():
            yield "frag-1 "
            await ws.ping(b"between")
            yield "frag-2 "
            yield "frag-3"
        await ws.send(fragments())
        return await ws.recv() == "frag-1 frag-2 frag-3"
    if case == 4:
        await ws.close(1000)
        return True
    return False


async def handler(ws):
    url = urlparse(ws.request.path)
    query = parse_qs(url.query)
    if url.path == "/getCaseCount":
        await ws.send(str(CASES))
    elif url.path == "/runCase":
        case = int(query["case"][0])
        results["agent"] = query["agent"][0]
        results["cases_run"].append(case)
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        if agreed.startswith("permessage-deflate"):
            results["deflate"].append(case)
        try:
            if await asyncio.wait_for(run_case(ws, case), 20):
                results["ok"].append(case)
        except Exception as e:  # noqa: BLE001 - reported in the JSON
            print(f"case {case} failed: {e!r}", file=sys.stderr)
    elif url.path == "/updateReports":
        await ws.close(1000)
        done.set()


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def main():
    # permessage-deflate as the real suite offers it, so a client that
    # offers it runs every case compressed.
    async with serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        stop = asyncio.ensure_future(stdin_closed())
        finished = asyncio.ensure_future(done.wait())
        await asyncio.wait([stop, finished], timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if finished.done():
            print(json.dumps(results), flush=True)
    os._exit(0)


asyncio.run(main())
