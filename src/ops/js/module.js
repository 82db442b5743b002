//! The ES module (/wsstack.mjs), for React, Vue or <script type="module">:
//
//   import { connect, send_message, HANDLERS } from "/wsstack.mjs";
//   HANDLERS.draw = (msg) => { ... };
//   const connection = connect({ onstate: (state) => setState(state), badge: false });
//   send_message({ op: "draw", x: 10, y: 20 });
//
// connect() takes the same settings as WSSTACK_OPTIONS: url, badge,
// maxQueue, onstate, and handlers (a function returning the object of
// handlers, if you keep them somewhere else than HANDLERS). Calling it
// again returns the same connection; send_message() connects if needed.

export const HANDLERS = {};

let connection = null;

export function connect(options) {
  if (!connection) {
    connection = wsstackConnect(Object.assign({ handlers: function () { return HANDLERS; } }, options || {}));
  }
  return connection;
}

export function send_message(msg) {
  return connect().send(msg);
}

// A second, separate connection (to another server, say).
export { wsstackConnect as createConnection };
