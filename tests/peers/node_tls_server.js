#!/usr/bin/env node
// WebSocket (ws:// or wss://) test server on the npm `ws` package.
//
// Usage: node node_tls_server.js [--cert PEM --key PEM] [--compression none|deflate]
//
// Binds 127.0.0.1 on an ephemeral port and prints exactly one line, `PORT <n>`,
// to stdout (logs go to stderr). Used by tests/tls_client.rs.
//   --cert/--key   serve wss:// (https.createServer) with this certificate
//                  chain and key (PEM files); without them, plain ws://
//   --compression  none (default) or deflate (permessage-deflate, RFC 7692)
// Every message is echoed with its type, except the text "info", answered
// with a JSON object: the request's Authorization, Origin, X-Test and
// Sec-WebSocket-Extensions headers, the extensions agreed, the subprotocol
// chosen (the first offered) and whether TLS is in use.
// Exits when stdin reaches EOF or after a hard timeout of 120 s.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const HARD_TIMEOUT_MS = 120000;

function parseArgs(argv) {
  const opts = { cert: null, key: null, compression: 'none' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === '--cert') opts.cert = value;
    else if (flag === '--key') opts.key = value;
    else if (flag === '--compression' && ['none', 'deflate'].includes(value)) opts.compression = value;
    else throw new Error(`bad argument: ${flag} ${value}`);
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`node_tls_server: ${e.message}`);
  process.exit(2);
}

const tls = opts.cert !== null;
const server = tls
  ? https.createServer({ cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) })
  : http.createServer();

const wss = new WebSocketServer({
  server,
  perMessageDeflate: opts.compression === 'deflate',
  handleProtocols: (protocols) => (protocols.size > 0 ? protocols.values().next().value : false),
});

wss.on('connection', (ws, req) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'info') {
      ws.send(JSON.stringify({
        authorization: req.headers.authorization || null,
        origin: req.headers.origin || null,
        x_test: req.headers['x-test'] || null,
        offered_extensions: req.headers['sec-websocket-extensions'] || null,
        extensions: ws.extensions || null,
        subprotocol: ws.protocol || null,
        tls,
      }));
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
  ws.on('error', (e) => console.error(`node_tls_server: ${e.message}`));
});

server.on('tlsClientError', (e) => console.error(`node_tls_server: TLS client error: ${e.message}`));

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});

function stop(reason) {
  console.error(`node_tls_server: stopping (${reason})`);
  process.exit(0);
}
process.stdin.on('end', () => stop('stdin EOF'));
process.stdin.resume();
setTimeout(() => stop('hard timeout'), HARD_TIMEOUT_MS).unref();
