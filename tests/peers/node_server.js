#!/usr/bin/env node
// WebSocket test server built on the npm `ws` package.
//
// Usage: node node_server.js [--compression none|deflate] [--max-size N] [--mode echo|close]
//
// Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
// to stdout (nothing else is ever written there; logs go to stderr).
//   --compression  none (default) or deflate (permessage-deflate, RFC 7692)
//   --max-size     largest accepted message in bytes (default 64 MiB)
//   --mode         echo (default): send every message back with the same type;
//                  close: a text message "close:CODE:REASON" makes the server
//                  close with that code and reason, anything else is echoed.
// Exits when stdin reaches EOF (the test holds the pipe open and drops it when
// done) or after a hard timeout of 120 s, whichever comes first.
'use strict';

const { WebSocketServer } = require('ws');

const HARD_TIMEOUT_MS = 120000;

function parseArgs(argv) {
  const opts = { compression: 'none', maxSize: 64 * 1024 * 1024, mode: 'echo' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === '--compression' && ['none', 'deflate'].includes(value)) opts.compression = value;
    else if (flag === '--max-size' && /^\d+$/.test(value)) opts.maxSize = Number(value);
    else if (flag === '--mode' && ['echo', 'close'].includes(value)) opts.mode = value;
    else throw new Error(`bad argument: ${flag} ${value}`);
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`node_server: ${e.message}`);
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: opts.compression === 'deflate',
  maxPayload: opts.maxSize,
});

wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

wss.on('connection', (ws) => {
  ws.on('error', (err) => console.error(`node_server: connection error: ${err.message}`));
  ws.on('message', (data, isBinary) => {
    if (opts.mode === 'close' && !isBinary) {
      const text = data.toString('utf8');
      if (text.startsWith('close:')) {
        const [, code, ...rest] = text.split(':');
        try {
          ws.close(Number(code), rest.join(':'));
        } catch (err) {
          console.error(`node_server: cannot close with ${code}: ${err.message}`);
          ws.terminate();
        }
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

wss.on('error', (err) => {
  console.error(`node_server: ${err.message}`);
  process.exit(1);
});

function stop(reason) {
  console.error(`node_server: stopping (${reason})`);
  process.exit(0);
}
process.stdin.on('end', () => stop('stdin EOF'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
setTimeout(() => stop('hard timeout'), HARD_TIMEOUT_MS);
