-- musicgen-bridge for Ardour: what the editor actions share (read a region, talk to the CLI, place
-- the result). Works in the Ardour GUI and in the headless `ardour7-lua` (tests, batch use).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local mgb = dofile("/path/to/mgb_ardour.lua")
--   local timing = mgb.timing(region:position():samples(), region:length():samples())
--   local result, err = mgb.generate(Session, region, {prompt = "warm keys", bars = 4, model = "tiny"})
--
-- Talking to the CLI is mgb_messenger.lua's job (the Reaper scripts' design).

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end

local M = {dir = here(), START_TIMEOUT_S = 20}

local cli = dofile(M.dir .. "mgb_messenger.lua")
M.cli = cli
M.json = cli.json
local json = M.json
local is_windows, sep, file_exists, read_file, write_file = cli.is_windows, cli.sep, cli.file_exists, cli.read_file,
  cli.write_file
local sh_quote, cmd_quote, tidy = cli.sh_quote, cli.cmd_quote, cli.tidy
M.mkdir, M.words, M.python, M.run = cli.mkdir, cli.words, cli.python, cli.run

M.EXTENSIONS = {wav16 = ".wav", wav24 = ".wav", wav32f = ".wav", flac = ".flac", aiff = ".aiff"}
M.DEFAULTS = {cli = "musicgen-bridge", server = "tcp://127.0.0.1:5555", model = "facebook/musicgen-small",
              format = "wav24", python = "", start_timeout = M.START_TIMEOUT_S}

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
