#!/usr/bin/env node
// Raw-socket WebSocket client (Node `net`) that sends deliberately broken frames.
//
// Usage: node node_raw_client.js --url ws://127.0.0.1:PORT/path --case CASE
//
// Performs the opening handshake by hand (checking the 101 status and
// Sec-WebSocket-Accept), sends the frames of CASE, then reads frames until the
// server's Close and reports it. Same cases and output as py_raw_client.py:
//   invalid-utf8      one masked text frame, payload ff fe
//   truncated-utf8    one masked text frame ending inside a character, "ok" e2 82
//   fragmented-utf8   masked text frame "ab" e2 (FIN=0), then a continuation
//                     28 "cd" (FIN=1): the 3-byte sequence breaks across frames
//   unmasked          one UNMASKED text frame "hello" (clients must mask)
// Prints exactly one JSON line on stdout:
//   {"ok": true, "code": C, "reason": R, "frames_before_close": N}
//   {"ok": false, "error": "..."}   (handshake failure, no Close before EOF, 20 s timeout)
'use strict';

const crypto = require('crypto');
const net = require('net');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TIMEOUT_MS = 20000;

let finished = false;
function finish(result) {
  if (finished) return;
  finished = true;
  const body = Object.entries(result)
    .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(', ');
  process.stdout.write(`{${body}}\n`, () => process.exit(0));
}

function frame(opcode, payload, { fin = true, mask = true } = {}) {
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0, n]);
  else if (n < 65536) {
    head = Buffer.alloc(4);
    head.writeUInt16BE(n, 2);
    head[1] = 126;
  } else {
    head = Buffer.alloc(10);
    head.writeBigUInt64BE(BigInt(n), 2);
    head[1] = 127;
  }
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([head, key, body]);
}

const CASES = {
  'invalid-utf8': () => [frame(0x1, Buffer.from([0xff, 0xfe]))],
  'truncated-utf8': () => [frame(0x1, Buffer.from([0x6f, 0x6b, 0xe2, 0x82]))],
  'fragmented-utf8': () => [
    frame(0x1, Buffer.from([0x61, 0x62, 0xe2]), { fin: false }),
    frame(0x0, Buffer.from([0x28, 0x63, 0x64])),
  ],
  unmasked: () => [frame(0x1, Buffer.from('hello'), { mask: false })],
};

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!['--url', '--case'].includes(argv[i]) || argv[i + 1] === undefined) {
      throw new Error(`bad argument: ${argv[i]}`);
    }
    opts[argv[i].slice(2)] = argv[i + 1];
  }
  if (!opts.url || !CASES[opts.case]) throw new Error('--url and a valid --case are required');
  return opts;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`node_raw_client: ${e.message}`);
    process.exit(2);
  }
  setTimeout(() => finish({ ok: false, error: 'TimeoutError' }), TIMEOUT_MS);
  const url = new URL(opts.url);
  const key = crypto.randomBytes(16).toString('base64');
  const expectedAccept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  const sock = net.connect({ host: url.hostname, port: Number(url.port) });
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let frames = 0;

  sock.on('error', (err) => finish({ ok: false, error: `${err.code || err.name}: ${err.message}` }));
  sock.on('close', () => finish({ ok: false, error: 'connection ended before a Close frame' }));
  sock.on('connect', () => {
    sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`
      + 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      buf = buf.subarray(end + 4);
      if (!lines[0].startsWith('HTTP/1.1 101')) {
        finish({ ok: false, error: `handshake: ${lines[0]}` });
        return;
      }
      const headers = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      if (headers['sec-websocket-accept'] !== expectedAccept) {
        finish({ ok: false, error: 'handshake: bad Sec-WebSocket-Accept' });
        return;
      }
      upgraded = true;
      for (const f of CASES[opts.case]()) sock.write(f);
    }
    // Parse as many whole frames as are buffered.
    for (;;) {
      if (buf.length < 2) return;
      if (buf[1] & 0x80) {
        finish({ ok: false, error: 'server sent a masked frame' });
        return;
      }
      let n = buf[1] & 0x7f;
      let off = 2;
      if (n === 126) {
        if (buf.length < 4) return;
        n = buf.readUInt16BE(2);
        off = 4;
      } else if (n === 127) {
        if (buf.length < 10) return;
        n = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + n) return;
      const opcode = buf[0] & 0x0f;
      const data = buf.subarray(off, off + n);
      buf = buf.subarray(off + n);
      if (opcode === 0x8) {
        if (data.length < 2) {
          finish({ ok: false, error: `close frame with ${data.length}-byte body` });
          return;
        }
        const result = {
          ok: true, code: data.readUInt16BE(0), reason: data.subarray(2).toString('utf8'),
          frames_before_close: frames,
        };
        sock.write(frame(0x8, data.subarray(0, 2)), () => sock.destroy());
        finish(result);
        return;
      }
      frames += 1;
    }
  });
}

main();
