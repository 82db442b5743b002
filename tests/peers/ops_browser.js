// Drives headless Chromium (puppeteer-core, over the DevTools protocol)
// against wsstack::ops servers, for tests/ops_browser.rs.
//
//   node ops_browser.js '{"chromium": "/usr/bin/chromium", "app": "http://127.0.0.1:P/",
//                         "noeval": "http://127.0.0.1:Q/", "classroom": "http://127.0.0.1:R/"}'
//
// Talks to the Rust test in JSON lines: prints {"need": "stop"} or
// {"need": "start"} when the app server must be stopped or started again
// (on the same port), and waits for a line on stdin before going on.
// Ends with {"result": {...}} (what it saw) or {"error": "...", "result": {...}}.
// Every wait is on an event in the page, bounded by WAIT; the whole run by TOTAL.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const puppeteer = require("puppeteer-core");

const cfg = JSON.parse(process.argv[2]);
const WAIT = 15000;
const TOTAL = 150000;
const result = { console: [], page_errors: [] };

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// Lines from the Rust test.
const lines = [];
let lineWaiter = null;
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (lineWaiter) {
    const w = lineWaiter;
    lineWaiter = null;
    w(line);
  } else {
    lines.push(line);
  }
});

function ask(need) {
  out({ need });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${need}`)), WAIT * 2);
    const done = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
    if (lines.length) done(lines.shift());
    else lineWaiter = done;
  });
}

// Installed in every page before its own scripts: until(pred, arg, ms)
// resolves once pred(arg) is true, checking again on every tick() (the
// pages call tick() when a message arrives or the state changes), never
// by polling: pages in background tabs get no animation frames.
function installUntil() {
  window.ticks = [];
  window.tick = () => window.ticks.slice().forEach((f) => f());
  window.until = (src, arg, ms) =>
    new Promise((resolve, reject) => {
      const pred = (0, eval)("(" + src + ")");
      const remove = () => window.ticks.splice(window.ticks.indexOf(check) >>> 0, 1);
      const timer = setTimeout(() => {
        remove();
        reject(new Error(`not true within ${ms} ms: ${src}`));
      }, ms);
      const check = () => {
        let ok = false;
        try {
          ok = pred(arg);
        } catch (e) {}
        if (ok) {
          clearTimeout(timer);
          remove();
          resolve(true);
        }
      };
      window.ticks.push(check);
      check();
    });
}

// Wait until fn(arg) is true in the page.
async function until(page, fn, arg) {
  return page.evaluate((src, arg, ms) => until(src, arg, ms), fn.toString(), arg === undefined ? null : arg, WAIT);
}

async function openPage(browser, url, name) {
  const page = await browser.newPage();
  await page.evaluateOnNewDocument(installUntil);
  page.on("console", (m) => result.console.push(`${name}: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => result.page_errors.push(`${name}: ${e}`));
  await page.goto(url, { timeout: WAIT });
  return page;
}

async function connected(page) {
  await until(page, () => window.wsstack && wsstack.state === "connected");
}

// Send (a message object, raw text, or "BINARY") and wait for the next `op`.
async function call(page, send, op) {
  return page.evaluate(
    async (send, op, ms) => {
      const n = count(op) + 1;
      if (send === "BINARY") wsstack.sendRaw(new Uint8Array([1, 2, 3]).buffer);
      else if (typeof send === "string") wsstack.sendRaw(send);
      else send_message(send);
      return nth(op, n, ms);
    },
    send,
    op,
    WAIT
  );
}

async function nthOf(page, op, n) {
  return page.evaluate((op, n, ms) => nth(op, n, ms), op, n, WAIT);
}

async function routing(p1) {
  const r = {};
  r.hello = await nthOf(p1, "hello", 1);
  r.sum = (await call(p1, { op: "add", a: 2, b: 3 }, "sum")).sum;
  r.sum_default = (await call(p1, { op: "add", a: 2 }, "sum")).sum;
  r.product_default = (await call(p1, { op: "mul", a: 3 }, "product")).product;
  r.product = (await call(p1, { op: "mul", a: 3, b: 4 }, "product")).product;
  await p1.evaluate(() => send_message({ op: "set_name", name: "Ann" }));
  r.name = (await call(p1, { op: "whoami" }, "name")).name;
  return r;
}

async function errors(p1) {
  const cases = {
    unknown_op: { op: "ad", a: 1 },
    missing_param: { op: "add" },
    extra_param: { op: "add", a: 1, c: 3 },
    wrong_type: { op: "add", a: "one" },
    named_missing: { op: "mul" },
    named_extra: { op: "mul", a: 1, z: 2 },
    named_wrong_type: { op: "mul", a: "x" },
    not_json: "hello there",
    binary: "BINARY",
    not_object: "[1, 2]",
    no_op: '{"a": 1}',
    bad_op: '{"op": 5}',
    reserved_op: { op: "connect" },
    handler_failed: { op: "panic" },
  };
  const r = {};
  for (const [label, send] of Object.entries(cases)) {
    r[label] = await call(p1, send, "error");
  }
  // Still the same connection, and the server still answers.
  r.after_sum = (await call(p1, { op: "add", a: 20, b: 22 }, "sum")).sum;
  r.states = await p1.evaluate(() => states.slice());
  r.hellos = await p1.evaluate(() => count("hello"));
  return r;
}

