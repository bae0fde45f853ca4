// musicgen-bridge Max for Live device: the logic, free of Max globals so node can test it.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object. mgb_device.js (the Max side) injects LiveAPI,
// outlet, post and a timer:
//
//   var device = require("mgb_core").createDevice({LiveAPI: LiveAPI, outlet: ..., post: ...,
//                                                  setTimeout: ..., clearTimeout: ...});
//   device.handle("prompt", ["warm", "lofi", "keys"]);
//   device.handle("generate", []);
//   device.handle("/mgb/done", ["j-1", "/path/take1.wav", 1, 317520]);   // from udpreceive
//
// Outlets: 0 -> udpsend (an OSC address then its arguments; udpsend encodes it),
//          1 -> status text ("set", text), 2 -> progress 0..1.

var SUPPORTED_RATES = {32000: 1, 44100: 1, 48000: 1, 88200: 1, 96000: 1};
var MIN_PLACE_VERSION = [12, 0, 5];  // ClipSlot/Track.create_audio_clip
var SAFE_UDP_BYTES = 8000;           // the engine answers larger datagrams with too_large
var liveModule = require("mgb_live");  // live mode; Max finds it beside this file

function defaults() {
  return {prompt: "", bars: 0, model: "facebook/musicgen-small", temperature: 1.0, takes: 1, samplerate: 0,
          context_bars: 4, ahead_bars: 2, port: 9001, engine: "127.0.0.1:9000", timeout_ms: 3000};
}

function tidy(x) {
  return Math.round(x * 1e6) / 1e6;
}

function versionAtLeast(v, min) {
  for (var i = 0; i < min.length; i++) {
    if ((v[i] || 0) !== min[i]) return (v[i] || 0) > min[i];
  }
  return true;
}

