-- musicgen-bridge for Ardour: what the editor actions share (read a region, talk to the CLI, place
-- the result). Works in the Ardour GUI and in the headless `ardour7-lua` (tests, batch use).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local mgb = dofile("/path/to/mgb_ardour.lua")
--   local timing = mgb.timing(region:position():samples(), region:length():samples())
--   local result, err = mgb.generate(Session, region, {prompt = "warm keys", bars = 4, model = "tiny"})
--
-- The messenger is the one the Reaper scripts use (docs/daw-setup.md): the whole request goes to
-- <name>.request.json, a small wrapper runs `musicgen-bridge generate --request ... --json --out ...`
-- with stdout/stderr in files and writes its exit status last; we poll those files.

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end

local M = {dir = here(), POLL_S = 0.2, START_TIMEOUT_S = 20, TIMEOUT_S = 1800}

-- the JSON module of the Reaper scripts: beside this file (installed) or in the repository
local function load_json()
  for _, p in ipairs({M.dir .. "mgb_json.lua", M.dir .. "../reaper/mgb/json.lua"}) do
    local fh = io.open(p, "rb")
    if fh then fh:close() return dofile(p) end
  end
  error("mgb_json.lua is missing: copy daw_scripts/reaper/mgb/json.lua beside mgb_ardour.lua as mgb_json.lua")
end
M.json = load_json()
local json = M.json

M.EXTENSIONS = {wav16 = ".wav", wav24 = ".wav", wav32f = ".wav", flac = ".flac", aiff = ".aiff"}
M.DEFAULTS = {cli = "musicgen-bridge", server = "tcp://127.0.0.1:5555", model = "facebook/musicgen-small",
              format = "wav24", python = "", start_timeout = M.START_TIMEOUT_S}

local function is_windows() return package.config:sub(1, 1) == "\\" end
local function sep() return is_windows() and "\\" or "/" end

local function file_exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() return true end
  return false
end

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local data = fh:read("a")
  fh:close()
  return data
end

local function write_file(path, data)
  local fh, why = io.open(path .. ".part", "wb")
  if not fh then return nil, why end
  fh:write(data)
  fh:close()
  os.remove(path)
  return os.rename(path .. ".part", path)
end

local function sleep(seconds)
  if ARDOUR and ARDOUR.LuaAPI and ARDOUR.LuaAPI.usleep then ARDOUR.LuaAPI.usleep(math.floor(seconds * 1e6))
  else os.execute("sleep " .. seconds) end
end

local function now()
  if ARDOUR and ARDOUR.LuaAPI and ARDOUR.LuaAPI.monotonic_time then return ARDOUR.LuaAPI.monotonic_time() / 1e6 end
  return os.clock()
end

local function tidy(x) return math.floor(x * 1e6 + 0.5) / 1e6 end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function cmd_quote(s) return '"' .. tostring(s):gsub('"', "'"):gsub("%%", "%%%%") .. '"' end

--- Create a folder and its parents (no error when it exists).
function M.mkdir(folder)
  if is_windows() then os.execute('if not exist ' .. cmd_quote(folder) .. ' mkdir ' .. cmd_quote(folder))
  else os.execute("mkdir -p " .. sh_quote(folder)) end
end

-- settings -----------------------------------------------------------------------------------

--- Where the settings live: a JSON file in the user's config folder.
function M.settings_path()
  local home = os.getenv("MGB_ARDOUR_SETTINGS")
  if home and home ~= "" then return home end
  local base = os.getenv("APPDATA") or ((os.getenv("XDG_CONFIG_HOME") or ((os.getenv("HOME") or ".") .. "/.config")))
  return base .. sep() .. "musicgen-bridge" .. sep() .. "ardour-settings.json"
end

function M.settings()
  local out = {}
  for k, v in pairs(M.DEFAULTS) do out[k] = v end
  local data = read_file(M.settings_path())
  if data then
    local ok, saved = pcall(json.decode, data)
    if ok and type(saved) == "table" then for k, v in pairs(saved) do out[k] = v end end
  end
  return out
end

function M.save_settings(values)
  local path = M.settings_path()
  local folder = path:match("^(.*)[/\\]")
  if folder then M.mkdir(folder) end
  return write_file(path, json.encode(values))
end

-- the tempo map -------------------------------------------------------------------------------

--- Quarter notes of a Temporal.Beats ("beats:ticks").
function M.quarters(beats)
  local b, t = tostring(beats:str()):match("(-?%d+):(-?%d+)")
  return tonumber(b) + tonumber(t) / Temporal.ticks_per_beat