async function groups(p1, p2, p8) {
  const r = {};
  r.p1_join = (await call(p1, { op: "join", group: "red" }, "groups")).groups;
  r.p2_join = (await call(p2, { op: "join", group: "blue" }, "groups")).groups;
  r.first = await call(p1, { op: "shout", group: "red", text: "red only" }, "shouted");
  await call(p2, { op: "join", group: "red" }, "groups");
  r.p2_join_twice = (await call(p2, { op: "join", group: "red" }, "groups")).groups;
  const p2Before = await p2.evaluate(() => count("shouted"));
  await call(p1, { op: "shout", group: "red", text: "red again" }, "shouted");
  r.p2_second = await nthOf(p2, "shouted", p2Before + 1);
  r.p2_leave = (await call(p2, { op: "leave", group: "red" }, "groups")).groups;
  r.p2_leave_again = (await call(p2, { op: "leave", group: "red" }, "groups")).groups;
  const p1n = await p1.evaluate(() => count("shouted"));
  r.p2_everyone = await call(p2, { op: "shout", text: "everyone" }, "shouted");
  r.p1_everyone = await nthOf(p1, "shouted", p1n + 1);
  r.p2_shouts = await p2.evaluate(() => inbox.filter((m) => m.op === "shouted").map((m) => m.text));
  r.p1_shouts = await p1.evaluate(() => inbox.filter((m) => m.op === "shouted").map((m) => m.text));
  // A page in "blue" goes away: the disconnect handler still knows its groups.
  await connected(p8);
  const p8id = (await nthOf(p8, "hello", 1)).id;
  await call(p8, { op: "join", group: "blue" }, "groups");
  const leftBefore = await p2.evaluate(() => count("left"));
  await p8.close();
  r.left = await nthOf(p2, "left", leftBefore + 1);
  r.p8_id = p8id;
  return r;
}

async function evalJs(p1, p3) {
  const r = {};
  r.on = await call(p1, { op: "run_js", code: "window.evalRan = 42;" }, "eval_sent");
  r.on_ran = await p1.evaluate(() => window.evalRan);
  r.off = await call(p3, { op: "run_js", code: "window.evalRan = 42;" }, "eval_refused");
  r.off_ran = await p3.evaluate(() => window.evalRan === undefined);
  return r;
}

async function staticFiles(p1) {
  return p1.evaluate(async () => {
    const r = {};
    for (const p of ["/", "/style.css", "/data.json", "/pic.svg", "/img.png", "/wsstack.js", "/wsstack.mjs", "/missing.txt", "/.hidden"]) {
      const res = await fetch(p);
      r[p] = { status: res.status, type: res.headers.get("content-type") };
    }
    return r;
  });
}

async function modulePage(browser) {
  const p4 = await openPage(browser, cfg.app + "module.html", "p4");
  await until(p4, () => window.moduleSum !== undefined);
  const r = await p4.evaluate(() => ({
    sum: window.moduleSum,
    states: window.moduleStates,
    badge: document.getElementById("wsstack-status") !== null,
  }));
  await p4.close();
  // A page that writes `const HANDLERS = {...}` after the library.
  const p9 = await openPage(browser, cfg.app + "const.html", "p9");
  await until(p9, () => window.constHello !== undefined);
  r.const_hello = await p9.evaluate(() => window.constHello);
  await p9.close();
  return r;
}