function createDevice(env) {
  var LiveAPI = env.LiveAPI;
  var post = env.post || function () {};
  var params = defaults();
  // job: the generation we wait for; live: the running live session
  var st = {helloAcked: false, queued: null, pending: null, job: null, timer: null};

  // -- Live API helpers ---------------------------------------------------------------------
  function api(path) {
    return new LiveAPI(null, path);
  }
  function valid(a) {
    return a && Number(a.id) !== 0;
  }
  function get1(a, prop) {
    var v = a.get(prop);
    return (v instanceof Array) ? v[0] : v;
  }
  function pathOf(a) {
    return String(a.unquotedpath || a.path || "").split('"').join("");
  }
  function song() {
    var s = api("live_set");
    var num = Number(get1(s, "signature_numerator")), den = Number(get1(s, "signature_denominator"));
    return {tempo: tidy(Number(get1(s, "tempo"))), num: num, den: den, qpb: num * 4 / den,
            time: Number(get1(s, "current_song_time")), playing: Number(get1(s, "is_playing")) === 1};
  }
  function liveVersion() {
    var app = api("live_app");
    return [Number(app.call("get_major_version")), Number(app.call("get_minor_version")),
            Number(app.call("get_bugfix_version"))];
  }

  // -- outlets ----------------------------------------------------------------------------
  function send() {
    env.outlet.apply(null, [0].concat(Array.prototype.slice.call(arguments)));
  }
  function status(text) {
    env.outlet(1, "set", text);
    post("musicgen-bridge: " + text);
  }
  function progress(f) {
    env.outlet(2, f);
  }
  function later(fn, ms) {
    return env.setTimeout ? env.setTimeout(fn, ms) : null;
  }
  function cancelTimer(t) {
    if (t && env.clearTimeout) env.clearTimeout(t);
  }

  // -- what the producer selected -----------------------------------------------------------
  function sourceClip() {
    var clip = api("live_set view detail_clip");
    if (valid(clip)) return clip;
    var slot = api("live_set view highlighted_clip_slot");
    if (valid(slot) && Number(get1(slot, "has_clip")) === 1) return api(pathOf(slot) + " clip");
    return null;
  }

  function clipInfo(clip, s) {
    var looping = Number(get1(clip, "looping")) === 1;
    var start = Number(get1(clip, looping ? "loop_start" : "start_marker"));
    var end = Number(get1(clip, looping ? "loop_end" : "end_marker"));
    var arrangement = Number(get1(clip, "is_arrangement_clip")) === 1;
    var info = {clip: clip, midi: Number(get1(clip, "is_midi_clip")) === 1, arrangement: arrangement,
                clip_start: start, length: end - start, name: String(get1(clip, "name") || "")};
    info.bars = Math.max(1, Math.round(info.length / s.qpb));
    if (arrangement) {
      info.start_time = Number(get1(clip, "start_time"));
      info.end_time = Number(get1(clip, "end_time"));
    }
    if (!info.midi) info.file_path = String(get1(clip, "file_path") || "");
    return info;
  }

  function parseNotes(raw) {
    if (raw instanceof Array) raw = raw.length === 1 ? raw[0] : raw.join(" ");
    var obj = typeof raw === "string" ? JSON.parse(raw) : raw;
    return obj.notes || [];
  }

  function melody(info) {
    var notes = parseNotes(info.clip.call("get_notes_extended", 0, 128, info.clip_start, info.length));
    var out = [];
    for (var i = 0; i < notes.length; i++) {
      var n = notes[i];
      out.push({pitch: n.pitch, start_beats: tidy(n.start_time), duration_beats: tidy(n.duration),
                velocity: n.velocity, muted: !!n.mute});
    }
    return {notes: out, clip_start_beats: tidy(info.clip_start), clip_length_beats: tidy(info.length)};
  }

  function base(s) {
    var c = {prompt: params.prompt, model: params.model, bpm: s.tempo, time_signature: s.num + "/" + s.den,
             temperature: params.temperature};
    if (SUPPORTED_RATES[params.samplerate]) c.sample_rate = params.samplerate;
    return c;
  }

  // -- where results go -------------------------------------------------------------------
  function targetTrack() {
    var dev = api("this_device canonical_parent");
    var m = /^live_set tracks (\d+)$/.exec(pathOf(dev));
    if (!m) return null;
    var count = api("live_set").getcount("tracks");
    for (var i = Number(m[1]); i < count; i++) {
      var t = api("live_set tracks " + i);
      if (Number(get1(t, "has_audio_input")) === 1 && Number(get1(t, "is_foldable")) !== 1) return i;
    }
    return null;
  }

  function selectedScene() {
    var m = /scenes (\d+)$/.exec(pathOf(api("live_set view selected_scene")));
    return m ? Number(m[1]) : 0;
  }

  // the first run of n empty slots from the selected scene on, adding scenes when the set runs out
  function emptySlots(track, n) {
    var t = api("live_set tracks " + track);
    var i = selectedScene();
    for (;;) {
      while (t.getcount("clip_slots") < i + n) api("live_set").call("create_scene", -1);
      var k;
      for (k = 0; k < n; k++) {
        if (Number(get1(api("live_set tracks " + track + " clip_slots " + (i + k)), "has_clip")) === 1) break;
      }
      if (k === n) break;
      i = i + k + 1;
    }
    var out = [];
    for (var j = 0; j < n; j++) out.push(i + j);
    return out;
  }

  function canPlace(paths) {
    var v = liveVersion();
    if (versionAtLeast(v, MIN_PLACE_VERSION)) return true;
    status("Live " + v.join(".") + " cannot place audio from a device (needs Live 12.0.5 or newer). " +
           "Drag the file in from: " + paths.join(", "));
    return false;
  }

  // N takes -> N clips in consecutive empty slots; an arrangement source also gets take 1 at `at`
  function place(paths, label, at) {
    if (!canPlace(paths)) return false;
    var track = targetTrack();
    if (track === null) {
      status("Put the device on an audio track (or add an audio track to its right); files: " + paths.join(", "));
      return false;
    }
    var slots = emptySlots(track, paths.length);
    for (var i = 0; i < paths.length; i++) {
      var slotPath = "live_set tracks " + track + " clip_slots " + slots[i];
      api(slotPath).call("create_audio_clip", paths[i]);
      api(slotPath + " clip").set("name", paths.length > 1 ? label + " (take " + (i + 1) + ")" : label);
    }
    if (at !== null && at !== undefined) api("live_set tracks " + track).call("create_audio_clip", paths[0], at);
    status("Placed " + paths.length + " clip(s) on track " + (track + 1) + ", scene " + (slots[0] + 1) +
           (at !== null && at !== undefined ? " and in the arrangement" : ""));
    progress(1);
    return true;
  }

  // -- requests ---------------------------------------------------------------------------
  function request(address, content, job) {
    var text = JSON.stringify(content);
    if (text.length > SAFE_UDP_BYTES) {
      status("The request is " + text.length + " bytes, too large for one OSC message; use a shorter clip.");
      return;
    }
    st.job = null;
    st.pending = {address: address, text: text, kind: job.kind, label: job.label, at: job.at, takes: job.takes};
    progress(0);
    if (!st.helloAcked) {
      st.queued = st.pending;
      send("/mgb/hello", params.port);
    } else {
      send(address, text);
    }
    status(job.kind === "live" ? "Starting live..." : "Sent; waiting for the engine...");
    cancelTimer(st.timer);
    st.timer = later(noAnswer, params.timeout_ms);
  }

  function noAnswer() {
    if (!st.pending || st.job) return;
    st.pending = null;
    st.queued = null;
    st.helloAcked = false;  // the engine may have restarted and forgotten our port
    status("No answer from the engine at " + params.engine + ". Start it once and leave it running: " +
           "musicgen-bridge serve --model " + params.model);
  }

  function answered() {
    cancelTimer(st.timer);
    st.timer = null;
  }

  function generate() {
    if (st.job) return cancel();
    var clip = sourceClip();
    var s = song();
    if (!clip) return status("Select a clip (its notes, length and position are used).");
    var info = clipInfo(clip, s);
    if (params.prompt === "") return status("Type a prompt first.");
    var c = base(s);
    c.bars = params.bars > 0 ? params.bars : info.bars;
    c.start_bar = info.arrangement ? tidy(info.start_time / s.qpb + 1) : 1;
    c.variations = params.takes;
    if (info.midi && params.model.toLowerCase().indexOf("melody") >= 0) c.melody = melody(info);
    request("/mgb/generate", c, {kind: "generate", label: params.prompt, takes: params.takes,
                                 at: info.arrangement ? info.start_time : null});
  }

  function continueClip() {
    if (st.job) return cancel();
    var clip = sourceClip();
    var s = song();
    if (!clip) return status("Select an audio clip to continue.");
    var info = clipInfo(clip, s);
    if (info.midi || !info.file_path) return status("Select an audio clip to continue (this one is MIDI).");
    var c = base(s);
    c.bars = params.bars > 0 ? params.bars : 4;
    c.context_bars = Math.max(1, Math.min(params.context_bars, Math.floor(info.length / s.qpb + 1e-6)));
    // the engine starts the new bars on the item's last bar line and says where (/mgb/done start_bar)
    c.item_start_bar = info.arrangement ? tidy(info.start_time / s.qpb + 1) : 1;
    c.audio = {path: info.file_path};
    request("/mgb/continue", c, {kind: "continue", label: params.prompt || (info.name + " cont."), takes: 1,
                                 at: info.arrangement ? "start_bar" : null});
  }

  function cancel() {
    if (st.job) send("/mgb/cancel", st.job.id);
    status("Cancelling...");
  }

  // -- live mode (mgb_live.js) -----------------------------------------------------------
  var live = liveModule.createLive({song: song, send: send, status: status, later: later, cancelTimer: cancelTimer,
                                    canPlace: canPlace, targetTrack: targetTrack, api: api});

  function liveToggle() {
    if (live.running()) return live.stop();
    if (params.prompt === "") return status("Type a prompt first.");
    var s = song();
    var bar = Math.floor(s.time / s.qpb + 1e-6) + 1;
    var c = base(s);
    c.window_bars = params.bars > 0 ? params.bars : 4;
    c.context_bars = params.context_bars;
    c.ahead_bars = params.ahead_bars;
    c.start_bar = s.playing ? bar + 1 : bar;  // windows start on a whole bar still to come
    request("/mgb/live/start", c, {kind: "live", label: params.prompt, takes: 1, at: null});
  }

  // -- OSC from the engine ----------------------------------------------------------------
  function onReply(type, text) {
    var body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (type === "hello") {
      st.helloAcked = true;
      if (st.queued) {
        send(st.queued.address, st.queued.text);
        st.queued = null;
      }
      return;
    }
    if (!st.pending) return;
    if ((type === "generate" || type === "continue") && body.job_id) {
      answered();
      if (!st.job) st.job = {id: body.job_id};
    } else if (type === "live_start" && body.session_id) {
      answered();
      st.pending = null;
      live.start(String(body.session_id));
    } else if (type === "status" && st.job && body.job_id === st.job.id && body.result) {
      finish(body.result.takes || [body.result], Number(body.result.start_bar));
    }
  }

  function finish(takes, startBar) {
    var job = st.pending;
    var paths = [];
    for (var i = 0; i < takes.length; i++) paths.push(String(takes[i].path));
    st.job = null;
    st.pending = null;
    place(paths, job.label, job.at === "start_bar" ? (startBar - 1) * song().qpb : job.at);
  }

  function onOsc(address, args) {
    var mine = st.job && args[0] === st.job.id;
    if (address === "/mgb/reply") return onReply(String(args[0]), String(args[1]));
    if (address === "/mgb/accepted") {
      if (st.pending && !st.job) {
        answered();
        st.job = {id: String(args[0])};
      }
      if (st.job && args[0] === st.job.id) status("Queued...");
    } else if (address === "/mgb/progress" && mine) {
      progress(Number(args[1]));
      status("Generating... " + Math.round(Number(args[1]) * 100) + "%");
    } else if (address === "/mgb/done" && mine) {
      if (st.pending.takes > 1) {
        send("/mgb/status", JSON.stringify({job_id: st.job.id}));  // the event names take 1 only
      } else {
        finish([{path: args[1]}], Number(args[2]));
      }
    } else if (address === "/mgb/error" && (mine || args[0] === "" || (st.pending && !st.job))) {
      if (!st.pending && live.running() && args[0] === "") return live.fail(args[1], args[2]);
      if (!st.pending) return;  // about a request that is no longer ours
      answered();
      st.job = null;
      st.pending = null;
      progress(0);
      status(args[1] === "cancelled" ? "Cancelled" : "Error (" + args[1] + "): " + args[2]);
    } else {
      live.onOsc(address, args);
    }
  }

  // -- one entry point for every Max message ----------------------------------------------
  var PARAMS = {bars: "int", takes: "int", context_bars: "int", ahead_bars: "int", port: "int", timeout_ms: "int",
                temperature: "float", samplerate: "int", model: "sym", engine: "sym"};

  function handle(name, args) {
    args = args || [];
    if (name.charAt(0) === "/") return onOsc(name, args);
    if (name === "prompt") {
      params.prompt = args.join(" ").replace(/^\s+|\s+$/g, "");
    } else if (PARAMS[name]) {
      var v = args[0];
      params[name] = PARAMS[name] === "int" ? Math.round(Number(v)) : PARAMS[name] === "float" ? Number(v) : String(v);
    } else if (name === "init") {
      st.helloAcked = false;
      send("/mgb/hello", params.port);
      status("Ready. Select a clip, type a prompt, press Generate.");
    } else if (name === "generate") {
      generate();
    } else if (name === "continue") {
      continueClip();
    } else if (name === "live") {
      liveToggle();
    } else if (name === "cancel") {
      cancel();
    } else {
      post("musicgen-bridge: unknown message " + name);
    }
  }

  return {handle: handle, params: params, state: st};
}

if (typeof exports !== "undefined") {
  exports.createDevice = createDevice;
  exports.versionAtLeast = versionAtLeast;
}
