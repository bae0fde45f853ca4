// musicgen-bridge Max for Live device: where results go, and the set's tempo and meter.
// SPDX-License-Identifier: GPL-3.0-or-later
//
// Written in ES5 for Max's classic `js` object; mgb_core.js creates it with its Live API helpers:
//
//   var place = require("mgb_place").createPlace({api: api, get1: get1, pathOf: pathOf, status: status});
//   place.slots(paths, label)                     // Session: the next empty slots, never a full one
//   place.arrangement(path, beat, beats, label)   // Arrangement: a free stretch, else a new track
//   place.timing()                                // null, or why an Arrangement span cannot be exact
//   place.atClip(clipPath, song)                  // tempo and meter where a Session clip plays
//
// Rule: a result never lands on an existing clip. In the Session it takes the first run of empty
// slots from the selected scene down (scenes are added at the end when needed). In the
// Arrangement it goes on the device's track when [beat, beat + beats) is free there; otherwise on
// a new audio track "MusicGen: <label>" right after it (reused for later results that fit).

var MIN_PLACE_VERSION = [12, 0, 5];  // ClipSlot/Track.create_audio_clip

function versionAtLeast(v, min) {
  for (var i = 0; i < min.length; i++) {
    if ((v[i] || 0) !== min[i]) return (v[i] || 0) > min[i];
  }
  return true;
}

function createPlace(d) {
  var api = d.api, get1 = d.get1;

  function liveVersion() {
    var app = api("live_app");
    return [Number(app.call("get_major_version")), Number(app.call("get_minor_version")),
            Number(app.call("get_bugfix_version"))];
  }

  function canPlace(paths) {
    var v = liveVersion();
    if (versionAtLeast(v, MIN_PLACE_VERSION)) return true;
    d.status("Live " + v.join(".") + " cannot place audio from a device (needs Live 12.0.5 or newer). " +
             "Drag the file in from: " + paths.join(", "));
    return false;
  }

  // the device's track if it takes audio, else the next audio track to its right
  function targetTrack() {
    var m = /^live_set tracks (\d+)$/.exec(d.pathOf(api("this_device canonical_parent")));
    if (!m) return null;
    var count = api("live_set").getcount("tracks");
    for (var i = Number(m[1]); i < count; i++) {
      var t = api("live_set tracks " + i);
      if (Number(get1(t, "has_audio_input")) === 1 && Number(get1(t, "is_foldable")) !== 1) return i;
    }
    return null;
  }

  function selectedScene() {
    var m = /scenes (\d+)$/.exec(d.pathOf(api("live_set view selected_scene")));
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

  // N takes -> N clips in consecutive empty slots; returns {track, scene} or null
  function slots(paths, label) {
    var track = targetTrack();
    if (track === null) {
      d.status("Put the device on an audio track (or add an audio track to its right); files: " + paths.join(", "));
      return null;
    }
    var s = emptySlots(track, paths.length);
    for (var i = 0; i < paths.length; i++) {
      var slotPath = "live_set tracks " + track + " clip_slots " + s[i];
      api(slotPath).call("create_audio_clip", paths[i]);
      api(slotPath + " clip").set("name", paths.length > 1 ? label + " (take " + (i + 1) + ")" : label);
    }
    return {track: track, scene: s[0]};
  }

  // true when no arrangement clip of the track overlaps [from, to) (beats)
  function free(track, from, to) {
    var t = api("live_set tracks " + track);
    var n = t.getcount("arrangement_clips");
    for (var i = 0; i < n; i++) {
      var c = api("live_set tracks " + track + " arrangement_clips " + i);
      if (Number(get1(c, "start_time")) < to - 1e-9 && Number(get1(c, "end_time")) > from + 1e-9) return false;
    }
    return true;
  }

  function trackNamed(name) {
    var count = api("live_set").getcount("tracks");
    for (var i = 0; i < count; i++) {
      if (String(get1(api("live_set tracks " + i), "name")) === name) return i;
    }
    return null;
  }

  // a free stretch of the device's track, else the result track after it (made when missing or full)
  function arrangement(path, beat, beats, label) {
    var track = targetTrack();
    if (track === null) {
      d.status("Put the device on an audio track (or add an audio track to its right); file: " + path);
      return null;
    }
    var where = track;
    if (!free(track, beat, beat + beats)) {
      var name = "MusicGen: " + label;
      where = trackNamed(name);
      if (where === null || !free(where, beat, beat + beats)) {
        api("live_set").call("create_audio_track", track + 1);
        where = track + 1;
        api("live_set tracks " + where).set("name", name);
      }
    }
    api("live_set tracks " + where).call("create_audio_clip", path, beat);
    return {track: where, moved: where !== track};
  }

  // Live's API gives the tempo and meter at the playhead only. Tempo automation can change the
  // tempo anywhere, so a span of the Arrangement is refused when the tempo is automated.
  function timing() {
    var tempo = api("live_set master_track mixer_device song_tempo");
    if (d.valid(tempo) && Number(get1(tempo, "automation_state")) !== 0) {
      return "The set's tempo is automated, and Live tells a device the tempo at the playhead only: " +
             "the bars of this clip could have another tempo. Remove the tempo automation over the clip " +
             "(or generate from a Session clip) and try again.";
    }
    return null;
  }

  function prop(a, name) {
    try {
      var v = get1(a, name);
      return v === undefined || v === null ? null : Number(v);
    } catch (e) {
      return null;  // an older Live without the property
    }
  }

  // a Session clip plays at its scene's tempo and meter when the scene sets them (Live 12)
  function atClip(clipPath, s) {
    var m = /clip_slots (\d+) clip$/.exec(clipPath);
    if (!m) return s;
    var scene = api("live_set scenes " + m[1]);
    if (!d.valid(scene)) return s;
    var out = {tempo: s.tempo, num: s.num, den: s.den, qpb: s.qpb, time: s.time, playing: s.playing};
    if (prop(scene, "tempo_enabled") === 1 && prop(scene, "tempo") > 0) out.tempo = prop(scene, "tempo");
    if (prop(scene, "time_signature_enabled") === 1) {
      out.num = prop(scene, "time_signature_numerator");
      out.den = prop(scene, "time_signature_denominator");
      out.qpb = out.num * 4 / out.den;
    }
    return out;
  }

  return {canPlace: canPlace, targetTrack: targetTrack, slots: slots, arrangement: arrangement,
          free: free, timing: timing, atClip: atClip};
}

if (typeof exports !== "undefined") {
  exports.createPlace = createPlace;
  exports.versionAtLeast = versionAtLeast;
}
