//! wsstack.js: talk to a wsstack server from a web page.
//
// Every message is an object with an "op" that says what kind of message
// it is, and any other fields you like:
//
//     {op: "draw", x: 10, y: 20}
//
// To send one:     send_message({op: "draw", x: 10, y: 20});
// To receive one:  HANDLERS.draw = function (msg) { console.log(msg.x); };
//
// If the connection drops (the server restarts, the Wi-Fi blips), we try
// again and again, waiting a little longer each time. Messages you send
// while we are offline wait in a queue (up to 100 of them) and go out as
// soon as we are back.
//
// The small badge in the corner of the page shows the connection state.
// To place it yourself, put an element with id="wsstack-status" on the
// page; to hide it, give it style="display: none".

function wsstackConnect(options) {
  options = options || {};

  // Where the server is: the same computer and port as this page, by default.
  const url = options.url || (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  // How many messages may wait while we are offline.
  const maxQueue = options.maxQueue || 100;
  // Where to find the functions that handle each op.
  const getHandlers = options.handlers || function () { return {}; };

  // The connection, as the rest of the page sees it.
  const connection = {
    // "connecting", "connected" or "offline" ("closed" after close()).
    state: "connecting",
    // Messages waiting to be sent.
    queue: [],
    // Set this to a function to hear about every change of state.
    onstate: options.onstate || null,
    send: send,
    sendRaw: sendRaw,
    close: close,
  };

  let socket = null;     // the WebSocket, while we have one
  let failures = 0;      // how many times in a row connecting failed
  let retryTimer = null; // the timer that will try again
  let closed = false;    // true after close(): stop reconnecting

  // Ops the library handles itself, unless HANDLERS has its own.
  const builtIn = {
    // The server asked us to run some JavaScript (client.eval_js).
    eval: function (msg) { (0, eval)(msg.code); },
    // The server did not understand one of our messages.
    error: function (msg) { console.warn("wsstack: the server says: " + msg.error); },
  };

  // Send a message: an object with an "op". Returns true if it was sent
  // or queued, false if the queue was full.
  function send(msg) {
    if (typeof msg !== "object" || msg === null || typeof msg.op !== "string") {
      throw new Error('send_message needs an object with an "op", like {op: "draw", x: 10}');
    }
    return sendRaw(JSON.stringify(msg));
  }

  // Send text exactly as it is (or binary data), without checking it.
  function sendRaw(data) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(data);
      return true;
    }
    if (connection.queue.length >= maxQueue) {
      console.warn("wsstack: offline and " + maxQueue + " messages are waiting already; this one is dropped");
      return false;
    }
    connection.queue.push(data);
    return true;
  }

  // A message arrived: find the function for its op and call it.
  function receive(event) {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      console.warn("wsstack: a message that is not JSON arrived:", event.data);
      return;
    }
    const handlers = getHandlers() || {};
    const handler = typeof handlers[msg.op] === "function" ? handlers[msg.op] : builtIn[msg.op];
    if (!handler) {
      console.warn('wsstack: no handler for op "' + msg.op + '"; add one with HANDLERS.' + msg.op + " = function (msg) { ... }");
      return;
    }
    try {
      handler(msg);
    } catch (e) {
      console.error('wsstack: the handler for op "' + msg.op + '" failed:', e);
    }
  }

  function setState(state) {
    connection.state = state;
    showBadge(state);
    if (typeof connection.onstate === "function") {
      try { connection.onstate(state); } catch (e) { console.error("wsstack: onstate failed:", e); }
    }
  }

  function open() {
    retryTimer = null;
    setState("connecting");
    socket = new WebSocket(url);
    socket.onopen = function () {
      failures = 0;
      // "connected" first, so that onstate can say hello before the queue.
      setState("connected");
      while (connection.queue.length > 0 && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(connection.queue.shift());
      }
    };
    socket.onmessage = receive;
    socket.onclose = function () {
      socket = null;
      if (closed) {
        setState("closed");
        return;
      }
      // Wait 0.25 s, then 0.5 s, 1 s, 2 s, 4 s, then 5 s each time; a
      // little more or less, so a whole class does not knock at once.
      const delay = Math.min(5000, 250 * Math.pow(2, failures)) * (0.8 + 0.4 * Math.random());
      failures += 1;
      setState("offline");
      retryTimer = setTimeout(open, delay);
    };
  }

  // Stop for good.
  function close() {
    closed = true;
    if (retryTimer) { clearTimeout(retryTimer); setState("closed"); }
    if (socket) socket.close(1000, "bye");
  }

  // The badge in the corner.
  const badgeText = {
    connecting: "connecting\u2026",
    connected: "connected",
    offline: "offline, trying again\u2026",
    closed: "closed",
  };
  const badgeColor = { connecting: "#b8860b", connected: "#2e7d32", offline: "#c62828", closed: "#555" };

  function showBadge(state) {
    if (options.badge === false || typeof document === "undefined" || !document.body) return;
    let badge = document.getElementById("wsstack-status");
    if (!badge) {
      badge = document.createElement("div");
      badge.id = "wsstack-status";
      badge.style.cssText = "position:fixed;right:8px;bottom:8px;padding:2px 8px;border-radius:8px;" +
        "font:12px sans-serif;color:#fff;z-index:2147483647;pointer-events:none";
      document.body.appendChild(badge);
    }
    badge.dataset.state = state;
    badge.textContent = "\u25cf " + badgeText[state];
    badge.style.background = badgeColor[state];
  }

  // The page may still be loading: show the badge once it has a body.
  if (typeof document !== "undefined" && !document.body) {
    document.addEventListener("DOMContentLoaded", function () { showBadge(connection.state); });
  }

  open();
  return connection;
}

