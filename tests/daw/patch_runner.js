// A small interpreter of the device's Max patch, so node runs its boxes, lines and mgb_device.js.
// SPDX-License-Identifier: GPL-3.0-or-later
//
//   const patch = loadPatch(maxpatJson, {LiveAPI, udp: {send(buf, port, host), bind(port, onMessage) -> close}});
//   patch.load();                          // live.thisdevice bangs (the device is ready)
//   patch.type("warm lofi keys");          // typed into the textedit (Enter)
//   patch.click("Generate");               // a live.text by its text
//   patch.setParam("Bars", 2);             // a live.numbox/live.dial/umenu by parameter long name
//   patch.toJs(["prompt", "x"]);           // a message straight into the js object's inlet
//   patch.free();                          // the device is deleted: freebang, then js notifydeleted()
//
// Messages are arrays of atoms the way Max sees them: ["bang"], [3] (int), [1, 2] (list),
// ["text", "warm", "lofi"] (anything). Only the objects this patch uses are modelled, each as its
// reference page describes it; an unknown object is an error, so the patch cannot outgrow the test.
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const {encode} = require("./osc");

const M4L = path.join(__dirname, "..", "..", "max_for_live");

function words(text) {
  return String(text || "").split(/\s+/).filter((w) => w !== "").map((w) => (/^-?\d+$/.test(w) ? Number(w) : w));
}

