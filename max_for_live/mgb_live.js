// musicgen-bridge Max for Live device: live mode (windows generated ahead of the playhead).
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object; mgb_core.js creates it with the device's helpers:
//
//   var live = require("mgb_live").createLive({song: song, request: link.request, status: status,
//                                              later: later, cancelTimer: cancelTimer, place: place});
//   live.start(sessionId, label)     // after the engine's live_start reply
//   live.onOsc("/mgb/window", ["live-1", 0, 3.0, 2, "/path/w0.wav", 4.2])
//
// Engine events (docs/protocol.md): /mgb/window s:session_id i:index f:start_bar (1-based)
// i:bars s:path f:rtf, and /mgb/underrun s:session_id f:beat (quarter notes from bar 1, where
// the playhead passed the generated audio; the engine goes on from a later bar). The transport
// names our session, so it drives this session only, whatever other devices run.

var TRANSPORT_MS = 100;

function createLive(d) {
  var st = {session: null, timer: null};

  function sendTransport() {
    if (!st.session) return;
    var s = d.song();
    d.request("/mgb/transport", {beat: s.time, bpm: s.tempo, playing: s.playing, session_id: st.session.session_id});
    st.timer = d.later(sendTransport, TRANSPORT_MS);
  }

  function start(sessionId, label) {
    st.session = {session_id: sessionId, label: "live " + label, placed: 0, underruns: 0};
    d.status("Live: following the transport (session " + sessionId + ")");
    sendTransport();
  }

  function stop() {
    if (!st.session) return;
    d.request("/mgb/live/stop", {session_id: st.session.session_id});
    d.cancelTimer(st.timer);
    d.status("Live stopped after " + st.session.placed + " window(s)" +
             (st.session.underruns ? ", " + st.session.underruns + " underrun(s)." : "."));
    st.session = null;
  }

  // the engine ended the session (its error carries no job id)
  function fail(code, message) {
    d.cancelTimer(st.timer);
    st.session = null;
    d.status("Live stopped: error (" + code + "): " + message);
  }

  // a window lands in the arrangement at its bar (1-based: bar 1 is beat 0), on a free stretch
  function onWindow(args) {
    var s = d.song();
    var bar = Number(args[2]);
    if (!d.place.canPlace([args[4]])) return;
    var at = d.place.arrangement(String(args[4]), (bar - 1) * s.qpb, Number(args[3]) * s.qpb, st.session.label);
    if (!at) return;
    st.session.placed += 1;
    d.status("Live: window " + args[1] + " at bar " + bar + (at.moved ? " on track " + (at.track + 1) : "") +
             " (x" + Number(args[5]).toFixed(1) + " real time)");
  }

  function onUnderrun(args) {
    var s = d.song();
    var bar = Math.round((Number(args[1]) / s.qpb + 1) * 100) / 100;
    st.session.underruns += 1;
    d.status("Live: playback passed the generated audio at bar " + bar + "; the engine goes on from a " +
             "later bar (" + st.session.underruns + " underrun(s); more bars ahead or a smaller model help)");
  }

  // true when the message was live mode's
  function onOsc(address, args) {
    if (address !== "/mgb/window" && address !== "/mgb/underrun") return false;
    if (!st.session || String(args[0]) !== st.session.session_id) return true;  // another session's
    if (address === "/mgb/window") onWindow(args);
    else onUnderrun(args);
    return true;
  }

  return {start: start, stop: stop, fail: fail, onOsc: onOsc, running: function () { return st.session !== null; },
          owns: function (id) { return st.session !== null && String(id) === st.session.session_id; }};
}

if (typeof exports !== "undefined") exports.createLive = createLive;
