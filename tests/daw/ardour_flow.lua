-- Drive the Ardour scripts with the real Ardour session API (run by ardour7-lua, headless).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   MGB_SESSION_DIR=... MGB_CLI=... MGB_SERVER=... MGB_PYTHON=... MGB_OUT=result.json \
--     ardour7-lua tests/daw/ardour_flow.lua
--
-- Creates a 48 kHz session in 3/4 at 100 BPM that slows to 90 BPM at bar 3, a MIDI track "Keys"
-- with a 4-bar region at bar 3 holding a C-major line, runs "generate" from that region (the
-- flow the editor action runs) against a running engine, saves, and writes what it did as JSON.

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local mgb = dofile(here .. "../../daw_scripts/ardour/mgb_ardour.lua")
local json = mgb.json
local env = os.getenv

assert(AudioEngine:set_backend("None (Dummy)", "", ""))
AudioEngine:start(false)
local dir = env("MGB_SESSION_DIR")
assert(create_session(dir, "song", 48000), "could not create the session")

local tpb = Temporal.ticks_per_beat
local tm = Temporal.TempoMap.fetch_writable()
tm:set_tempo(Temporal.Tempo(100, 100, 4), Temporal.timepos_t(0))
tm:set_meter(Temporal.Meter(3, 4), Temporal.timepos_t(0))
tm:set_tempo(Temporal.Tempo(90, 90, 4), Temporal.timepos_t.from_ticks(tpb * 6))  -- bar 3
Temporal.TempoMap.update(tm)

local bar3 = mgb.sample_of_bar(3)
local bar7 = mgb.sample_of_bar(7)
local tracks = Session:new_midi_track(ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1),
  ARDOUR.ChanCount(ARDOUR.DataType("audio"), 2), true, ARDOUR.PluginInfo(), nil, nil, 1, "Keys",
  ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
local keys = tracks:front()
-- an empty MIDI region of bars 3-6 (bouncing the empty track makes one), then its notes
local made = keys:bounce_range(bar3, bar7, ARDOUR.InterThreadInfo(), ARDOUR.LuaAPI.nil_proc(), false, "line")
keys:playlist():add_region(made, Temporal.timepos_t(bar3), 1, false)
local model = made:to_midiregion():model()
local cmd = model:new_note_diff_command("notes")
local pitches = {60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65}
for i, p in ipairs(pitches) do
  cmd:add(ARDOUR.LuaAPI.new_noteptr(1, Temporal.Beats(i - 1, 0), Temporal.Beats(0, tpb // 2), p, 90))
end
model:apply_command(Session, cmd)
local region
for r in keys:playlist():region_list():iter() do region = r end

local settings = {cli = env("MGB_CLI"), server = env("MGB_SERVER"), python = env("MGB_PYTHON"), format = "wav24",
                  model = "tiny", start_timeout = 60}
local fractions = {}
local result, err = mgb.generate(Session, region, {prompt = "Tom's keys (final) — ü", bars = 2, model = "tiny-melody"},
  settings, function(f) fractions[#fractions + 1] = f or -1 return false end)
local report = {bar3 = bar3, bar7 = bar7, region_position = region:position():samples(),
                region_length = region:length():samples(), timing = mgb.timing(region:position():samples(),
                region:length():samples()), polls = #fractions}
if result then
  report.path, report.start, report.length = result.path, result.start, result.length
  report.track = result.track:name()
else
  report.error = err
end
report.ramp = mgb.tempo_change(0, bar7) or json.null  -- 100 -> 90 BPM at bar 3: a change

-- then the editor action "Continue audio region" on the generated region, as Ardour's GUI runs
-- it: Editor's selection and LuaDialog are stood in for (ardour7-lua has no GUI)
if result then
  local generated
  for r in result.track:playlist():region_list():iter() do generated = r end
  local messages = {}
  function ardour(_) end
  Editor = {get_selection = function()
    return {regions = {regionlist = function()
      return {iter = function()
        local done = false
        return function() if done then return nil end done = true return generated end
      end}
    end}}
  end}
  LuaDialog = {MessageType = {Info = 0, Error = 1}, ButtonType = {Close = 0},
    Dialog = function(_, fields)
      report.continue_fields = #fields
      return {run = function() return {prompt = "", bars = 1, context_bars = 1, model = "tiny"} end}
    end,
    ProgressWindow = function() return {progress = function() return false end, done = function() end} end,
    Message = function(_, text) return {run = function() messages[#messages + 1] = text end} end}
  assert(mgb.save_settings(settings))  -- what the Settings action stores; the action reads it
  dofile(here .. "../../daw_scripts/ardour/musicgen-bridge_continue.lua")
  factory()()
  report.continue_messages = json.array(messages)
end
assert(Session:save_state("", false, false, false, false, false) == 0, "could not save")
local fh = assert(io.open(env("MGB_OUT"), "wb"))
fh:write(json.encode(report))
fh:close()
