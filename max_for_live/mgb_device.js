// musicgen-bridge Max for Live device: the Max side of the `js mgb_device.js` object.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Only glue lives here (Max globals: LiveAPI, outlet, post, Task, messagename); the logic is in
// mgb_core.js, which the tests run under node. Every message (UI parameters, commands, and the
// OSC that udpreceive turns into messages such as "/mgb/done j-1 /path 1. 317520") goes to
// device.handle(name, args).

autowatch = 0;
inlets = 1;
outlets = 3;
setinletassist(0, "UI messages (prompt, bars, model, temperature, takes, generate, continue, live) and OSC from udpreceive");
setoutletassist(0, "OSC to udpsend");
setoutletassist(1, "status text (set ...)");
setoutletassist(2, "progress 0..1");

var core = require("mgb_core");
var device = null;

function ensure() {
  if (device) return device;
  device = core.createDevice({
    LiveAPI: LiveAPI,
    outlet: function () { outlet.apply(this, arguments); },
    post: function (text) { post(text + "\n"); },
    setTimeout: function (fn, ms) {
      var task = new Task(fn, this);
      task.schedule(ms);
      return task;
    },
    clearTimeout: function (task) { task.cancel(); }
  });
  return device;
}

// LiveAPI may only be used after live.thisdevice has banged; it sends "init"
function init() {
  ensure().handle("init", []);
}

function anything() {
  ensure().handle(messagename, arrayfromargs(arguments));
}
