#!/usr/bin/env node
// wss:// test client on the npm `ws` package, trusting one CA.
//
// Usage: node node_tls_client.js --url wss://127.0.0.1:PORT/path --ca CA.pem
//          [--sizes 0,125,126,...] [--kinds text,binary] [--compression none|deflate]
//
// Verifies the server's certificate against the CA in --ca only (the `ca`
// option, passed on to tls.connect). For each kind and each size it sends one
// deterministic message, waits for the echo and checks it is identical and of
// the same type, then closes with 1000 and waits for the server's Close.
//   text:   "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated to size
//   binary: bytes (i * 31 + 7) & 0xff for i in 0..size
//
// Prints exactly one JSON line on stdout (same format as py_tls_client.py):
//   {"ok": true, "echoed": N, "close_code": C, "close_reason": R,
//    "extensions": E, "tls": V}
//   {"ok": false, "error": "..."}      any failure (incl. 60 s timeout)
// Exit code is 0 in all these cases; non-zero only on a crash. Used by
// tests/tls_server.rs.
'use strict';

const fs = require('fs');
const WebSocket = require('ws');

const HARD_TIMEOUT_MS = 60000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

// Print one JSON line formatted like Python's json.dumps, then exit 0.
let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  const body = Object.entries(result)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ');
  process.stdout.write(`{${body}}\n`, () => process.exit(0));
}

function parseArgs(argv) {
  const opts = { url: null, ca: null, sizes: '0,125,126,65535,65536,1048576', kinds: 'text,binary', compression: 'none' };
  const names = { '--url': 'url', '--ca': 'ca', '--sizes': 'sizes', '--kinds': 'kinds', '--compression': 'compression' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) throw new Error(`bad argument: ${argv[i]}`);
    opts[key] = argv[i + 1];
  }
  if (!opts.url || !opts.ca) throw new Error('--url and --ca are required');
  if (!['none', 'deflate'].includes(opts.compression)) throw new Error('bad --compression');
  opts.sizes = opts.sizes.split(',').filter((s) => s.trim()).map((s) => Number(s));
  opts.kinds = opts.kinds.split(',').map((k) => k.trim()).filter((k) => k);
  for (const k of opts.kinds) if (k !== 'text' && k !== 'binary') throw new Error(`unknown kind ${k}`);
  return opts;
}

function payload(kind, size) {
  if (kind === 'text') return ALPHABET.repeat(Math.floor(size / ALPHABET.length) + 1).slice(0, size);
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`node_tls_client: ${e.message}`);
    process.exit(2);
  }
  setTimeout(() => finish({ ok: false, error: `TimeoutError: no result within ${HARD_TIMEOUT_MS / 1000} s` }),
    HARD_TIMEOUT_MS);

  const ws = new WebSocket(opts.url, {
    ca: fs.readFileSync(opts.ca),
    perMessageDeflate: opts.compression === 'deflate',
    maxPayload: 64 * 1024 * 1024,
    handshakeTimeout: 10000,
  });

  const cases = [];
  for (const kind of opts.kinds) for (const size of opts.sizes) cases.push([kind, size]);
  let current = 0; // index of the message awaiting its echo
  let done = false; // all echoes received, closing
  let tlsVersion = null;

  function sendNext() {
    if (current === cases.length) {
      done = true;
      ws.close(1000, 'done');
      return;
    }
    const [kind, size] = cases[current];
    ws.send(payload(kind, size), { binary: kind === 'binary' });
  }

  ws.on('unexpected-response', (req, res) => finish({ ok: false, error: `HTTP ${res.statusCode}` }));
  ws.on('error', (err) => finish({ ok: false, error: `${err.name}: ${err.message}` }));
  ws.on('open', () => {
    tlsVersion = ws._socket && typeof ws._socket.getProtocol === 'function' ? ws._socket.getProtocol() : null;
    sendNext();
  });
  ws.on('message', (data, isBinary) => {
    if (done || current >= cases.length) {
      finish({ ok: false, error: 'unexpected extra message' });
      return;
    }
    const [kind, size] = cases[current];
    if (isBinary !== (kind === 'binary')) {
      finish({ ok: false, error: `${kind} size ${size}: echo came back as ${isBinary ? 'binary' : 'text'}` });
      return;
    }
    const expected = kind === 'text' ? Buffer.from(payload(kind, size), 'utf8') : payload(kind, size);
    if (!expected.equals(data)) {
      finish({ ok: false, error: `${kind} size ${size}: echo differs (got ${data.length} bytes)` });
      return;
    }
    current += 1;
    sendNext();
  });
  ws.on('close', (code, reason) => {
    if (!done) {
      finish({ ok: false, error: `connection closed early: code ${code} reason ${JSON.stringify(reason.toString())}` });
      return;
    }
    finish({
      ok: code === 1000,
      echoed: current,
      close_code: code,
      close_reason: reason.toString(),
      extensions: ws.extensions || null,
      tls: tlsVersion,
    });
  });
}

main();
