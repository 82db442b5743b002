//! The classic script, <script src="/wsstack.js">: connect straight away,
// and put what you need on window, so that every script on the page can
// use it:
//
//   HANDLERS        op name -> function called with each message of that op
//   send_message()  send a message
//   wsstack         the connection: wsstack.state, wsstack.onstate, wsstack.queue
//
// To change the settings, set window.WSSTACK_OPTIONS before this script,
// for example {url: "ws://192.168.1.20:8000/ws", badge: false}.

window.HANDLERS = window.HANDLERS || {};
window.wsstack = wsstackConnect(Object.assign(
  // HANDLERS without "window.": this also finds `const HANDLERS = {...}`
  // written in a script of the page.
  { handlers: function () { return HANDLERS; } },
  window.WSSTACK_OPTIONS || {}
));
window.send_message = function (msg) { return window.wsstack.send(msg); };
