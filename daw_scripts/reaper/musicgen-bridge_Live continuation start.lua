-- @description musicgen-bridge: Live continuation start
-- @version 0.1.0
-- @about Starts a live session: the engine keeps a few bars generated ahead of the play cursor
--   and each finished window lands at its bar on a new track. Stop it with
--   "musicgen-bridge: Live continuation stop" (or Esc in its window).
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local live = dofile(script_dir .. "mgb/live.lua")
local project, ui, place = mgb.project, mgb.ui, mgb.place

local function main()
  local values = ui.ask("musicgen-bridge: live", {
    {key = "live_prompt", label = "Prompt", default = ""},
    {key = "model", label = "Model", default = ui.get("model")},
    {key = "window_bars", label = "Bars per window", default = 4},
    {key = "context_bars", label = "Context bars", default = 4},
    {key = "ahead_bars", label = "Bars ahead of the cursor", default = 4},
  })
  if not values then return end
  local window = ui.number(values, "window_bars", "Bars per window", 1, 64, true)
  local context = window and ui.number(values, "context_bars", "Context bars", 1, 64, true)
  local ahead = context and ui.number(values, "ahead_bars", "Bars ahead", 1, 64, true)
  if not ahead then return end
  if values.live_prompt == "" then ui.message("Type a prompt for the live session.") return end
  -- start on the next whole bar after the play cursor (or at the edit cursor's bar when stopped)
  local playing = (reaper.GetPlayState() & 1) == 1
  local now = playing and reaper.GetPlayPosition() or reaper.GetCursorPosition()
  local bar = project.bar_at(now)
  local start_bar = (playing or bar ~= math.floor(bar)) and math.floor(bar) + 1 or bar
  local span = project.span(project.time_of_bar(start_bar), 0)
  local model = values.model ~= "" and values.model or ui.get("model")
  local content = {prompt = values.live_prompt, model = model, bpm = span.bpm,
                   time_signature = project.time_signature(span), window_bars = window, context_bars = context,
                   ahead_bars = ahead, start_bar = start_bar, sample_rate = mgb.sample_rate(),
                   format = ui.get("format")}
  local out_dir = mgb.media_dir()
  local base = mgb.unique_base(out_dir, "live-" .. mgb.slug(values.live_prompt))
  local selected = reaper.GetSelectedTrack(0, 0)
  local track
  place.undoable("musicgen-bridge: live track", function()
    track = place.new_track_below(selected, "MusicGen live: " .. values.live_prompt)
  end)
  live.start({content = content, track = track, base = base, out_dir = out_dir, label = values.live_prompt,
              relay = script_dir .. "mgb_live_relay.py", start_timeout = mgb.start_timeout()})
end

main()