function loadPatch(json, env) {
  const patcher = json.patcher;
  const boxes = new Map();
  const wires = new Map();  // "id:outlet" -> [[id, inlet]]
  const record = {status: [], progress: [], stored: [], osc: [], posts: [], errors: []};

  function emit(id, outlet, msg) {
    for (const [dst, inlet] of wires.get(id + ":" + outlet) || []) boxes.get(dst).input(inlet, msg.slice());
  }

  for (const {box} of patcher.boxes) boxes.set(box.id, makeBox(box));
  for (const {patchline} of patcher.lines) {
    const key = patchline.source[0] + ":" + patchline.source[1];
    if (!wires.has(key)) wires.set(key, []);
    wires.get(key).push(patchline.destination);
  }

  function makeBox(box) {
    const out = (outlet, msg) => emit(box.id, outlet, msg);
    const cls = box.maxclass === "newobj" ? String(box.text).split(/\s+/)[0] : box.maxclass;
    const args = box.maxclass === "newobj" ? words(box.text).slice(1) : [];
    const base = {box, cls, input() {}};
    switch (cls) {
      case "message":
        return {...base, input: (inlet, msg) => { if (inlet === 0) out(0, words(box.text)); }};
      case "prepend":
        return {...base, input: (inlet, msg) => out(0, args.concat(msg))};
      case "route":
        return {...base, input: (inlet, msg) => {
          const i = args.findIndex((a) => a === msg[0] || (typeof msg[0] === "number" && Number(a) === msg[0]));
          if (i < 0) return out(args.length, msg);
          const rest = msg.slice(1);
          out(i, rest.length ? rest : ["bang"]);
        }};
      case "t":
      case "trigger":
        return {...base, input: (inlet, msg) => {
          for (let i = args.length - 1; i >= 0; i--) {  // right to left
            const kind = String(args[i]);
            if (kind === "b") out(i, ["bang"]);
            else if (kind === "l" || kind === "a") out(i, msg);
            else if (kind === "i") out(i, [Math.trunc(Number(msg[0]) || 0)]);
            else throw new Error("trigger: unmodelled type " + kind);
          }
        }};
      case "textedit": {
        let text = [];
        const self = {...base,
          set(value) { text = words(value).map(String); },
          input: (inlet, msg) => {
            if (msg[0] === "set") text = msg.slice(1).map(String);
            else if (msg[0] === "bang") out(0, ["text"].concat(text));
            else throw new Error("textedit: unmodelled message " + msg[0]);
          }};
        return self;
      }
      case "live.text":
      case "live.numbox":
      case "live.dial":
      case "umenu":
      case "slider":
        return {...base, input: (inlet, msg) => {
          if (cls === "slider" && msg[0] === "set") record.progress.push(msg[1]);
        }};
      case "comment":
        return {...base, input: (inlet, msg) => {
          if (msg[0] === "set") record.status.push(msg.slice(1).join(" "));
        }};
      case "pattr":
        // stores what it is sent (with the Live set when parameter_enable is on) and passes it on
        return {...base, value: null, input(inlet, msg) {
          this.value = msg;
          record.stored.push(msg);
          out(0, msg);
        }};
      case "live.thisdevice":
      case "freebang":
      case "plugin~":
      case "plugout~":
        return base;
      case "dspstate~":
        return {...base, input: (inlet, msg) => { if (msg[0] === "bang") out(1, [env.samplerate || 44100]); }};
      case "udpsend":
        return {...base, input: (inlet, msg) => {
          if (typeof msg[0] !== "string" || msg[0].charAt(0) !== "/") throw new Error("udpsend: not OSC: " + msg[0]);
          record.osc.push(msg);
          env.udp.send(encode(msg[0], msg.slice(1)), env.enginePort || Number(args[1]), String(args[0]));
        }};
      case "udpreceive": {
        let close = null;
        const self = {...base, port: null,
          listen(port) {
            if (close) close();
            close = null;
            self.port = port;
            // a port another program holds: Max prints an error and this object receives nothing
            close = env.udp.bind(port, (m) => out(0, [m.address].concat(m.args)));
          },
          close() { if (close) close(); close = null; },
          input: (inlet, msg) => {
            if (msg[0] === "port") self.listen(Number(msg[1]));
            else throw new Error("udpreceive: unmodelled message " + msg[0]);
          }};
        return self;
      }
      case "js":
        return makeJs(box, String(args[0]), out);
      default:
        throw new Error("patch_runner: unmodelled object " + cls + " (" + box.id + ")");
    }
  }

  // Max's js object: the file runs with the object as its global `this`; outlet/post/Task/LiveAPI
  // are globals; a message calls the function of its name, else anything() with messagename set.
  function makeJs(box, file, out) {
    const src = fs.readFileSync(path.join(M4L, file), "utf8");
    let jsthis = null;
    const sandbox = {
      inlets: 1, outlets: 1, autowatch: 0, messagename: null, jsarguments: [file],
      LiveAPI: env.LiveAPI,
      post: (...a) => record.posts.push(a.join(" ")),
      setinletassist() {}, setoutletassist() {},
      arrayfromargs: (a) => Array.prototype.slice.call(a),
      require: (name) => require(path.join(M4L, name)),
      outlet: function (index, ...atoms) {
        // Max's outlet is a method of the js object: any other `this` is the bug issue 20 names
        if (this !== jsthis && this !== undefined && this !== globalThis) {
          throw new Error("outlet called with a `this` that is not the js object");
        }
        if (!(index >= 0 && index < sandbox.outlets)) throw new Error("outlet " + index + " does not exist");
        out(index, atoms.length === 1 && Array.isArray(atoms[0]) ? atoms[0] : atoms);
      },
      Task: class {
        constructor(fn, obj) { this.fn = fn; this.obj = obj; this.t = null; }
        schedule(ms) { this.cancel(); this.t = setTimeout(() => { this.t = null; this.fn.call(this.obj); }, ms || 0); }
        cancel() { if (this.t) clearTimeout(this.t); this.t = null; }
      },
    };
    vm.createContext(sandbox);
    jsthis = vm.runInContext("this", sandbox);
    vm.runInContext(src, sandbox, {filename: file});
    if (box.numoutlets !== sandbox.outlets) throw new Error(file + " declares " + sandbox.outlets + " outlets, the box has " + box.numoutlets);
    function call(name, args) {
      sandbox.messagename = name;
      const fn = sandbox[name];
      if (typeof fn !== "function") throw new Error(file + ": no function " + name);
      fn.apply(jsthis, args);
    }
    return {box, cls: "js", sandbox,
      has: (name) => typeof sandbox[name] === "function",
      call,
      input(inlet, msg) {
        if (typeof msg[0] === "number") {
          if (msg.length > 1) return call("list", msg);
          return call(Number.isInteger(msg[0]) ? "msg_int" : "msg_float", msg);
        }
        const name = String(msg[0]);
        const own = /^[A-Za-z_]\w*$/.test(name) && typeof sandbox[name] === "function" &&
          !["outlet", "post", "require", "arrayfromargs", "setinletassist", "setoutletassist", "LiveAPI", "Task"].includes(name);
        if (own) return call(name, msg.slice(1));
        sandbox.messagename = name;  // anything() reads the selector from messagename
        sandbox.anything.apply(jsthis, msg.slice(1));
      }};
  }

  function find(pred, what) {
    const hit = [...boxes.values()].filter(pred);
    if (hit.length !== 1) throw new Error("patch_runner: " + hit.length + " boxes match " + what);
    return hit[0];
  }
  const byClass = (cls) => find((b) => b.cls === cls, cls);
  const paramName = (b) => (((b.box.saved_attribute_attributes || {}).valueof) || {}).parameter_longname;
  const js = byClass("js");

  return {
    record, boxes, js,
    load() { emit(byClass("live.thisdevice").box.id, 0, ["bang"]); },
    type(text) {
      const t = byClass("textedit");
      t.set(text);
      t.input(0, ["bang"]);  // Enter: the box outputs "text <words>"
    },
    click(text) {
      const b = find((x) => x.cls === "live.text" && x.box.text === text, "live.text " + text);
      emit(b.box.id, 0, [1]);  // button mode: 1 on a click
    },
    setParam(name, value) {
      const b = find((x) => paramName(x) === name, "parameter " + name);
      if (b.cls === "umenu") {
        const items = b.box.items.filter((i) => i !== ",");
        const index = items.indexOf(value);
        if (index < 0) throw new Error("umenu " + name + " has no item " + value);
        emit(b.box.id, 1, words(value));
        emit(b.box.id, 0, [index]);
      } else {
        emit(b.box.id, 0, [value]);
      }
    },
    restore(name, msg) {
      const b = find((x) => x.cls === "pattr" && x.box.text.split(/\s+/)[1] === name, "pattr " + name);
      emit(b.box.id, 0, msg);  // the Live set's saved value comes out when the device loads
    },
    toJs(msg) { js.input(0, msg); },
    udpreceive: () => byClass("udpreceive"),
    free() {
      emit(byClass("freebang").box.id, 0, ["bang"]);
      if (js.has("notifydeleted")) js.call("notifydeleted", []);
      byClass("udpreceive").close();
    },
    paramName,
  };
}

module.exports = {loadPatch, words};
