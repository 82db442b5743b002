#!/usr/bin/env node
// permessage-deflate peer on the npm `ws` package, with every option of
// ws's `perMessageDeflate` settable from the command line.
//
// Usage:
//   node node_pmd.js server '<perMessageDeflate JSON>'
//       Echo server on 127.0.0.1 port 0: prints `PORT <n>`, echoes every
//       message with the same type; exits when stdin ends or after 120 s.
//   node node_pmd.js client <url> '<perMessageDeflate JSON>' <sizes>
//       For text and binary and each size (comma list): sends the message
//       whole, then again in 3 fragments with a ping between fragments;
//       checks every echo. Prints one JSON line:
//       {"ok": true, "echoed": N, "extensions": "<negotiated header>"}
//       or {"ok": false, "error": "..."}; exits 0 either way.
// The JSON is passed to ws as `perMessageDeflate` (e.g.
// {"threshold":0,"serverMaxWindowBits":10}); `false` turns it off.
'use strict';

const WebSocket = require('ws');

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const text = (n) => ALPHABET.repeat(Math.ceil(n / ALPHABET.length) + 1).slice(0, n);
const binary = (n) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
};

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(0));
}

const [, , role, ...rest] = process.argv;
setTimeout(() => (role === 'client' ? out({ ok: false, error: 'timeout' }) : process.exit(0)), 120000).unref();

if (role === 'server') {
  const pmd = JSON.parse(rest[0]);
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, perMessageDeflate: pmd, maxPayload: 64 << 20 });
  wss.on('listening', () => process.stdout.write(`PORT ${wss.address().port}\n`));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else if (role === 'client') {
  const [url, pmdJson, sizesArg] = rest;
  const sizes = sizesArg.split(',').map(Number);
  let negotiated = '';
  const ws = new WebSocket(url, { perMessageDeflate: JSON.parse(pmdJson), maxPayload: 64 << 20 });
  ws.on('upgrade', (res) => { negotiated = res.headers['sec-websocket-extensions'] || ''; });
  ws.on('error', (e) => out({ ok: false, error: String(e) }));
  ws.on('unexpected-response', (req, res) => out({ ok: false, status: res.statusCode }));
  const queue = [];
  ws.on('message', (data, isBinary) => {
    const waiter = queue.shift();
    if (waiter) waiter({ data, isBinary });
  });
  const next = () => new Promise((resolve) => queue.push(resolve));
  let pongs = 0;
  ws.on('pong', () => pongs++);
  ws.on('open', async () => {
    try {
      let echoed = 0;
      for (const kind of ['text', 'binary']) {
        for (const n of sizes) {
          const msg = kind === 'text' ? text(n) : binary(n);
          const isBin = kind === 'binary';
          // Whole.
          ws.send(msg, { binary: isBin });
          let e = await next();
          if (e.isBinary !== isBin || Buffer.compare(Buffer.from(e.data), Buffer.from(msg)) !== 0) {
            throw new Error(`${kind} ${n}: whole echo differs`);
          }
          echoed++;
          // In 3 fragments with a ping between them.
          const buf = Buffer.from(msg);
          const a = Math.floor(buf.length / 3), b = Math.floor((2 * buf.length) / 3);
          ws.send(buf.subarray(0, a), { binary: isBin, fin: false });
          ws.ping('between');
          ws.send(buf.subarray(a, b), { binary: isBin, fin: false });
          ws.send(buf.subarray(b), { binary: isBin, fin: true });
          e = await next();
          if (e.isBinary !== isBin || Buffer.compare(Buffer.from(e.data), buf) !== 0) {
            throw new Error(`${kind} ${n}: fragmented echo differs`);
          }
          echoed++;
        }
      }
      ws.close(1000);
      ws.on('close', () => out({ ok: pongs === 2 * sizes.length, echoed, pongs, extensions: negotiated }));
    } catch (err) {
      out({ ok: false, error: String(err) });
    }
  });
} else {
  process.stderr.write('usage: node_pmd.js server JSON | client URL JSON SIZES\n');
  process.exit(2);
}