async function classroom(browser) {
  const r = {};
  const p5 = await openPage(browser, cfg.classroom + "?board=t1", "p5");
  const p6 = await openPage(browser, cfg.classroom + "?board=t1", "p6");
  const p7 = await openPage(browser, cfg.classroom + "?board=t2", "p7");
  for (const p of [p5, p6, p7]) {
    // Count what arrives, and tick on it and on every change of state.
    await p.evaluate(() => {
      window.got = { draw: 0, clear: 0 };
      const draw = HANDLERS.draw;
      const clear = HANDLERS.clear;
      const onstate = wsstack.onstate;
      HANDLERS.draw = (m) => { got.draw++; draw(m); tick(); };
      HANDLERS.clear = (m) => { got.clear++; clear(m); tick(); };
      wsstack.onstate = (s) => { onstate(s); tick(); };
    });
    await connected(p);
  }
  // The page joins its board when it connects; a clear it sends after
  // comes back to it once the join is done (one connection keeps order).
  for (const p of [p5, p6, p7]) {
    await p.evaluate(() => send_message({ op: "clear" }));
    await until(p, () => got.clear >= 1);
  }
  // Draw with the mouse on p5: a line across the middle of the canvas.
  // (Input goes to the tab in front.)
  await p5.bringToFront();
  const box = await (await p5.$("#canvas")).boundingBox();
  const at = (x, y) => [box.x + (x * box.width) / 800, box.y + (y * box.height) / 500];
  await p5.mouse.move(...at(100, 250));
  await p5.mouse.down();
  for (let x = 150; x <= 700; x += 50) await p5.mouse.move(...at(x, 250));
  await p5.mouse.up();
  await until(p6, () => got.draw >= 12);
  r.p6_draws = await p6.evaluate(() => got.draw);
  r.p6_pixel = await p6.evaluate(() => {
    const d = document.getElementById("canvas").getContext("2d").getImageData(400, 250, 1, 1).data;
    return [d[0], d[1], d[2], d[3]];
  });
  // Everything sent to p5 and p7 before their own clear comes back has
  // arrived by then: they got no line of board t1 from p5.
  for (const [name, p] of [["p5", p5], ["p7", p7]]) {
    const clears = await p.evaluate(() => got.clear);
    await p.evaluate(() => send_message({ op: "clear" }));
    await until(p, (n) => got.clear > n, clears);
    r[name + "_draws"] = await p.evaluate(() => got.draw);
  }
  r.badge = await p5.evaluate(() => document.getElementById("wsstack-status").textContent);
  for (const p of [p5, p6, p7]) await p.close();
  return r;
}

async function reconnect(p1, p2) {
  const r = {};
  r.stopped = await ask("stop");
  await until(p1, () => wsstack.state === "offline");
  r.offline_badge = await p1.evaluate(() => document.getElementById("wsstack-status").dataset.state);
  r.queued = await p1.evaluate(() => {
    const sent = [];
    for (let n = 1; n <= 101; n++) sent.push(send_message({ op: "note", n }));
    return { accepted: sent.filter((s) => s).length, refused_last: sent[100] === false, queue: wsstack.queue.length };
  });
  r.started = await ask("start");
  await until(p1, () => count("hello") >= 2);
  await connected(p1);
  r.notes = (await call(p1, { op: "notes" }, "notes")).notes;
  r.queue_after = await p1.evaluate(() => wsstack.queue.length);
  r.states = await p1.evaluate(() => states.slice());
  r.badge = await p1.evaluate(() => document.getElementById("wsstack-status").dataset.state);
  await connected(p2);
  r.p2_state = await p2.evaluate(() => wsstack.state);
  return r;
}

// Quit Chromium: politely, then its whole process group (puppeteer starts
// it in a group of its own, whose id is its pid), then remove the profile.
async function quit(browser, profile) {
  if (browser) {
    const pid = browser.process() && browser.process().pid;
    let timer;
    const late = new Promise((r) => (timer = setTimeout(r, 5000)));
    await Promise.race([browser.close().catch(() => {}), late]);
    clearTimeout(timer);
    if (pid) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch (e) {} // already gone
    }
  }
  fs.rmSync(profile, { recursive: true, force: true });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "wsstack-ops-chromium-"));
  let browser = null;
  const begun = Date.now();
  const timer = setTimeout(async () => {
    await quit(browser, profile);
    out({ error: `the browser run took over ${TOTAL} ms`, result });
    process.exit(1);
  }, TOTAL);
  // The last line, printed once Chromium is gone: the Rust test ends this
  // script as soon as it has read it.
  let last;
  try {
    browser = await puppeteer.launch({
      executablePath: cfg.chromium,
      headless: true,
      userDataDir: profile,
      timeout: WAIT,
      protocolTimeout: WAIT * 2,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    result.ms = { launch: Date.now() - begun };
    const p1 = await openPage(browser, cfg.app, "p1");
    const p2 = await openPage(browser, cfg.app, "p2");
    const p3 = await openPage(browser, cfg.noeval, "p3");
    const p8 = await openPage(browser, cfg.app, "p8");
    for (const p of [p1, p2, p3]) await connected(p);
    const timed = async (name, f) => {
      const t = Date.now();
      result[name] = await f();
      result.ms[name] = Date.now() - t;
    };
    await timed("routing", () => routing(p1));
    await timed("errors", () => errors(p1));
    await timed("groups", () => groups(p1, p2, p8));
    await timed("eval", () => evalJs(p1, p3));
    await timed("static", () => staticFiles(p1));
    await timed("module", () => modulePage(browser));
    await timed("classroom", () => classroom(browser));
    await timed("reconnect", () => reconnect(p1, p2));
    last = { result };
  } catch (e) {
    last = { error: String(e && e.stack ? e.stack : e), result };
    process.exitCode = 1;
  } finally {
    const t = Date.now();
    await quit(browser, profile);
    result.ms.quit = Date.now() - t;
    clearTimeout(timer);
    out(last);
    process.stdin.destroy();
  }
}

main();
