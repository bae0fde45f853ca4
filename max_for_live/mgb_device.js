// musicgen-bridge Max for Live device: the Max side of the `js mgb_device.js` object.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Only glue lives here (Max globals: LiveAPI, outlet, post, Task, messagename); the logic is in
// mgb_core.js. Every message (UI parameters, commands, and the OSC that udpreceive turns into
// messages such as "/mgb/done j-1 /path 1. 317520") goes to device.handle(name, args).
// tests/daw/patch_runner.js runs this file and the patch's wiring under node.

autowatch = 0;
inlets = 1;
outlets = 6;
setinletassist(0, "UI messages (prompt, bars, model, temperature, takes, generate, continue, style, live, close) and OSC from udpreceive");
setoutletassist(0, "OSC to udpsend");
setoutletassist(1, "status text (set ...)");
setoutletassist(2, "progress 0..1");
setoutletassist(3, "to udpreceive (port N: this instance's reply port)");
setoutletassist(4, "to pattr prompt (saved with the Live set)");
setoutletassist(5, "to the prompt box (set ...)");

// outlet and Task belong to this js object: keep it, since callbacks run with another `this`
var jsthis = this;
var core = require("mgb_core");
var device = null;

function ensure() {
  if (device) return device;
  device = core.createDevice({
    LiveAPI: LiveAPI,
    outlet: function () { outlet.apply(jsthis, arguments); },
    post: function (text) { post(text + "\n"); },
    setTimeout: function (fn, ms) {
      var task = new Task(fn, jsthis);
      task.schedule(ms);
      return task;
    },
    clearTimeout: function (task) { task.cancel(); },
    random: Math.random
  });
  return device;
}

// LiveAPI may only be used after live.thisdevice has banged; it sends "init"
function init() {
  ensure().handle("init", []);
}

// Max calls this when the object is deleted: the device was removed or the set is closing
function notifydeleted() {
  if (device) device.handle("close", []);
}

function anything() {
  ensure().handle(messagename, arrayfromargs(arguments));
}
