-- Run ReaScripts under lua5.4 against the mock reaper table and write what happened as JSON.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   lua5.4 tests/daw/run_reaper.lua SCENARIO.json OUT.json
--
-- SCENARIO: {project = {...}, ext = {...}, inputs = {{...}},
--            gfx = {cancel_after_ticks = N} or {cancel_when_text = LUA_PATTERN},
--            steps = {{script = PATH}, {pump = SECONDS}, {play = {playing = true, position = 0}},
--                     {pump = MAX_SECONDS, until_items = {track = NAME, count = K}}, -- ends once the
--                     {os = "Win64"}}, os = "Win64" (from the start)}      -- track NAME holds K items

local here = arg[0]:match("^(.*[/\\])") or "./"
local json = dofile(here .. "../../daw_scripts/reaper/mgb/json.lua")
local mock = dofile(here .. "reaper_mock.lua")

local function read(path)
  local fh = assert(io.open(path, "rb"))
  local data = fh:read("a")
  fh:close()
  return data
end

local scenario = json.decode(read(arg[1]))
local state = mock.install(scenario)
local errors = {}
for _, step in ipairs(scenario.steps or {}) do
  if step.script then
    state.script = step.script
    local deferred = #state.defer
    state.script_undo = false
    local ok, err = pcall(dofile, step.script)
    if not ok then errors[#errors + 1] = tostring(err) end
    -- REAPER adds a "ReaScript: Run" undo point for a script that ends without deferring and
    -- without an undo block of its own
    if #state.defer == deferred and not state.script_undo then state.undo[#state.undo + 1] = "ReaScript: Run" end
  elseif step.pump then
    local done
    if step.until_items then
      local want = step.until_items
      done = function(st)
        for _, track in ipairs(st.tracks) do
          if track.name == want.track and #track.items >= want.count then return true end
        end
        return false
      end
    end
    local ok, err = pcall(mock.pump, state, step.pump, step.tick, nil, done)
    if not ok then errors[#errors + 1] = tostring(err) end
  elseif step.play then
    state.play.playing = step.play.playing and true or false
    state.play.position = step.play.position or state.play.position
  elseif step.os then
    state.os = step.os  -- what reaper.GetOS() answers from now on
  elseif step.atexit then
    for _, fn in ipairs(state.atexit) do pcall(fn) end
  end
end

state.restore_io()
local snap = mock.snapshot(state)
snap.errors = errors
-- empty Lua tables would be written as {}; lists must stay lists
local function arrays(t, keys)
  for _, k in ipairs(keys) do t[k] = json.array(t[k]) end
end
arrays(snap, {"tracks", "calls", "messages", "exec", "dialogs", "errors", "texts", "undo"})
for _, track in ipairs(snap.tracks) do
  track.items = json.array(track.items)
  for _, item in ipairs(track.items) do item.takes = json.array(item.takes) end
end
for _, call in ipairs(snap.calls) do call.args = json.array(call.args) end
local fh = assert(io.open(arg[2], "wb"))
fh:write(json.encode(snap))
fh:close()
