#!/usr/bin/env node
// permessage-deflate peer on the npm `ws` package (used by
// tests/interop_deflate_node.rs), with ws's `perMessageDeflate` options given as
// JSON, e.g. '{"threshold":0,"serverMaxWindowBits":10}'.
//
// Usage:
//   node node_deflate.js server '<perMessageDeflate JSON>'
//       Binds 127.0.0.1 port 0, prints exactly one line `PORT <n>` on stdout
//       and echoes every message with its type, except these text commands:
//         "cmd:extensions"             reply one JSON text:
//             {"extensions": ws.extensions, "params": <accepted params>,
//              "offer": <request's Sec-WebSocket-Extensions>,
//              "response": <our Sec-WebSocket-Extensions>}
//         "cmd:fragments:KIND:SIZE:N"  send the KIND (text|binary|far) payload of
//                                      SIZE bytes as N fragments, with a ping
//                                      after every fragment but the last
//       Exits when stdin reaches EOF or after a hard timeout of 120 s.
//   node node_deflate.js client <url> '<perMessageDeflate JSON>' <sizes> <N> [<kinds>]
//       For each kind (comma list, default text,binary) and each size
//       (comma list): sends the payload
//       whole and checks the echo, then (N > 0) sends it as N fragments with
//       a ping between fragments and checks the echo. Closes with 1000.
//       Prints one JSON line:
//         {"ok": true, "echoed": E, "pongs": P, "close": C,
//          "extensions": ws.extensions, "params": <accepted params>,
//          "response": <server's Sec-WebSocket-Extensions>}
//         {"ok": false, "error": "..."}  (any failure, incl. a 60 s timeout)
//       Exit code 0 unless it crashes.
//
// `ws.extensions` is only the names ("permessage-deflate"); the accepted
// parameters are ws's PerMessageDeflate `params` object
// (ws._extensions['permessage-deflate'].params), e.g.
// {"server_max_window_bits": 10, "client_max_window_bits": 9}.
//
// Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated
// to size; binary = bytes (i * 31 + 7) & 0xff; far (binary) = a 3000-byte
// pseudo-random block repeated (x = (x * 1103515245 + 12345) mod 2^31 from
// x = 1, byte (x >> 16) & 0xff): it only compresses with back-references
// 3000 bytes away, beyond a 9-11-bit window, so an inflater with a small
// window fails on it if the compressor ignored the agreed window.
'use strict';

const WebSocket = require('ws');

const MAX_PAYLOAD = 64 << 20;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const FAR = (() => {
  const block = Buffer.alloc(3000);
  let x = 1;
  for (let i = 0; i < block.length; i++) {
    x = ((Math.imul(x, 1103515245) + 12345) >>> 0) & 0x7fffffff;
    block[i] = (x >>> 16) & 0xff;
  }
  return block;
})();

function payload(kind, n) {
  if (kind === 'text') return Buffer.from(ALPHABET.repeat(Math.ceil(n / ALPHABET.length) + 1).slice(0, n));
  const b = Buffer.alloc(n);
  if (kind === 'far') for (let i = 0; i < n; i++) b[i] = FAR[i % FAR.length];
  else for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function split(buf, n) {
  const step = Math.ceil(buf.length / n);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(buf.subarray(i * step, (i + 1) * step));
  return parts;
}

function params(ws) {
  const pmd = ws._extensions && ws._extensions['permessage-deflate'];
  return pmd ? pmd.params : null;
}

let finished = false;
function out(obj) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0));
}

const [, , role, ...rest] = process.argv;

