-- @description musicgen-bridge: Generate sound effect
-- @version 0.1.0
-- @about Asks for a sound (a prompt such as "glass shatters, short reverb tail"), a length in bars
--   ("2") or seconds ("1.5 s") and where to put it ("cursor", "bar 9" or a time such as "12.5 s"),
--   runs `musicgen-bridge generate` with a sound-effect model (AudioGen) in the background and puts
--   the result on a new "SFX" track under the selected track, at that place, in one undo step.
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local project, ui, place = mgb.project, mgb.ui, mgb.place

local SFX_MODEL = "facebook/audiogen-medium"

--- "2", "2 bars" -> {bars = 2}; "1.5 s", "1.5s", "1.5 sec" -> {seconds = 1.5}; else nil.
local function parse_length(text)
  local n, unit = text:lower():match("^([%d%.]+)%s*(%a*)$")
  n = tonumber(n)
  if not n or n <= 0 then return nil end
  if unit == "" or unit == "bar" or unit == "bars" or unit == "b" then
    if n ~= math.floor(n) or n > 1024 then return nil end
    return {bars = math.floor(n)}
  end
  if (unit == "s" or unit == "sec" or unit == "seconds") and n <= 600 then return {seconds = n} end
  return nil
end

--- "cursor" (or empty) -> the edit cursor; "bar 9" -> that bar line; "12.5 s" -> that time.
local function parse_place(text)
  local t = text:lower()
  if t == "" or t == "cursor" then return reaper.GetCursorPosition() end
  local bar = tonumber(t:match("^bar%s*([%d%.]+)$"))
  if bar and bar >= 1 then return project.time_of_bar(bar) end
  local s = tonumber(t:match("^([%d%.]+)%s*s?e?c?$"))
  if s then return s end
  return nil
end

local function main()
  local values = ui.ask("musicgen-bridge: sound effect", {
    {key = "sfx_prompt", label = "Sound (prompt)", default = ""},
    {key = "sfx_length", label = "Length (bars, or seconds: 1.5 s)", default = "1"},
    {key = "sfx_place", label = "Place at (cursor, bar N, or N s)", default = "cursor"},
    {key = "sfx_model", label = "Model", default = SFX_MODEL},
    {key = "takes", label = "Takes (variations)", default = 1},
  })
  if not values then return end
  if values.sfx_prompt == "" then
    ui.message("Describe the sound (for example: door slam, large hall; rain on a tin roof).")
    return
  end
  local length = parse_length(values.sfx_length)
  if not length then
    ui.message("Length must be whole bars (\"2\") or seconds (\"1.5 s\", at most 600 s); got \"" ..
               values.sfx_length .. "\".")
    return
  end
  local position = parse_place(values.sfx_place)
  if not position then
    ui.message("Place at must be \"cursor\", \"bar N\" (bar 1 is the project start) or a time such as \"12.5 s\"; got \"" ..
               values.sfx_place .. "\".")
    return
  end
  local takes = ui.number(values, "takes", "Takes", 1, 8, true)
  if not takes then return end
  local model = values.sfx_model ~= "" and values.sfx_model or SFX_MODEL
  local span = project.span(position, 0)  -- tempo and meter where the sound lands
  local content = {prompt = values.sfx_prompt, model = model, bars = length.bars, seconds = length.seconds,
                   bpm = span.bpm, time_signature = project.time_signature(span), start_bar = span.start_bar,
                   sample_rate = mgb.sample_rate(), format = ui.get("format"), variations = takes}
  local base = mgb.unique_base(mgb.media_dir(), mgb.slug(values.sfx_prompt))
  content._out = base .. ".wav"
  local below = reaper.GetSelectedTrack(0, 0)
  local seconds = length.seconds or project.bars_length(span, length.bars)
  local what = length.bars and (length.bars .. " bars") or (length.seconds .. " s")

  mgb.run_job({title = "Sound effect, " .. what, kind = "generate", content = content, base = base,
               on_done = function(result)
    local paths = place.result_paths(result)
    place.undoable("musicgen-bridge: sound effect \"" .. values.sfx_prompt .. "\"", function()
      local track = place.new_track_below(below, "SFX: " .. values.sfx_prompt)
      place.item(track, position, seconds, paths, values.sfx_prompt)
    end)
  end})
end

main()
