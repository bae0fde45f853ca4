// Run the Max for Live device under node: its patch (boxes and lines), mgb_device.js and the
// scripts it requires, a fake LiveAPI, and real OSC over UDP.
// SPDX-License-Identifier: GPL-3.0-or-later
//
//   node tests/daw/run_device.js SCENARIO.json OUT.json
//
// SCENARIO: {live: {version, set, this_device}, engine_port, steps: [...]}, or several device
// instances in one set, their steps run at the same time: {live, engine_port, devices: [
//   {this_device: "live_set tracks 1 devices 0", steps: [...]}, ...]}. Steps:
//   {load: true}                              -> live.thisdevice bangs ("init")
//   {type: "warm lofi keys"}                  -> typed into the prompt box (Enter)
//   {click: "Generate"}                       -> a live.text button
//   {param: ["Bars", 2]}                      -> a live.* parameter or the model menu
//   {restore: ["prompt", ["warm", "keys"]]}   -> a pattr's value from the saved Live set
//   {handle: [name, ...args]}                 -> a message straight into the js object
//   {free: true}                              -> the device is deleted
//   {wait: {status: "regex", timeout_ms}}     -> until the latest status text matches
//   {wait: {received: "/mgb/reply", timeout_ms}} -> until such a datagram has arrived
//   {sleep: ms}]}
// udpsend's datagrams go to 127.0.0.1:engine_port; udpreceive listens where the device tells it.
"use strict";

const dgram = require("dgram");
const fs = require("fs");
const path = require("path");
const {decode} = require("./osc");
const {makeLive} = require("./fake_liveapi");
const {loadPatch} = require("./patch_runner");

const scenario = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const json = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "max_for_live", "musicgen-bridge.maxpat"), "utf8"));
// one Live set; each device instance sees it from its own track (this_device)
const specs = scenario.devices || [{this_device: scenario.live.this_device, steps: scenario.steps}];
const devices = specs.map((spec) => makeDevice(spec));

function makeDevice(spec) {
  const live = makeLive({...scenario.live, this_device: spec.this_device});
  const received = [];
  const errors = [];
  const out = dgram.createSocket("udp4");  // this instance's udpsend socket
  const sockets = new Set();

  function bind(port, onMessage) {
    const sock = dgram.createSocket("udp4");
    sockets.add(sock);
    sock.on("error", (e) => {  // Max: "udpreceive: port in use"; nothing arrives
      errors.push("udpreceive " + port + ": " + e.code);
      sockets.delete(sock);
      try { sock.close(); } catch (_) { /* already closed */ }
    });
    sock.on("message", (buf) => {
      let msg;
      try {
        msg = decode(buf);
      } catch (e) {
        errors.push(String(e));
        return;
      }
      received.push([msg.address, ...msg.args]);
      try {
        onMessage(msg);
      } catch (e) {
        errors.push("device: " + e.stack);
      }
    });
    sock.bind(port, "127.0.0.1");
    return () => { if (sockets.delete(sock)) sock.close(); };
  }

  const patch = loadPatch(json, {
    LiveAPI: live.LiveAPI,
    enginePort: scenario.engine_port || 9,
    samplerate: scenario.samplerate || 44100,
    udp: {send: (buf, port, host) => out.send(buf, port, host), bind},
  });
  const rec = patch.record;
  const latestStatus = () => (rec.status.length ? rec.status[rec.status.length - 1] : "");

  async function until(test, what, ms) {
    const deadline = Date.now() + (ms || 10000);
    while (!test()) {
      if (Date.now() > deadline) {
        errors.push("timed out waiting for " + what + "; last status: " + latestStatus());
        return false;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  async function run() {
    await new Promise((r) => out.bind(0, "127.0.0.1", r));
    for (const step of spec.steps) {
      if (step.load) patch.load();
      else if (step.type !== undefined) patch.type(step.type);
      else if (step.click) patch.click(step.click);
      else if (step.param) patch.setParam(step.param[0], step.param[1]);
      else if (step.restore) patch.restore(step.restore[0], step.restore[1]);
      else if (step.handle) patch.toJs(step.handle);
      else if (step.free) patch.free();
      else if (step.sleep) await new Promise((r) => setTimeout(r, step.sleep));
      else if (step.wait && step.wait.status) {
        const re = new RegExp(step.wait.status);
        if (!await until(() => re.test(latestStatus()), "status /" + step.wait.status + "/", step.wait.timeout_ms)) return;
      } else if (step.wait && step.wait.received) {
        const want = step.wait.received;
        if (!await until(() => received.some((r) => r[0] === want), want, step.wait.timeout_ms)) return;
      }
    }
  }

  function result() {
    const record = {sent: rec.osc, received, status: rec.status, progress: rec.progress, stored: rec.stored,
                    posts: rec.posts, errors: errors.filter((e) => !/^udpreceive \d+: EADDRINUSE$/.test(e)),
                    port_errors: errors.filter((e) => /^udpreceive/.test(e)),
                    reply_port: patch.udpreceive().port};
    return {record, calls: live.calls};
  }

  return {run, result, errors, set: live.model.set};
}

function finish(code) {
  const results = devices.map((d) => d.result());
  const set = devices[0].set;
  const outJson = scenario.devices ? {devices: results, set} : {...results[0], set};
  fs.writeFileSync(process.argv[3], JSON.stringify(outJson));
  process.exit(code);
}

Promise.all(devices.map((d) => d.run().catch((e) => d.errors.push(String(e.stack))))).then(() => finish(0));
