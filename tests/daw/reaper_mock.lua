-- A mock of Reaper's `reaper` and `gfx` tables for running ReaScripts under plain lua5.4.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Faithful where our scripts depend on it:
-- * every reaper.* name and argument count is checked against tests/daw/reaper_api.txt (derived
--   from the SDK header by make_reaper_api.py): an unknown function or a wrong count is an error;
-- * the time map has the project tempo and meter plus any tempo/time-signature markers
--   (project.markers = {{qn, bpm, num, denom, linear}}), ramps included (a "gradual tempo change"
--   marker ramps linearly in quarter notes to the next marker's tempo);
-- * MIDI takes honour their start offset (PPQ 0 lies `start_offset` seconds before the item);
-- * ExecProcess runs no shell: it splits the line the way REAPER does (spaces separate words,
--   double quotes group them, nothing else is special) and starts the words as they are. With
--   GetOS() "Win*" the line goes to tests/daw/wincmd.py instead, which follows CreateProcess and
--   cmd.exe's rules (quote stripping, code pages, batch files), and backslashes in paths are
--   folder separators for io.open/os.remove/os.rename.
-- Every reaper.* call is recorded.
--
--   local mock = dofile("tests/daw/reaper_mock.lua")
--   local state = mock.install(scenario)   -- sets the globals reaper and gfx
--   dofile(script); mock.pump(state)       -- runs deferred functions until none is left

local M = {}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local HERE = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"

--- {name = {min, max}} of the real API (tests/daw/reaper_api.txt).
local function load_api()
  local api = {}
  for line in io.lines(HERE .. "reaper_api.txt") do
    local name, lo, hi = line:match("^([%w_]+)\t(%d+)\t(%d+)")
    if name then api[name] = {tonumber(lo), tonumber(hi)} end
  end
  return api
end
M.API = load_api()

--- Split a command line as REAPER's ExecProcess does on macOS and Linux: spaces separate words,
--  a double-quoted run is part of one word (the quotes removed); no escapes, no shell.
function M.reaper_split(line)
  local words, cur, inq, any = {}, {}, false, false
  for c in line:gmatch(".") do
    if c == '"' then
      inq, any = not inq, true
    elseif c == " " and not inq then
      if any then words[#words + 1] = table.concat(cur) end
      cur, any = {}, false
    else
      cur[#cur + 1] = c
      any = true
    end
  end
  if any then words[#words + 1] = table.concat(cur) end
  return words
end

--- Length in seconds of a PCM WAV file, from its header (nil when unreadable).
local function wav_length(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local data = fh:read(1 << 16) or ""
  fh:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then return nil end
  local pos, rate, block, size = 13, nil, nil, nil
  while pos + 8 <= #data + 1 do
    local id, len = data:sub(pos, pos + 3), string.unpack("<I4", data, pos + 4)
    if id == "fmt " then
      rate = string.unpack("<I4", data, pos + 12)
      block = string.unpack("<I2", data, pos + 20)
    elseif id == "data" then
      size = len
      break
    end
    pos = pos + 8 + len + (len % 2)
  end
  if not (rate and block and size) then return nil end
  return size / block / rate, size // block, rate
end
M.wav_length = wav_length

local time_map = dofile(HERE .. "reaper_timemap.lua")
M.time_map = time_map


function M.install(scenario)
  local p = scenario.project or {}
  local tm = time_map(p)
  local state = {calls = {}, messages = {}, ext = {}, exec = {}, defer = {}, atexit = {}, clock = 0,
                 tracks = {}, ticks = 0, inputs = scenario.inputs or {}, gfx_ticks = 0, scenario = scenario,
                 play = {playing = false, position = 0}, os = scenario.os or "linux64", undo = {}}
  for k, v in pairs(scenario.ext or {}) do state.ext[k] = v end
  local function windows() return state.os:match("^Win") ~= nil end
  -- on "Windows" a backslash separates folders (the scripts build paths with it)
  local function native(path)
    if windows() and type(path) == "string" then return (path:gsub("\\", "/")) end
    return path
  end
  local real = {open = io.open, remove = os.remove, rename = os.rename, lines = io.lines}
  state.restore_io = function() io.open, os.remove, os.rename, io.lines = real.open, real.remove, real.rename, real.lines end
  io.open = function(path, mode) return real.open(native(path), mode) end
  io.lines = function(path, ...) if path == nil then return real.lines() end return real.lines(native(path), ...) end
  os.remove = function(path) return real.remove(native(path)) end
  os.rename = function(a, b) return real.rename(native(a), native(b)) end
  local ids = 0
  local function new_id(kind)
    ids = ids + 1
    return kind .. "#" .. ids
  end

  -- project objects: plain tables with an id; items point back at their track
  for ti, t in ipairs(p.tracks or {}) do
    local track = {id = new_id("track"), name = t.name or ("Track " .. ti), items = {}, selected = t.selected}
    for _, it in ipairs(t.items or {}) do
      local item = {id = new_id("item"), track = track, position = it.position, length = it.length,
                    selected = it.selected and true or false, takes = {}, info = {}}
      for _, tk in ipairs(it.takes or {}) do
        local take = {id = new_id("take"), item = item, name = tk.name or "", midi = tk.midi,
                      offs = tk.start_offset or 0, playrate = tk.playrate or 1,
                      stretch_markers = tk.stretch_markers}
        if tk.source then
          take.source = {id = new_id("source"), path = tk.source, length = tk.source_length or wav_length(tk.source)}
        end
        item.takes[#item.takes + 1] = take
      end
      item.active = item.takes[1]
      track.items[#track.items + 1] = item
    end
    state.tracks[#state.tracks + 1] = track
  end

  local function track_index(track)
    for i, t in ipairs(state.tracks) do if t == track then return i end end
    error("mock: unknown track")
  end
  local function selected_items()
    local out = {}
    for _, t in ipairs(state.tracks) do
      for _, it in ipairs(t.items) do if it.selected then out[#out + 1] = it end end
    end
    return out
  end
  local qn = tm.qn

  local R = {}
  -- time map: tempo segments (ramps included) and meter regions
  function R.TimeMap2_timeToQN(_, t) return qn(t) end
  function R.TimeMap2_QNToTime(_, q) return tm.time(q) end
  function R.TimeMap2_timeToBeats(_, t)
    local q = qn(t)
    local m, r = tm.measure_of_qn(q)
    local qpb = r.num * 4 / r.denom
    local q0 = r.qn + (m - r.measure) * qpb
    return (q - q0) * r.denom / 4, m, r.num, q * r.denom / 4, r.denom
  end
  function R.TimeMap_GetMeasureInfo(_, m)
    local r = tm.region_of_measure(m)
    local q0 = r.qn + (m - r.measure) * r.num * 4 / r.denom
    return tm.time(q0), q0, q0 + r.num * 4 / r.denom, r.num, r.denom, tm.bpm_at_qn(q0)
  end
  function R.TimeMap_GetTimeSigAtTime(_, t)
    local q = qn(t)
    local r = tm.region_of_qn(q)
    return r.num, r.denom, tm.bpm_at_qn(q)
  end
  function R.Master_GetTempo() return tm.segs[1].bpm end
  -- markers: the scenario's (the project tempo before the first one is not a marker)
  function R.CountTempoTimeSigMarkers() return #tm.segs - 1 end
  function R.FindTempoTimeSigMarker(_, t)
    local found = -1
    for i = 2, #tm.segs do if tm.segs[i].t <= t + 1e-9 then found = i - 2 end end
    return found
  end
  function R.GetTempoTimeSigMarker(_, i)
    local sg = tm.segs[i + 2]
    if not sg then return false, -1, -1, -1, 0, 0, 0, false end
    local m, r = tm.measure_of_qn(sg.qn)
    local beat = (sg.qn - (r.qn + (m - r.measure) * r.num * 4 / r.denom)) * r.denom / 4
    return true, sg.t, m, beat, sg.bpm, sg.num or 0, sg.denom or 0, sg.linear
  end
  -- transport
  function R.GetPlayState() return state.play.playing and 1 or 0 end
  function R.GetPlayPosition() return state.play.position end
  function R.GetPlayPosition2() return state.play.position end
  function R.GetCursorPosition() return p.cursor or 0 end
  -- items and takes
  function R.CountSelectedMediaItems() return #selected_items() end
  function R.GetSelectedMediaItem(_, i) return selected_items()[i + 1] end
  function R.GetMediaItem_Track(item) return item.track end
  local ITEM_KEYS = {D_POSITION = "position", D_LENGTH = "length"}
  function R.GetMediaItemInfo_Value(item, key)
    if ITEM_KEYS[key] then return item[ITEM_KEYS[key]] end
    return item.info[key] or 0
  end
  function R.SetMediaItemInfo_Value(item, key, value)
    if ITEM_KEYS[key] then item[ITEM_KEYS[key]] = value else item.info[key] = value end
    return true
  end
  function R.GetActiveTake(item) return item.active end
  function R.SetActiveTake(take) take.item.active = take end
  function R.TakeIsMIDI(take) return take.midi ~= nil end
  function R.MIDI_CountEvts(take) return 1, #take.midi.notes, 0, 0 end
  function R.MIDI_GetNote(take, i)
    local n = take.midi.notes[i + 1]
    if not n then return false end
    local ppq = take.midi.ppq or 960
    return true, false, n.muted or false, n.start_qn * ppq, n.end_qn * ppq, n.chan or 0, n.pitch, n.vel or 100
  end
  function R.MIDI_GetProjQNFromPPQPos(take, ppq)  -- PPQ 0 is where the take's source starts
    return qn(take.item.position - take.offs) + ppq / (take.midi.ppq or 960)
  end
  function R.GetMediaItemTake_Source(take) return take.source end
  function R.GetTakeNumStretchMarkers(take) return take.stretch_markers or 0 end
  function R.GetMediaSourceFileName(source) return source.path end
  function R.GetMediaSourceLength(source) return source.length or 0, false end
  function R.GetMediaItemTakeInfo_Value(take, key)
    if key == "D_STARTOFFS" then return take.offs end
    if key == "D_PLAYRATE" then return take.playrate end
    return 0
  end
  function R.GetSetMediaItemTakeInfo_String(take, key, value, set)
    if key == "P_NAME" and set then take.name = value end
    return true, take.name
  end
  function R.AddMediaItemToTrack(track)
    local item = {id = new_id("item"), track = track, position = 0, length = 0, takes = {}, info = {}}
    track.items[#track.items + 1] = item
    return item
  end
  function R.AddTakeToMediaItem(item)
    local take = {id = new_id("take"), item = item, name = "", offs = 0, playrate = 1}
    item.takes[#item.takes + 1] = take
    item.active = item.active or take
    return take
  end
  function R.PCM_Source_CreateFromFile(path)
    return {id = new_id("source"), path = path, length = wav_length(path)}
  end
  function R.SetMediaItemTake_Source(take, source) take.source = source return true end
  -- tracks
  function R.CountTracks() return #state.tracks end
  function R.GetTrack(_, i) return state.tracks[i + 1] end
  function R.GetSelectedTrack(_, i)
    local n = 0
    for _, t in ipairs(state.tracks) do
      if t.selected then
        if n == i then return t end
        n = n + 1
      end
    end
  end
  function R.InsertTrackAtIndex(i, _) table.insert(state.tracks, i + 1, {id = new_id("track"), name = "", items = {}}) end
  function R.GetMediaTrackInfo_Value(track, key)
    if key == "IP_TRACKNUMBER" then return track_index(track) end
    return 0
  end
  function R.GetSetMediaTrackInfo_String(track, key, value, set)
    if key == "P_NAME" and set then track.name = value end
    return true, track.name
  end
  -- undo and UI refresh
  function R.Undo_BeginBlock() state.undo_depth = (state.undo_depth or 0) + 1 end
  function R.Undo_EndBlock(desc)
    state.undo_depth = state.undo_depth - 1
    state.undo[#state.undo + 1] = desc
    state.script_undo = true
  end
  function R.PreventUIRefresh() end
  function R.UpdateArrange() end
  function R.Main_OnCommand(cmd)
    if cmd == 40044 then state.play.playing = not state.play.playing end  -- Transport: Play/stop
  end
  -- project, files, settings
  function R.GetProjectPath() return p.media_path or "/tmp" end
  function R.RecursiveCreateDirectory(path) os.execute("mkdir -p " .. sh_quote(native(path))) return 1 end
  function R.file_exists(path)
    local fh = io.open(path, "rb")
    if fh then fh:close() end
    return fh ~= nil
  end
  function R.GetSetProjectInfo(_, key)
    if key == "PROJECT_SRATE" then return p.srate or 0 end
    if key == "PROJECT_SRATE_USE" then return p.srate and 1 or 0 end
    return 0
  end
  function R.GetAudioDeviceInfo(key) if key == "SRATE" then return true, tostring(p.device_srate or 48000) end end
  function R.GetExtState(section, key) return state.ext[section .. "/" .. key] or "" end
  function R.SetExtState(section, key, value) state.ext[section .. "/" .. key] = value end
  function R.HasExtState(section, key) return state.ext[section .. "/" .. key] ~= nil end
  function R.DeleteExtState(section, key) state.ext[section .. "/" .. key] = nil end
  -- dialogs
  function R.GetUserInputs(title, n, captions, defaults)
    local answer = table.remove(state.inputs, 1)
    state.dialogs = state.dialogs or {}
    state.dialogs[#state.dialogs + 1] = {title = title, captions = captions, defaults = defaults}
    if answer == nil or answer == false then return false, defaults end
    local sep = captions:match("separator=(.)") or ","
    local vals = {}
    for i = 1, n do vals[i] = answer[i] ~= nil and tostring(answer[i]) or "" end
    return true, table.concat(vals, sep)
  end
  function R.ShowMessageBox(msg, title)
    state.messages[#state.messages + 1] = {title = title, text = msg}
    return 1
  end
  function R.ShowConsoleMsg(msg) state.console = (state.console or "") .. msg end
  -- processes: no shell. POSIX: REAPER's own word split, the words started as they are.
  -- Windows: the raw line to tests/daw/wincmd.py (CreateProcess + cmd.exe rules).
  local python = os.getenv("MGB_PYTHON") or "python3"
  function R.ExecProcess(cmd, timeout)
    state.exec[#state.exec + 1] = cmd
    local line
    if windows() then
      local f = os.tmpname()
      local fh = real.open(f, "wb")
      fh:write(cmd)
      fh:close()
      line = sh_quote(python) .. " " .. sh_quote(HERE .. "wincmd.py") .. " " .. sh_quote(f)
    else
      local q = {}
      for i, w in ipairs(M.reaper_split(cmd)) do q[i] = sh_quote(w) end
      line = "exec " .. table.concat(q, " ")
    end
    if timeout < 0 then
      os.execute("(" .. line .. ") < /dev/null > /dev/null 2>&1 &")
      return ""
    end
    local fh = io.popen("(" .. line .. ") < /dev/null 2>&1")
    local out = fh:read("a")
    local _, _, code = fh:close()
    return tostring(code or 0) .. "\n" .. out
  end
  -- the script's own life
  function R.time_precise() return state.clock end
  function R.defer(fn) state.defer[#state.defer + 1] = fn end
  function R.atexit(fn) state.atexit[#state.atexit + 1] = fn end
  function R.get_action_context() return false, state.script or "", 0, 0, 0, 0, 0 end
  function R.GetOS() return state.os end

  local function show(v)
    if type(v) == "table" then return v.id or "table" end
    if type(v) == "function" or type(v) == "userdata" then return type(v) end
    return v
  end
  -- only the real API, with the argument counts ReaScript accepts (tests/daw/reaper_api.txt)
  reaper = setmetatable({}, {__index = function(_, name)
    local sig = M.API[name]
    if not sig then error("mock: reaper." .. name .. " is not a REAPER API function", 2) end
    local f = R[name]
    if not f then error("mock: reaper." .. name .. " is not mocked", 2) end
    return function(...)
      local args = table.pack(...)
      local given = args.n
      while given > 0 and args[given] == nil do given = given - 1 end
      if given < sig[1] or args.n > sig[2] then
        error(string.format("mock: reaper.%s takes %d to %d arguments, got %d", name, sig[1], sig[2], args.n), 2)
      end
      local rec = {name = name, args = {}}
      for i = 1, args.n do rec.args[i] = args[i] == nil and "nil" or show(args[i]) end
      state.calls[#state.calls + 1] = rec
      return f(...)
    end
  end})

  -- gfx: Esc is pressed after `cancel_after_ticks` ticks, or once the window showed a text
  -- matching the Lua pattern `cancel_when_text` (e.g. the first progress percentage)
  local G = {w = 420, h = 96, x = 0, y = 0}
  local cancel_at = (scenario.gfx or {}).cancel_after_ticks
  local cancel_text = (scenario.gfx or {}).cancel_when_text
  state.texts = {}
  function G.init(name) state.window = name end
  local seen = {}
  local keys = {}
  for _, k in ipairs((scenario.gfx or {}).keys or {}) do keys[k.tick] = k.char end
  function G.getchar()  -- a key press is read once
    state.gfx_ticks = state.gfx_ticks + 1
    if keys[state.gfx_ticks] then return keys[state.gfx_ticks] end
    if (cancel_at and state.gfx_ticks == cancel_at) or state.esc_pressed == "pending" then
      state.esc_pressed, state.esc_tick = "read", state.ticks
      return 27
    end
    return 0
  end
  function G.drawstr(text)
    if not seen[text] then
      seen[text] = true
      state.texts[#state.texts + 1] = text  -- every distinct text, in the order first shown
    end
    if cancel_text and not state.esc_pressed and text:match(cancel_text) then state.esc_pressed = "pending" end
  end
  for _, name in ipairs({"setfont", "set", "rect", "update"}) do G[name] = function() end end
  function G.quit() state.window_closed = true end
  gfx = G
  return state
end

--- Run deferred functions as Reaper would, one round per tick, sleeping `tick_s` between rounds;
--- `done(state)`, when given, ends the pump early once it holds (a condition, not a guessed time).
function M.pump(state, max_seconds, tick_s, on_tick, done)
  tick_s = tick_s or 0.05
  local deadline = state.clock + (max_seconds or 30)
  while #state.defer > 0 do
    if done and done(state) then break end
    if state.clock > deadline then
      state.timed_out = true
      break
    end
    local round = state.defer
    state.defer = {}
    for _, fn in ipairs(round) do fn() end
    state.ticks = state.ticks + 1
    if on_tick then on_tick(state) end
    if #state.defer > 0 then
      os.execute("sleep " .. tick_s)
      state.clock = state.clock + tick_s
      if state.play.playing then state.play.position = state.play.position + tick_s end
    end
  end
end

--- What a test checks: the project after the script ran, the calls and the dialogs.
function M.snapshot(state)
  local tracks = {}
  for ti, t in ipairs(state.tracks) do
    local items = {}
    for _, it in ipairs(t.items) do
      local takes = {}
      for _, tk in ipairs(it.takes) do
        takes[#takes + 1] = {name = tk.name, source = tk.source and tk.source.path or "",
                             source_length = tk.source and tk.source.length or -1, active = it.active == tk}
      end
      items[#items + 1] = {id = it.id, position = it.position, length = it.length, takes = takes,
                           loop = it.info.B_LOOPSRC or -1}
    end
    tracks[ti] = {id = t.id, name = t.name, items = items}
  end
  return {tracks = tracks, calls = state.calls, messages = state.messages, ext = state.ext, exec = state.exec,
          dialogs = state.dialogs or {}, undo = state.undo, play = state.play, ticks = state.ticks, timed_out = state.timed_out or false,
          window_closed = state.window_closed or false, console = state.console or "",
          texts = state.texts or {}, esc_tick = state.esc_tick or -1}
end

return M
