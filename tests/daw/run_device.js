// Run the Max for Live device's logic under node: fake LiveAPI, real OSC over UDP.
// SPDX-License-Identifier: GPL-3.0-or-later
//
//   node tests/daw/run_device.js SCENARIO.json OUT.json
//
// SCENARIO: {live: {version, set, this_device}, engine_port, steps: [
//   {handle: [name, ...args]}                 -> device.handle(name, args) (UI messages or OSC)
//   {wait: {status: "regex", timeout_ms}}     -> until the latest status text matches
//   {sleep: ms}]}
// The device's outlet 0 is encoded as OSC and sent to 127.0.0.1:engine_port (Max's udpsend);
// datagrams to our socket are decoded and handed to the device (Max's udpreceive).
"use strict";

const dgram = require("dgram");
const fs = require("fs");
const path = require("path");
const {encode, decode} = require("./osc");
const {makeLive} = require("./fake_liveapi");
const {createDevice} = require(path.join(__dirname, "..", "..", "max_for_live", "mgb_core.js"));

const scenario = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const live = makeLive(scenario.live);
const record = {sent: [], received: [], status: [], progress: [], posts: [], errors: []};
const sock = dgram.createSocket("udp4");
let device = null;

function latestStatus() {
  return record.status.length ? record.status[record.status.length - 1] : "";
}

function outlet(index, ...args) {
  if (index === 0) {
    record.sent.push(args);
    sock.send(encode(args[0], args.slice(1)), scenario.engine_port || 9, "127.0.0.1");
  } else if (index === 1) {
    record.status.push(args.slice(1).join(" "));
  } else if (index === 2) {
    record.progress.push(args[0]);
  }
}

function finish(code) {
  fs.writeFileSync(process.argv[3], JSON.stringify({record, calls: live.calls, set: live.model.set}));
  sock.close();
  process.exit(code);
}

async function run() {
  for (const step of scenario.steps) {
    if (step.handle) {
      device.handle(step.handle[0], step.handle.slice(1));
    } else if (step.sleep) {
      await new Promise((r) => setTimeout(r, step.sleep));
    } else if (step.wait) {
      const re = new RegExp(step.wait.status);
      const deadline = Date.now() + (step.wait.timeout_ms || 10000);
      while (!re.test(latestStatus())) {
        if (Date.now() > deadline) {
          record.errors.push("timed out waiting for status /" + step.wait.status + "/; last: " + latestStatus());
          return finish(0);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  finish(0);
}

sock.on("message", (buf) => {
  let msg;
  try {
    msg = decode(buf);
  } catch (e) {
    record.errors.push(String(e));
    return;
  }
  record.received.push([msg.address, ...msg.args]);
  try {
    device.handle(msg.address, msg.args);
  } catch (e) {
    record.errors.push("device: " + e.stack);
  }
});

sock.bind(0, "127.0.0.1", () => {
  device = createDevice({
    LiveAPI: live.LiveAPI,
    outlet,
    post: (text) => record.posts.push(text),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (t) => clearTimeout(t),
  });
  device.handle("port", [sock.address().port]);  // in Max: the udpreceive argument
  run().catch((e) => {
    record.errors.push(String(e.stack));
    finish(1);
  });
});