end

--- The sample position of a quarter-note position, through Ardour's tempo map.
function M.sample_at_quarters(q)
  return Temporal.TempoMap.read():sample_at_beats(Temporal.Beats.from_double(q))
end

--- The sample position where a whole 1-based bar starts.
function M.sample_of_bar(bar)
  local tm = Temporal.TempoMap.read()
  return tm:sample_at_beats(tm:quarters_at_bbt(Temporal.BBT_TIME(bar, 1, 0)))
end

--- Tempo (quarter notes per minute), meter, bar number and length in bars of a sample range,
--  read from Ardour's tempo map at its start.
function M.timing(position, length)
  local tm = Temporal.TempoMap.read()
  local tp = Temporal.timepos_t(position)
  -- Ardour answers for a point exactly on a marker with the tempo before it: ask one sample in
  local probe = Temporal.timepos_t(position + 1)
  local meter = tm:meter_at(probe)
  local num, denom = meter:divisions_per_bar(), meter:note_value()
  local qpb = num * 4 / denom
  local bbt = tm:bbt_at(tp)
  local q_pos = M.quarters(tm:quarters_at(tp))
  local q_bar = M.quarters(tm:quarters_at_bbt(Temporal.BBT_TIME(bbt.bars, 1, 0)))
  local q_end = M.quarters(tm:quarters_at(Temporal.timepos_t(position + length)))
  local bars_exact = (q_end - q_pos) / qpb
  return {position = position, length = length, bpm = tidy(tm:quarters_per_minute_at(probe)), num = num,
          denom = denom, qpb = qpb, q_pos = q_pos, q_end = q_end, start_bar = tidy(bbt.bars + (q_pos - q_bar) / qpb),
          bars = math.max(1, math.floor(bars_exact + 0.5)), bars_exact = tidy(bars_exact)}
end

--- Why the tempo or meter is not one steady value over samples [t0, t1), or nil. A tempo marker
--  inside, a ramp ("gradual" tempo) or a meter change are all refused: MusicGen writes one tempo.
function M.tempo_change(t0, t1)
  local tm = Temporal.TempoMap.read()
  t0 = t0 + 1  -- on a marker Ardour answers with the tempo before it (see timing)
  local a = Temporal.timepos_t(t0)
  local qa = tm:quarters_per_minute_at(a)
  local ma = tm:meter_at(a)
  local pa = tm:tempo_at(a):to_point():sclock()
  local steps = 16
  for i = 1, steps do
    local t = Temporal.timepos_t(math.floor(t0 + (t1 - 1 - t0) * i / steps))
    local q = tm:quarters_per_minute_at(t)
    if math.abs(q - qa) > 1e-6 then
      local how = tm:tempo_at(t):to_point():sclock() == pa and "ramps" or "changes"
      return string.format("the tempo %s from %g to %g BPM", how, tidy(qa), tidy(q))
    end
    local m = tm:meter_at(t)
    if m:divisions_per_bar() ~= ma:divisions_per_bar() or m:note_value() ~= ma:note_value() then
      return string.format("the time signature changes to %d/%d", m:divisions_per_bar(), m:note_value())
    end
  end
  return nil
end

-- reading regions -----------------------------------------------------------------------------