if (role === 'server') {
  setTimeout(() => process.exit(0), 120000).unref();
  const wss = new WebSocket.Server({
    host: '127.0.0.1', port: 0, perMessageDeflate: JSON.parse(rest[0]), maxPayload: MAX_PAYLOAD,
  });
  let lastResponse = '';
  wss.on('headers', (headers) => {
    const h = headers.find((l) => /^sec-websocket-extensions:/i.test(l));
    lastResponse = h ? h.replace(/^[^:]*:\s*/, '') : '';
  });
  wss.on('listening', () => process.stdout.write(`PORT ${wss.address().port}\n`));
  wss.on('connection', (ws, req) => {
    const offer = req.headers['sec-websocket-extensions'] || '';
    const response = lastResponse;
    ws.on('message', (data, isBinary) => {
      const cmd = isBinary ? '' : data.toString();
      if (cmd === 'cmd:extensions') {
        ws.send(JSON.stringify({ extensions: ws.extensions, params: params(ws), offer, response }));
      } else if (cmd.startsWith('cmd:fragments:')) {
        const [, , kind, size, n] = cmd.split(':');
        const parts = split(payload(kind, Number(size)), Number(n));
        parts.forEach((part, i) => {
          const fin = i === parts.length - 1;
          ws.send(part, { binary: kind !== 'text', fin });
          if (!fin) ws.ping(`ping-${i}`);
        });
      } else {
        ws.send(data, { binary: isBinary });
      }
    });
    ws.on('error', (e) => process.stderr.write(`node_deflate server: ${e}\n`));
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (role === 'client') {
  setTimeout(() => out({ ok: false, error: 'timeout' }), 60000).unref();
  const [url, pmdJson, sizesArg, fragmentsArg, kindsArg] = rest;
  const kinds = (kindsArg || 'text,binary').split(',').filter((k) => k !== '');
  const sizes = sizesArg.split(',').filter((s) => s !== '').map(Number);
  const fragments = Number(fragmentsArg || 0);
  let response = '';
  const ws = new WebSocket(url, { perMessageDeflate: JSON.parse(pmdJson), maxPayload: MAX_PAYLOAD });
  ws.on('upgrade', (res) => { response = res.headers['sec-websocket-extensions'] || ''; });
  ws.on('error', (e) => out({ ok: false, error: String(e) }));
  ws.on('unexpected-response', (req, res) => out({ ok: false, error: `HTTP ${res.statusCode}` }));
  const queue = [];
  const inbox = [];
  ws.on('message', (data, isBinary) => {
    const waiter = queue.shift();
    if (waiter) waiter({ data, isBinary });
    else inbox.push({ data, isBinary });
  });
  const next = () => (inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => queue.push(r)));
  let pongs = 0;
  ws.on('pong', () => pongs++);
  ws.on('open', async () => {
    try {
      let echoed = 0;
      for (const kind of kinds) {
        for (const n of sizes) {
          const msg = payload(kind, n);
          const isBin = kind !== 'text';
          ws.send(msg, { binary: isBin });
          let e = await next();
          if (e.isBinary !== isBin || Buffer.compare(Buffer.from(e.data), msg) !== 0) {
            throw new Error(`${kind} ${n}: whole echo differs (${e.data.length} bytes)`);
          }
          echoed++;
          if (fragments > 0) {
            const parts = split(msg, fragments);
            parts.forEach((part, i) => {
              const fin = i === parts.length - 1;
              ws.send(part, { binary: isBin, fin });
              if (!fin) ws.ping(`ping-${i}`);
            });
            e = await next();
            if (e.isBinary !== isBin || Buffer.compare(Buffer.from(e.data), msg) !== 0) {
              throw new Error(`${kind} ${n}: fragmented echo differs (${e.data.length} bytes)`);
            }
            echoed++;
          }
        }
      }
      ws.on('close', (code) => out({
        ok: code === 1000, echoed, pongs, close: code, extensions: ws.extensions, params: params(ws), response,
      }));
      ws.close(1000);
    } catch (err) {
      out({ ok: false, error: String(err) });
    }
  });
} else {
  process.stderr.write('usage: node_deflate.js server JSON | client URL JSON SIZES FRAGMENTS [KINDS]\n');
  process.exit(2);
}
