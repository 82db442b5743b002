#!/usr/bin/env node
// Message-level WebSocket test client built on the npm `ws` package.
//
// Usage: node node_conn_client.js --url ws://127.0.0.1:PORT/path --mode MODE
//          [--kind text|binary] [--size N] [--fragments N] [--code C] [--reason R]
//
// Modes (same as py_conn_client.py; used by tests/interop_connection.rs and
// tests/interop_connection_close.rs):
//   send-fragments  send one --kind/--size message as --fragments fragments
//                   (ws.send(chunk, {fin: false}) ... {fin: true}) with a ping
//                   ("ping-0", "ping-1", ...) after every fragment but the
//                   last, wait for every pong, then expect the whole message
//                   echoed once; close with 1000.
//                   -> {"ok": true, "pongs": P, "echoed": 1}
//   recv-fragments  wait for one message, check it is the --kind/--size
//                   payload, send it back unchanged, wait for the server's Close.
//                   -> {"ok": true, "received": 1, "extra": E, "code": C, "reason": R}
//   wait-close      receive (and count) messages until the server closes.
//                   -> {"ok": true, "messages": M, "code": C, "reason": R}
//   close           close at once with --code/--reason and wait for the reply.
//                   -> {"ok": true, "code": C, "reason": R}  (the server's reply)
//
// Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated
// to size; binary = bytes (i * 31 + 7) & 0xff.
// Prints exactly one JSON line on stdout; {"ok": false, "error": "..."} on any
// failure (incl. a 60 s hard timeout). Exit code 0 unless it crashes.
'use strict';

const WebSocket = require('ws');

const HARD_TIMEOUT_MS = 60000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

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
  const opts = { url: null, mode: null, kind: 'text', size: 0, fragments: 3, code: 1000, reason: '' };
  const names = { '--url': 'url', '--mode': 'mode', '--kind': 'kind', '--size': 'size',
    '--fragments': 'fragments', '--code': 'code', '--reason': 'reason' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) throw new Error(`bad argument: ${argv[i]}`);
    opts[key] = argv[i + 1];
  }
  if (!opts.url) throw new Error('--url is required');
  if (!['send-fragments', 'recv-fragments', 'wait-close', 'close'].includes(opts.mode)) {
    throw new Error(`bad --mode ${opts.mode}`);
  }
  if (!['text', 'binary'].includes(opts.kind)) throw new Error(`bad --kind ${opts.kind}`);
  opts.size = Number(opts.size);
  opts.fragments = Number(opts.fragments);
  opts.code = Number(opts.code);
  return opts;
}

// The payload as bytes (text is ASCII, so bytes == UTF-8).
function payload(kind, size) {
  if (kind === 'text') {
    return Buffer.from(ALPHABET.repeat(Math.floor(size / ALPHABET.length) + 1).slice(0, size), 'utf8');
  }
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

function split(buf, n) {
  const step = Math.ceil(buf.length / n);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(buf.subarray(i * step, (i + 1) * step));
  return parts;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`node_conn_client: ${e.message}`);
    process.exit(2);
  }
  setTimeout(() => finish({ ok: false, error: 'TimeoutError: hard timeout' }), HARD_TIMEOUT_MS);

  const ws = new WebSocket(opts.url, { maxPayload: 64 * 1024 * 1024, handshakeTimeout: 10000 });
  const binary = opts.kind === 'binary';
  const expected = payload(opts.kind, opts.size);
  let messages = 0;
  let pongs = 0;
  let pingsSent = 0;
  let echoed = 0;
  let onClose = (code, reason) => finish({ ok: false, error: `closed early: ${code} ${reason}` });

  ws.on('error', (err) => finish({ ok: false, error: `${err.name}: ${err.message}` }));
  ws.on('close', (code, reason) => onClose(code, reason.toString('utf8')));

  if (opts.mode === 'send-fragments') {
    const maybeDone = () => {
      if (echoed === 1 && pongs === pingsSent) {
        onClose = (code) => {
          if (code === 1000) finish({ ok: true, pongs, echoed });
          else finish({ ok: false, error: `close reply ${code}` });
        };
        ws.close(1000);
      }
    };
    ws.on('pong', (data) => {
      if (data.toString() !== `ping-${pongs}`) {
        finish({ ok: false, error: `unexpected pong ${JSON.stringify(data.toString())}` });
        return;
      }
      pongs += 1;
      maybeDone();
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary !== binary || !expected.equals(data)) {
        finish({ ok: false, error: `echo differs: binary=${isBinary}, ${data.length} bytes` });
        return;
      }
      echoed += 1;
      maybeDone();
    });
    ws.on('open', () => {
      const parts = split(expected, opts.fragments);
      parts.forEach((part, i) => {
        const fin = i === parts.length - 1;
        ws.send(part, { binary, fin });
        if (!fin) {
          ws.ping(`ping-${i}`);
          pingsSent += 1;
        }
      });
    });
  } else if (opts.mode === 'recv-fragments') {
    let extra = 0;
    ws.on('message', (data, isBinary) => {
      messages += 1;
      if (messages > 1) {
        extra += 1;
        return;
      }
      if (isBinary !== binary || !expected.equals(data)) {
        finish({ ok: false, error: `message differs: binary=${isBinary}, ${data.length} bytes` });
        return;
      }
      onClose = (code, reason) => finish({ ok: true, received: 1, extra, code, reason });
      ws.send(data, { binary });
    });
  } else if (opts.mode === 'wait-close') {
    ws.on('message', () => { messages += 1; });
    onClose = (code, reason) => finish({ ok: true, messages, code, reason });
  } else {
    ws.on('open', () => {
      onClose = (code, reason) => finish({ ok: true, code, reason });
      ws.close(opts.code, opts.reason);
    });
  }
}

main();
