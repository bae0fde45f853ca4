// musicgen-bridge Max for Live device: the logic, free of Max globals so node can test it.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object. mgb_device.js (the Max side) injects LiveAPI,
// outlet, post, a timer and a random source:
//
//   var device = require("mgb_core").createDevice({LiveAPI: LiveAPI, outlet: ..., post: ...,
//                                                  setTimeout: ..., clearTimeout: ..., random: ...});
//   device.handle("prompt", ["warm", "lofi", "keys"]);
//   device.handle("generate", []);
//   device.handle("/mgb/done", ["j-1", "/path/take1.wav", 1, 317520]);   // from udpreceive
//
// Outlets: 0 -> udpsend (an OSC address then its arguments; udpsend encodes it),
//          1 -> status text ("set", text), 2 -> progress 0..1, 3 -> udpreceive ("port", N),
//          4 -> pattr prompt (saved with the Live set), 5 -> the prompt box ("set", words).

var SUPPORTED_RATES = {32000: 1, 44100: 1, 48000: 1, 88200: 1, 96000: 1};
// Max finds these beside this file (in a frozen device: inside the .amxd)
var liveModule = require("mgb_live");
var linkModule = require("mgb_link");
var placeModule = require("mgb_place");

function defaults() {
  return {prompt: "", bars: 0, model: "facebook/musicgen-small", style_model: "facebook/musicgen-style",
          temperature: 1.0, takes: 1, samplerate: 0,
          context_bars: 4, ahead_bars: 2, engine: "127.0.0.1:9000", timeout_ms: 3000,
          // sound effects (AudioGen): model, length when bars is 0, where (slots|playhead|bar), which bar
          sfx_model: "facebook/audiogen-medium", sfx_seconds: 2.0, sfx_place: "slots", sfx_bar: 1};
}

// MAGNeT models (facebook/magnet-*, facebook/audio-magnet-*, tiny-magnet) fill one fixed window
function isMagnet(model) {
  return String(model).toLowerCase().indexOf("magnet") >= 0;
}

function tidy(x) {
  return Math.round(x * 1e6) / 1e6;
}

