#!/usr/bin/env node
// Message-level WebSocket test server built on the npm `ws` package.
//
// Usage: node node_conn_server.js
//
// Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
// to stdout (logs go to stderr). Every message is echoed with its type, except
// these text commands (same as py_conn_server.py; used by
// tests/interop_connection.rs and tests/interop_connection_close.rs):
//   "fragments:KIND:SIZE:N"  send the KIND (text|binary) payload of SIZE bytes
//                            as N fragments with a ping ("ping-0", ...) after
//                            every fragment but the last; once every pong is
//                            back send the text "pongs:P" (or
//                            "pong-timeout:P" after 20 s).
//   "close:CODE:REASON"      close with that code and reason.
//   "last-close"             reply "CODE:REASON": the Close frame received on
//                            the most recent earlier connection that ended
//                            (waits up to 20 s for one to end).
// Payloads: text = "abcdefghijklmnopqrstuvwxyz0123456789" repeated/truncated
// to size; binary = bytes (i * 31 + 7) & 0xff.
// Exits when stdin reaches EOF or after a hard timeout of 120 s.
'use strict';

const { WebSocketServer } = require('ws');

const HARD_TIMEOUT_MS = 120000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

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

const closes = []; // [code, reason] of each connection that ended
let closeWaiters = [];

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });

wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

function sendFragments(ws, kind, size, n) {
  const binary = kind === 'binary';
  const parts = split(payload(kind, size), n);
  const expected = parts.length - 1;
  let pongs = 0;
  const timer = setTimeout(() => ws.send(`pong-timeout:${pongs}`), 20000);
  const onPong = (data) => {
    if (data.toString() !== `ping-${pongs}`) {
      console.error(`node_conn_server: unexpected pong ${data.toString()}`);
      return;
    }
    pongs += 1;
    if (pongs === expected) {
      clearTimeout(timer);
      ws.off('pong', onPong);
      ws.send(`pongs:${pongs}`);
    }
  };
  ws.on('pong', onPong);
  parts.forEach((part, i) => {
    const fin = i === parts.length - 1;
    ws.send(part, { binary, fin });
    if (!fin) ws.ping(`ping-${i}`);
  });
  if (expected === 0) {
    clearTimeout(timer);
    ws.off('pong', onPong);
    ws.send('pongs:0');
  }
}

wss.on('connection', (ws) => {
  ws.on('error', (err) => console.error(`node_conn_server: connection error: ${err.message}`));
  ws.on('close', (code, reason) => {
    closes.push([code, reason.toString('utf8')]);
    const waiters = closeWaiters;
    closeWaiters = [];
    waiters.forEach((w) => w());
  });
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text !== null && text.startsWith('fragments:')) {
      const [, kind, size, n] = text.split(':');
      sendFragments(ws, kind, Number(size), Number(n));
    } else if (text !== null && text.startsWith('close:')) {
      const [, code, ...rest] = text.split(':');
      ws.close(Number(code), rest.join(':'));
    } else if (text === 'last-close') {
      const reply = () => {
        const [code, reason] = closes[closes.length - 1];
        ws.send(`${code}:${reason}`);
      };
      if (closes.length > 0) reply();
      else {
        const timer = setTimeout(() => ws.send('no-close-seen'), 20000);
        closeWaiters.push(() => { clearTimeout(timer); reply(); });
      }
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
});

wss.on('error', (err) => {
  console.error(`node_conn_server: ${err.message}`);
  process.exit(1);
});

function stop(reason) {
  console.error(`node_conn_server: stopping (${reason})`);
  process.exit(0);
}
process.stdin.on('end', () => stop('stdin EOF'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
setTimeout(() => stop('hard timeout'), HARD_TIMEOUT_MS);
