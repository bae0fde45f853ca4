// A fake of Max's LiveAPI over a small Live set model, recording what the device does to it.
// SPDX-License-Identifier: GPL-3.0-or-later
//
//   const live = makeLive({version: [12, 1, 0], set: {...}, this_device: "live_set tracks 1 devices 0"});
//   new live.LiveAPI(null, "live_set view detail_clip").get("length")   -> [12]
//   live.calls  -> [{path, fn, args}]   (create_audio_clip, create_scene, set)
//
// Paths resolve the way Live's do: "live_set tracks 1 clip_slots 0 clip", "live_set view
// detail_clip", "this_device canonical_parent". A path that names nothing gives id 0.
"use strict";

// a WAV file's length in seconds (0 when it cannot be read: paths the tests make up)
function wavSeconds(file) {
  let buf;
  try {
    buf = require("fs").readFileSync(file);
  } catch (e) {
    return 0;
  }
  let rate = 0, blockAlign = 0;
  for (let pos = 12; pos + 8 <= buf.length;) {
    const id = buf.toString("ascii", pos, pos + 4), size = buf.readUInt32LE(pos + 4);
    if (id === "fmt ") { rate = buf.readUInt32LE(pos + 12); blockAlign = buf.readUInt16LE(pos + 20); }
    if (id === "data" && rate) return size / blockAlign / rate;
    pos += 8 + size + (size & 1);
  }
  return 0;
}

function makeLive(model) {
  const calls = [];
  const ids = new Map();
  const set = model.set;

  function idOf(path) {
    if (!ids.has(path)) ids.set(path, ids.size + 1);
    return ids.get(path);
  }

  // canonical path -> node, or null
  function lookup(path) {
    const t = path.split(" ");
    let node = null;
    let i = 0;
    if (t[0] === "live_set") { node = set; i = 1; }
    else if (t[0] === "live_app") return t.length === 1 ? {app: true} : null;
    else return null;
    for (; i < t.length; i++) {
      if (node === null || node === undefined) return null;
      const key = t[i];
      if (/^\d+$/.test(t[i + 1] || "") && Array.isArray(node[key])) { node = node[key][Number(t[i + 1])]; i++; }
      else node = node[key];
    }
    return node === undefined ? null : node;
  }

  // any path -> canonical path (resolving view references and canonical_parent)
  function canonical(path) {
    let t = path.trim().split(/\s+/);
    if (t[0] === "this_device") t = model.this_device.split(" ").concat(t.slice(1));
    if (t[0] === "id") return null;
    const out = [];
    for (let i = 0; i < t.length; i++) {
      const tok = t[i];
      if (tok === "canonical_parent") { out.splice(out.length - (/^\d+$/.test(out[out.length - 1]) ? 2 : 1)); continue; }
      if (out.length === 2 && out[0] === "live_set" && out[1] === "view" && set.view[tok] !== undefined) {
        if (!set.view[tok]) return null;
        out.splice(0, 2, ...set.view[tok].split(" "));
        continue;
      }
      out.push(tok);
    }
    const p = out.join(" ");
    return lookup(p) === null ? null : p;
  }

  function isAudioTrack(track) {
    return track.has_audio_input === 1;
  }

  class LiveAPI {
    constructor(callback, path) {
      this.goto(path || "");
    }
    goto(path) {
      const c = canonical(path);
      this._path = c;
      this.id = c === null ? 0 : idOf(c);
      this.path = c === null ? "" : '"' + c + '"';
      this.unquotedpath = c === null ? "" : c;
    }
    _node() {
      if (this._path === null) throw new Error("LiveAPI: invalid object (id 0)");
      return lookup(this._path);
    }
    get(prop) {
      const node = this._node();
      if (prop === "has_clip") return [node.clip ? 1 : 0];
      const v = node[prop];
      if (v === undefined) throw new Error("LiveAPI: no property " + prop + " at " + this._path);
      return Array.isArray(v) ? v : [v];
    }
    set(prop, value) {
      calls.push({path: this._path, fn: "set", args: [prop, value]});
      this._node()[prop] = value;
    }
    getcount(child) {
      return (this._node()[child] || []).length;
    }
    call(fn, ...args) {
      const node = this._node();
      const p = this._path;
      if (p === "live_app") {
        const v = model.version;
        return {get_major_version: v[0], get_minor_version: v[1], get_bugfix_version: v[2]}[fn];
      }
      const atLeast = (min) => model.version[0] * 1e6 + model.version[1] * 1e3 + model.version[2] >=
        min[0] * 1e6 + min[1] * 1e3 + min[2];
      if (fn === "get_notes_extended") {
        const [fromPitch, span, fromTime, timeSpan] = args;
        const notes = node.notes.filter((n) => n.pitch >= fromPitch && n.pitch < fromPitch + span &&
          n.start_time >= fromTime && n.start_time < fromTime + timeSpan);
        return JSON.stringify({notes});  // Live hands the dictionary to js as JSON text
      }
      if (fn === "create_audio_track") {
        calls.push({path: p, fn, args});
        const index = args[0] < 0 ? set.tracks.length : args[0];
        set.tracks.splice(index, 0, {name: "", has_audio_input: 1, has_midi_input: 0, is_foldable: 0,
                                     clip_slots: set.scenes.map(() => ({})), arrangement_clips: [], devices: []});
        return;
      }
      if (fn === "create_scene") {
        calls.push({path: p, fn, args});
        set.scenes.push({});
        for (const t of set.tracks) t.clip_slots.push({});
        return;
      }
      if (fn === "create_audio_clip") {
        if (!atLeast([12, 0, 5])) throw new Error("LiveAPI: no function create_audio_clip");
        calls.push({path: p, fn, args});
        const m = /^live_set tracks (\d+)(?: clip_slots (\d+))?$/.exec(p);
        const track = set.tracks[Number(m[1])];
        if (!isAudioTrack(track)) throw new Error("create_audio_clip: not an audio track");
        const clip = {name: "", is_midi_clip: 0, is_audio_clip: 1, file_path: args[0], looping: 1};
        if (m[2] !== undefined) {
          if (node.clip) throw new Error("create_audio_clip: the slot is not empty");
          node.clip = clip;
        } else {
          clip.start_time = args[1];
          clip.end_time = args[1] + wavSeconds(args[0]) * set.tempo / 60;  // Live lays the file at the set's tempo
          clip.is_arrangement_clip = 1;
          track.arrangement_clips.push(clip);
        }
        return;
      }
      throw new Error("LiveAPI: unknown function " + fn + " at " + p);
    }
  }

  return {LiveAPI, calls, model};
}

module.exports = {makeLive};