--- The notes of a MIDI region in quarter notes from its start (the protocol's melody).
function M.midi_melody(region, timing)
  local mr = region:to_midiregion()
  if mr:isnil() then return nil, "the selected region is not a MIDI region" end
  local offset = M.quarters(region:start():beats())
  local length = timing.q_end - timing.q_pos
  local notes = {}
  for n in ARDOUR.LuaAPI.note_list(mr:model()):iter() do
    local s = M.quarters(n:time()) - offset
    local e = s + M.quarters(n:length())
    s, e = math.max(s, 0), math.min(e, length)
    if e - s > 1e-6 then
      notes[#notes + 1] = {pitch = n:note(), start_beats = tidy(s), duration_beats = tidy(e - s),
                           velocity = math.max(1, n:velocity())}
    end
  end
  table.sort(notes, function(x, y)
    if x.start_beats ~= y.start_beats then return x.start_beats < y.start_beats end
    return x.pitch < y.pitch
  end)
  return {notes = json.array(notes), clip_start_beats = 0, clip_length_beats = tidy(length)}
end

--- The file and range an audio region plays. Ardour keeps one file per channel: the first
--  channel's file is sent (the engine takes one file).
function M.audio_context(session, region)
  local ar = region:to_audioregion()
  if ar:isnil() then return nil, "the selected region is not an audio region" end
  local fs = ar:source(0):to_filesource()
  if fs:isnil() then return nil, "the region's audio is not in a file" end
  local rate = session:nominal_sample_rate()
  local start = region:start():samples()
  return {path = fs:path(), start_seconds = start / rate, end_seconds = (start + region:length():samples()) / rate}
end

-- the CLI messenger ---------------------------------------------------------------------------

--- The words that start a command setting: an existing file stays one word, else split on spaces.
function M.words(cmd)
  if file_exists(cmd) then return {cmd} end
  local w = {}
  for x in cmd:gmatch("%S+") do w[#w + 1] = x end
  return w
end

--- The Python that runs our helper: the setting, else the one beside the CLI, else python3.
function M.python(settings)
  if settings.python and settings.python ~= "" then return M.words(settings.python) end
  local words = M.words(settings.cli or "")
  if #words > 1 and words[1]:lower():match("python[%d.]*[%w.]*$") then return {words[1]} end
  local dir = (words[1] or ""):match("^(.*[/\\])musicgen%-bridge[%w.]*$")
  if dir and file_exists(dir .. (is_windows() and "python.exe" or "python")) then
    return {dir .. (is_windows() and "python.exe" or "python")}
  end
  return {is_windows() and "python" or "python3"}
end

local function start_background(script)
  if os.forkexec then  -- the Ardour GUI: no shell, argv as given
    if is_windows() then os.forkexec("cmd.exe", "/d", "/c", script) else os.forkexec("/bin/sh", script) end
  elseif is_windows() then
    os.execute('start "" /B cmd.exe /d /s /c ""' .. script .. '""')
  else
    os.execute("/bin/sh " .. sh_quote(script) .. " > /dev/null 2>&1 &")
  end
end

--- Start `words` in the background; returns the job (files named from `base`).
function M.spawn(words, base)
  local job = {base = base, out = base .. ".stdout", err = base .. ".stderr", rc = base .. ".rc",
               pid = base .. ".pid", started = now()}
  local text
  if is_windows() then
    local q = {}
    for i, w in ipairs(words) do q[i] = cmd_quote(w) end
    job.script = base .. ".cmd"
    text = table.concat({"@echo off", "chcp 65001 > nul", table.concat(q, " ") .. " < nul > " .. cmd_quote(job.out) ..
      " 2> " .. cmd_quote(job.err), "echo %ERRORLEVEL% > " .. cmd_quote(job.rc .. ".part"),
      "move /Y " .. cmd_quote(job.rc .. ".part") .. " " .. cmd_quote(job.rc) .. " > nul", ""}, "\r\n")
  else
    local q = {}
    for i, w in ipairs(words) do q[i] = sh_quote(w) end
    job.script = base .. ".sh"
    text = table.concat({"#!/bin/sh", table.concat(q, " ") .. " > " .. sh_quote(job.out) .. " 2> " ..
      sh_quote(job.err) .. " < /dev/null &", "child=$!", "echo $child > " .. sh_quote(job.pid), "wait $child",
      "echo $? > " .. sh_quote(job.rc .. ".part"), "mv " .. sh_quote(job.rc .. ".part") .. " " .. sh_quote(job.rc), ""},
      "\n")
  end
  assert(write_file(job.script, text))
  start_background(job.script)
  return job
end

local function read_events(job)
  for line in (read_file(job.err) or ""):gmatch("[^\n]+") do
    if line:match("^%s*{") then
      local ok, ev = pcall(json.decode, line)
      if ok and type(ev) == "table" then
        if ev.event == "accepted" then job.job_id = ev.job_id end
        if ev.event == "progress" and tonumber(ev.fraction) then job.fraction = tonumber(ev.fraction) end
      end
    end
  end
end

local function parse_error(stderr, rc)
  if stderr:match("unrecognized arguments") or stderr:match("invalid choice") then
    return {code = "cli_too_old", message = "this musicgen-bridge is too old for these scripts; update it"}
  end
  local code, message
  for line in stderr:gmatch("[^\r\n]+") do
    local c, m = line:match("^musicgen%-bridge: ([%w_]+): (.*)$")
    if c and c ~= "error" then code, message = c, m end
  end
  if code then return {code = code, message = message} end
  if rc == 127 then return {code = "cli_missing", message = "the musicgen-bridge command was not found"} end
  return {code = "internal", message = stderr:sub(-600)}
end

local function terminate(job)
  local pid = (read_file(job.pid) or ""):match("%d+")
  if not pid then return end
  if os.forkexec then os.forkexec("/bin/kill", "-TERM", pid) else os.execute("kill -TERM " .. pid) end
end

--- Remove a job's helper files.
function M.cleanup(job)
  for _, p in ipairs({job.out, job.err, job.rc, job.pid, job.script}) do os.remove(p) end
end

--- Run one request to its end: returns the CLI's result, or nil and {code, message}.
--  progress(fraction or nil, text) is called each poll; when it returns true the job is cancelled.
function M.run(kind, content, base, settings, progress)
  local out = content._out
  content._out = nil
  assert(write_file(base .. ".request.json", json.encode(content)))
  local words = M.words(settings.cli)
  for _, w in ipairs({kind, "--request", base .. ".request.json", "--server", settings.server, "--json", "--out",
                      out}) do words[#words + 1] = w end
  local job = M.spawn(words, base)
  local timeout = tonumber(settings.start_timeout) or M.START_TIMEOUT_S
  while true do
    sleep(M.POLL_S)
    read_events(job)
    local rc_text = read_file(job.rc)
    if rc_text then
      local rc = tonumber(rc_text:match("%-?%d+")) or -1
      local out, err = read_file(job.out) or "", read_file(job.err) or ""
      if rc == 0 then
        local ok, result = pcall(json.decode, out:match("(%b{})%s*$") or "")
        M.cleanup(job)
        os.remove(base .. ".request.json")
        if ok and type(result) == "table" then return result end
        return nil, {code = "internal", message = "the CLI printed no JSON result: " .. out:sub(1, 300)}
      end
      return nil, parse_error(err, rc)
    end
    local elapsed = now() - job.started
    if not job.job_id and elapsed > timeout then
      terminate(job)
      local err = (read_file(job.err) or ""):gsub("%s+$", "")
      return nil, {code = "not_started", message = string.format("musicgen-bridge did not start the job within %g s.\n%s",
        timeout, err ~= "" and ("What it printed:\n" .. err:sub(-800)) or "It printed nothing (is the command's path right?)")}
    end
    if progress and progress(job.fraction, kind) then
      terminate(job)
      return nil, {code = "cancelled", message = "cancelled"}
    end
  end
end

-- placing results -----------------------------------------------------------------------------

--- A new stereo audio track named `name` (at the end of the track list).
function M.new_track(session, name)
  local tl = session:new_audio_track(2, 2, nil, 1, name, ARDOUR.PresentationInfo.max_order,
                                     ARDOUR.TrackMode.Normal, true)
  return tl:front()
end

--- Put `path` (exactly `length` samples at the session rate) on `track` at sample `start`.
--  In the GUI the file is imported onto the track (Editor:do_import). Headless (ardour7-lua has
--  no import), a region of exactly that span is made by bouncing the new, empty track, and our
--  helper writes the file's channels into the region's own files (mgb_fill.py).
function M.place(session, track, path, start, length, name, settings)
  if Editor and Editor.do_import then
    local files = C.StringVector()
    files:push_back(path)
    local ok = pcall(function()
      Editor:do_import(files, Editing.ImportDistinctFiles, Editing.ImportToTrack, ARDOUR.SrcQuality.SrcBest,
        ARDOUR.MidiTrackNameSource.SMFTrackName, ARDOUR.MidiTempoMapDisposition.SMFTempoIgnore,
        Temporal.timepos_t(start), ARDOUR.PluginInfo(), track, false)
    end)
    if ok then return true end
  end
  local region = track:bounce_range(start, start + length, ARDOUR.InterThreadInfo(), ARDOUR.LuaAPI.nil_proc(), false,
                                    name)
  if region:isnil() then return nil, "Ardour could not make a region on the new track" end
  local ar = region:to_audioregion()
  local words = M.python(settings)
  words[#words + 1] = M.dir .. "mgb_fill.py"
  words[#words + 1] = path
  for i = 0, ar:n_channels() - 1 do words[#words + 1] = ar:source(i):to_filesource():path() end
  local q = {}
  for i, w in ipairs(words) do q[i] = is_windows() and cmd_quote(w) or sh_quote(w) end
  local ok = os.execute(table.concat(q, " "))
  if not ok then return nil, "could not copy the result into the session (mgb_fill.py failed)" end
  local playlist = track:playlist()
  session:begin_reversible_command("musicgen-bridge: " .. name)
  playlist:to_stateful():clear_changes()
  playlist:add_region(region, Temporal.timepos_t(start), 1, false)
  session:add_stateful_diff_command(playlist:to_statefuldestructible())
  session:commit_reversible_command(nil)
  return true
end

-- the flows -----------------------------------------------------------------------------------

--- A file-name stem from a prompt: letters, digits and dashes.
function M.slug(text)
  local s = (text or ""):lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  s = s:sub(1, 40):gsub("%-+$", "")
  return s ~= "" and s or "clip"
end

--- The folder results go to ("musicgen-bridge" in the session folder) and a free base name there.
function M.unique_base(session, stem, format)
  local folder = session:path():gsub("[/\\]$", "") .. sep() .. "musicgen-bridge"
  M.mkdir(folder)
  local ext = M.EXTENSIONS[format] or ".wav"
  local base, n = folder .. sep() .. stem, 2
  while file_exists(base .. ext) or file_exists(base .. ".request.json") do
    base, n = folder .. sep() .. stem .. "-" .. n, n + 1
  end
  return base, base .. ext
end

--- Generate from a MIDI region: its notes (for a -melody model), tempo and meter from the tempo
--  map at the region; the result goes on a new track at the region's position, exactly `bars`
--  bars long. values: {prompt, bars, model}. Returns {track, path, start, length} or nil, err.
function M.generate(session, region, values, settings, progress)
  settings = settings or M.settings()
  local t = M.timing(region:position():samples(), region:length():samples())
  local bars = tonumber(values.bars) or t.bars
  local start = region:position():samples()
  local stop = M.sample_at_quarters(t.q_pos + bars * t.qpb)
  local change = M.tempo_change(start, stop)
  if change then return nil, {code = "tempo_change", message = "Inside the bars this would fill, " .. change ..
    ". MusicGen writes one steady tempo; move the region or use fewer bars."} end
  local model = (values.model and values.model ~= "") and values.model or settings.model
  local content = {prompt = values.prompt or "", model = model, bars = bars, bpm = t.bpm,
                   time_signature = string.format("%d/%d", t.num, t.denom), start_bar = t.start_bar,
                   sample_rate = session:nominal_sample_rate(), format = settings.format}
  if model:lower():find("melody", 1, true) then
    local melody, why = M.midi_melody(region, t)
    if not melody then return nil, {code = "invalid_field", message = why} end
    content.melody = melody
  end
  local base, out = M.unique_base(session, M.slug(values.prompt), settings.format)
  content._out = out
  local result, err = M.run("generate", content, base, settings, progress)
  if not result then return nil, err end
  local track = M.new_track(session, "MusicGen: " .. (values.prompt or ""))
  local ok, why = M.place(session, track, result.path, start, stop - start, M.slug(values.prompt), settings)
  if not ok then return nil, {code = "internal", message = why} end
  return {track = track, path = result.path, start = start, length = stop - start, result = result}
end

--- Continue an audio region: its last whole bars are the context; the new bars start on its last
--  bar line (the engine's start_bar) on a new track. values: {prompt, bars, context_bars, model}.
function M.continue(session, region, values, settings, progress)
  settings = settings or M.settings()
  local audio, why = M.audio_context(session, region)
  if not audio then return nil, {code = "invalid_field", message = why} end
  local t = M.timing(region:position():samples(), region:length():samples())
  local bars = tonumber(values.bars) or 4
  local change = M.tempo_change(t.position, M.sample_at_quarters(t.q_end + bars * t.qpb))
  if change then return nil, {code = "tempo_change", message = "Inside the item or the bars to add, " .. change ..
    "; continuation needs one steady tempo."} end
  local model = (values.model and values.model ~= "") and values.model or settings.model
  local content = {prompt = values.prompt or "", model = model, bars = bars, context_bars = tonumber(values.context_bars),
                   bpm = t.bpm, time_signature = string.format("%d/%d", t.num, t.denom), item_start_bar = t.start_bar,
                   sample_rate = session:nominal_sample_rate(), format = settings.format, audio = audio}
  local stem = (values.prompt and values.prompt ~= "") and M.slug(values.prompt) or "continuation"
  local base, out = M.unique_base(session, stem, settings.format)
  content._out = out
  local result, err = M.run("continue", content, base, settings, progress)
  if not result then return nil, err end
  local start_bar = tonumber(result.start_bar)
  local start = M.sample_of_bar(start_bar)
  local stop = M.sample_of_bar(start_bar + (tonumber(result.bars) or bars))
  local track = M.new_track(session, "MusicGen: " .. stem)
  local ok, why2 = M.place(session, track, result.path, start, stop - start, stem, settings)
  if not ok then return nil, {code = "internal", message = why2} end
  return {track = track, path = result.path, start = start, length = stop - start, result = result}
end

return M
