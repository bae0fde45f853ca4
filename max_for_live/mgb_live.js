// musicgen-bridge Max for Live device: live mode (windows generated ahead of the playhead).
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object; mgb_core.js creates it with the device's helpers:
//
//   var live = require("mgb_live").createLive({song: song, send: send, status: status, later: later,
//                                              cancelTimer: cancelTimer, canPlace: canPlace,
//                                              targetTrack: targetTrack, api: api});
//   live.start(content, sessionId)   // after the engine's live_start reply
//   live.onOsc("/mgb/window", ["live-1", 0, 3.0, 2, "/path/w0.wav", 4.2])
//
// Engine events (docs/protocol.md): /mgb/window s:session_id i:index f:start_bar (1-based)
// i:bars s:path f:rtf, and /mgb/underrun s:session_id f:beat (quarter notes from bar 1, where
// the playhead passed the generated audio; the engine goes on from a later bar).

var TRANSPORT_MS = 100;

function createLive(d) {
  var st = {session: null, timer: null};

  function sendTransport() {
    if (!st.session) return;
    var s = d.song();
    d.send("/mgb/transport", s.time, s.tempo, s.playing ? 1 : 0);
    st.timer = d.later(sendTransport, TRANSPORT_MS);
  }

  function start(sessionId) {
    st.session = {session_id: sessionId, placed: 0, underruns: 0};
    d.status("Live: following the transport (session " + sessionId + ")");
    sendTransport();
  }

  function stop() {
    if (!st.session) return;
    d.send("/mgb/live/stop", st.session.session_id);
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

  // a window lands in the arrangement at its bar (1-based: bar 1 is beat 0)
  function onWindow(args) {
    var s = d.song();
    var bar = Number(args[2]);
    if (!d.canPlace([args[4]])) return;
    var track = d.targetTrack();
    if (track === null) return d.status("Put the device on an audio track for live mode.");
    d.api("live_set tracks " + track).call("create_audio_clip", String(args[4]), (bar - 1) * s.qpb);
    st.session.placed += 1;
    d.status("Live: window " + args[1] + " at bar " + bar + " (x" + Number(args[5]).toFixed(1) + " real time)");
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

  return {start: start, stop: stop, fail: fail, onOsc: onOsc, running: function () { return st.session !== null; }};
}

if (typeof exports !== "undefined") exports.createLive = createLive;