function createDevice(env) {
  var LiveAPI = env.LiveAPI;
  var post = env.post || function () {};
  var params = defaults();
  // pending: the request we wait for; job: its engine job; queued: sent once the hello is answered
  var st = {queued: null, pending: null, job: null, timer: null, closed: false};

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

  var link = linkModule.createLink({send: send, later: later, cancelTimer: cancelTimer, random: env.random,
                                    toReceiver: function (what, port) { env.outlet(3, what, port); }});
  var place = placeModule.createPlace({api: api, get1: get1, pathOf: pathOf, status: status, valid: valid});

  // -- what the producer selected -----------------------------------------------------------
  function sourceClip() {
    var clip = api("live_set view detail_clip");
    if (valid(clip)) return clip;
    var slot = api("live_set view highlighted_clip_slot");
    if (valid(slot) && Number(get1(slot, "has_clip")) === 1) return api(pathOf(slot) + " clip");
    return null;
  }

  // markers of an unwarped audio clip are seconds of its file; of other clips, beats
  function clipInfo(clip, s) {
    var looping = Number(get1(clip, "looping")) === 1;
    var start = Number(get1(clip, looping ? "loop_start" : "start_marker"));
    var end = Number(get1(clip, looping ? "loop_end" : "end_marker"));
    var arrangement = Number(get1(clip, "is_arrangement_clip")) === 1;
    var midi = Number(get1(clip, "is_midi_clip")) === 1;
    var warped = midi || Number(get1(clip, "warping")) === 1;
    var info = {clip: clip, midi: midi, arrangement: arrangement, warped: warped, clip_start: start,
                name: String(get1(clip, "name") || "")};
    if (arrangement) {
      info.start_time = Number(get1(clip, "start_time"));
      info.end_time = Number(get1(clip, "end_time"));
    }
    // length on the timeline, in beats
    if (arrangement) info.length = info.end_time - info.start_time;
    else info.length = warped ? end - start : (end - start) * s.tempo / 60;
    info.length = tidy(info.length);
    if (!warped) {
      info.start_seconds = start;
      info.end_seconds = end;
    }
    info.bars = Math.max(1, Math.round(info.length / s.qpb));
    if (!midi) info.file_path = String(get1(clip, "file_path") || "");
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
    var c = {prompt: params.prompt, model: params.model, bpm: s.tempo, time_signature: s.num + "/" + s.den};
    // MAGNeT has its own temperature (3, lowered pass by pass): the dial at its default leaves it be
    if (!(isMagnet(params.model) && params.temperature === 1.0)) c.temperature = params.temperature;
    if (SUPPORTED_RATES[params.samplerate]) c.sample_rate = params.samplerate;
    return c;
  }

  // -- requests ---------------------------------------------------------------------------
  function request(address, content, job) {
    st.job = null;
    st.pending = {address: address, content: content, kind: job.kind, label: job.label, at: job.at,
                  takes: job.takes, beats: job.beats, qpb: job.qpb};
    progress(0);
    if (!link.acked()) st.queued = st.pending;
    else link.request(address, content);
    status(job.kind === "live" ? "Starting live..." : "Sent; waiting for the engine...");
    armTimer();
  }

  function armTimer() {
    cancelTimer(st.timer);
    st.timer = later(noAnswer, params.timeout_ms);
  }

  function noAnswer() {
    if (!st.pending || st.job) return;
    if (!link.acked() && link.retry()) return armTimer();  // our port may be taken: try another
    st.pending = null;
    st.queued = null;
    link.start();  // the engine may have restarted: start over with a fresh port and hello
    status("No answer from the engine at " + params.engine + ". Start it once and leave it running: " +
           "musicgen-bridge serve --model " + params.model);
  }

  function answered() {
    cancelTimer(st.timer);
    st.timer = null;
  }

  function refuse(text) {
    status(text);
    return null;
  }

  function generate() {
    if (st.job) return cancel();
    var clip = sourceClip();
    if (!clip) return refuse("Select a clip (its notes, length and position are used).");
    var s = place.atClip(pathOf(clip), song());
    var info = clipInfo(clip, s);
    if (params.prompt === "") return refuse("Type a prompt first.");
    if (info.arrangement && place.timing()) return refuse(place.timing());
    var c = base(s);
    c.bars = params.bars > 0 ? params.bars : info.bars;
    c.start_bar = info.arrangement ? tidy(info.start_time / s.qpb + 1) : 1;
    c.variations = params.takes;
    if (info.midi && params.model.toLowerCase().indexOf("melody") >= 0) c.melody = melody(info);
    request("/mgb/generate", c, {kind: "generate", label: params.prompt, takes: params.takes,
                                 at: info.arrangement ? info.start_time : null, beats: c.bars * s.qpb, qpb: s.qpb});
  }

  function continueClip() {
    if (st.job) return cancel();
    var clip = sourceClip();
    if (!clip) return refuse("Select an audio clip to continue.");
    var s = place.atClip(pathOf(clip), song());
    var info = clipInfo(clip, s);
    if (info.midi || !info.file_path) return refuse("Select an audio clip to continue (this one is MIDI).");
    if (info.arrangement && place.timing()) return refuse(place.timing());
    var c = base(s);
    c.bars = params.bars > 0 ? params.bars : 4;
    c.context_bars = Math.max(1, Math.min(params.context_bars, Math.floor(info.length / s.qpb + 1e-6)));
    // the engine starts the new bars on the item's last bar line and says where (/mgb/done start_bar)
    c.item_start_bar = info.arrangement ? tidy(info.start_time / s.qpb + 1) : 1;
    c.audio = {path: info.file_path};
    if (!info.warped) {  // the exact stretch of the file the clip plays
      c.audio.start_seconds = tidy(info.start_seconds);
      c.audio.end_seconds = tidy(info.end_seconds);
    }
    request("/mgb/continue", c, {kind: "continue", label: params.prompt || (info.name + " cont."), takes: 1,
                                 at: info.arrangement ? "start_bar" : null, beats: c.bars * s.qpb, qpb: s.qpb});
  }

  // "More like this" (MusicGen-Style): the selected audio clip's sound is the style to follow
  function styleClip() {
    if (st.job) return cancel();
    var clip = sourceClip();
    var s = clip && place.atClip(pathOf(clip), song());
    var info = clip && clipInfo(clip, s);
    if (!info || info.midi || !info.file_path) return refuse("Select an audio clip: its sound is the style to follow.");
    if (info.arrangement && place.timing()) return refuse(place.timing());
    var c = base(s);
    if (params.model.toLowerCase().indexOf("style") < 0) c.model = params.style_model;
    c.bars = params.bars > 0 ? params.bars : info.bars;
    c.start_bar = info.arrangement ? tidy(info.start_time / s.qpb + 1) : 1;
    c.variations = params.takes;
    c.style = {path: info.file_path};  // the engine hears a few seconds from its middle, on a bar line
    if (!info.warped) {
      c.style.start_seconds = tidy(info.start_seconds);
      c.style.end_seconds = tidy(info.end_seconds);
    }
    request("/mgb/generate", c, {kind: "generate", label: params.prompt || ("like " + info.name), takes: params.takes,
                                 at: info.arrangement ? info.start_time : null, beats: c.bars * s.qpb, qpb: s.qpb});
  }

  // a sound effect (AudioGen): the prompt describes the sound; its length is `bars` when set, else
  // sfx_seconds; it lands in empty clip slots, and also in the arrangement at the playhead or at
  // sfx_bar when sfx_place says so. No clip needs to be selected.
  function soundEffect() {
    if (st.job) return cancel();
    if (params.prompt === "") return refuse("Type the sound first (for example: door slam, large hall).");
    var s = song();
    var at = null;
    if (params.sfx_place === "playhead") at = tidy(s.time);
    else if (params.sfx_place === "bar") at = tidy((Math.max(1, params.sfx_bar) - 1) * s.qpb);
    else if (params.sfx_place !== "slots") return refuse("Place must be slots, playhead or bar.");
    var c = base(s);
    c.model = params.sfx_model;
    var beats;
    if (params.bars > 0) {
      c.bars = params.bars;
      beats = c.bars * s.qpb;
    } else {
      if (!(params.sfx_seconds > 0)) return refuse("Set a length: bars, or seconds for the sound.");
      c.seconds = params.sfx_seconds;
      beats = tidy(c.seconds * s.tempo / 60);
    }
    c.start_bar = at !== null ? tidy(at / s.qpb + 1) : 1;
    c.variations = params.takes;
    request("/mgb/generate", c, {kind: "generate", label: params.prompt, takes: params.takes, at: at,
                                 beats: beats, qpb: s.qpb});
  }

  function cancel() {
    if (st.job) link.request("/mgb/cancel", {job_id: st.job.id});
    status("Cancelling...");
  }

  // -- live mode (mgb_live.js) -----------------------------------------------------------
  var live = liveModule.createLive({song: song, request: link.request, status: status, later: later,
                                    cancelTimer: cancelTimer, place: place});

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
      if (!link.onHello(body)) return;  // another instance's port answer
      if (st.queued) {
        link.request(st.queued.address, st.queued.content);
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
      var label = st.pending.label;
      st.pending = null;
      live.start(String(body.session_id), label);
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
    if (!place.canPlace(paths)) return;
    var at = job.at === "start_bar" ? (startBar - 1) * job.qpb : job.at;
    var inSlots = place.slots(paths, job.label);
    if (!inSlots) return;
    var text = "Placed " + paths.length + " clip(s) on track " + (inSlots.track + 1) + ", scene " + (inSlots.scene + 1);
    if (at !== null && at !== undefined) {
      var arr = place.arrangement(paths[0], at, job.beats, job.label);
      if (arr) text += arr.moved ? " and in the arrangement on a new track " + (arr.track + 1) +
                                   " (the stretch on track " + (inSlots.track + 1) + " holds a clip)"
                                 : " and in the arrangement";
    }
    status(text);
    progress(1);
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
        link.request("/mgb/status", {job_id: st.job.id});  // the event names take 1 only
      } else {
        finish([{path: args[1]}], Number(args[2]));
      }
    } else if (address === "/mgb/error" && (mine || args[0] === "" || (st.pending && !st.job))) {
      if (!st.pending && live.running() && (args[0] === "" || live.owns(args[0]))) return live.fail(args[1], args[2]);
      if (!st.pending) return;  // about a request that is no longer ours
      answered();
      st.job = null;
      st.pending = null;
      progress(0);
      status(args[1] === "cancelled" ? "Cancelled" : "Error (" + args[1] + "): " + args[2]);
    } else if (address === "/mgb/error" && live.running() && live.owns(args[0])) {
      live.fail(args[1], args[2]);
    } else {
      live.onOsc(address, args);
    }
  }

  // the device is deleted or its set closes: stop what runs for it on the engine, once
  function close() {
    if (st.closed) return;
    st.closed = true;
    cancelTimer(st.timer);
    if (live.running()) live.stop();
    if (st.job) link.request("/mgb/cancel", {job_id: st.job.id});
    st.job = null;
    st.pending = null;
    link.close();
  }

  // -- one entry point for every Max message ----------------------------------------------
  var PARAMS = {bars: "int", takes: "int", context_bars: "int", ahead_bars: "int", timeout_ms: "int",
                temperature: "float", samplerate: "int", model: "sym", style_model: "sym", engine: "sym",
                sfx_model: "sym", sfx_seconds: "float", sfx_place: "sym", sfx_bar: "float"};

  function handle(name, args) {
    args = args || [];
    if (name.charAt(0) === "/") return onOsc(name, args);
    if (name === "prompt" || name === "restore") {
      // an empty box: textedit says "text", route text turns that into a bang, prepend into "prompt bang"
      if (args.length === 1 && args[0] === "bang") args = [];
      params.prompt = args.join(" ").replace(/^\s+|\s+$/g, "");
      // typed: saved with the Live set (pattr); restored from it: shown in the box
      if (name === "prompt") env.outlet(4, params.prompt === "" ? [""] : args);
      else env.outlet(5, ["set"].concat(args));
    } else if (PARAMS[name]) {
      var v = args[0];
      params[name] = PARAMS[name] === "int" ? Math.round(Number(v)) : PARAMS[name] === "float" ? Number(v) : String(v);
    } else if (name === "init") {
      st.closed = false;
      link.start();
      status("Ready. Select a clip, type a prompt, press Generate.");
    } else if (name === "generate") {
      generate();
    } else if (name === "continue") {
      continueClip();
    } else if (name === "style") {
      styleClip();
    } else if (name === "sfx") {
      soundEffect();
    } else if (name === "live") {
      liveToggle();
    } else if (name === "cancel") {
      cancel();
    } else if (name === "close") {
      close();
    } else {
      post("musicgen-bridge: unknown message " + name);
    }
  }

  return {handle: handle, params: params, state: st, link: link};
}

if (typeof exports !== "undefined") {
  exports.createDevice = createDevice;
  exports.versionAtLeast = placeModule.versionAtLeast;
}
