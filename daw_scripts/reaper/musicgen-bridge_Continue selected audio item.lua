-- @description musicgen-bridge: Continue selected audio item
-- @about Sends the selected audio item's file as context (its last whole bars) and places the
--   continuation right after the item on the same track, in one undo step.
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local project, ui, place = mgb.project, mgb.ui, mgb.place

local function main()
  local item = mgb.selected_item("an audio item to continue")
  if not item then return end
  local audio, why = project.audio_context(item)
  if not audio then ui.message(why) return end
  if not audio.whole then
    -- the CLI takes whole files; gluing writes exactly what the item plays to a new file
    ui.message("The item plays only part of its file (" .. audio.path .. ").\n\n" ..
      "Glue it first (Item > Glue items, Ctrl+Alt+G) so the context is exactly what you hear, then run this again.")
    return
  end
  local item_span = project.item_span(item)
  local whole_bars = math.floor(item_span.bars_exact + 1e-6)
  if whole_bars < 1 then
    ui.message("The item is shorter than one bar; continuation needs at least one whole bar of context.")
    return
  end
  local values = ui.ask("musicgen-bridge: continue", {
    {key = "prompt", label = "Prompt (optional)", default = ""},
    {key = "bars", label = "Bars to add", default = 4},
    {key = "context_bars", label = "Context bars", default = math.min(4, whole_bars)},
    {key = "model", label = "Model", default = ui.get("model")},
  })
  if not values then return end
  local bars = ui.number(values, "bars", "Bars to add", 1, 1024, true)
  local context = bars and ui.number(values, "context_bars", "Context bars", 1, whole_bars, true)
  if not context then return end
  local model = values.model ~= "" and values.model or ui.get("model")
  local at = project.span(item_span.end_time, 0)  -- tempo and meter where the new audio starts

  local content = {prompt = values.prompt, model = model, bars = bars, context_bars = context, bpm = at.bpm,
                   time_signature = project.time_signature(at), start_bar = at.start_bar,
                   sample_rate = mgb.sample_rate(), format = ui.get("format"),
                   audio = {path = audio.path, start_seconds = audio.start_seconds, end_seconds = audio.end_seconds}}
  local stem = values.prompt ~= "" and values.prompt or (audio.path:match("([^/\\]+)%.%w+$") or "audio") .. "-cont"
  local base = mgb.unique_base(mgb.media_dir(), mgb.slug(stem))
  content._out = base .. ".wav"
  local track = reaper.GetMediaItem_Track(item)
  local length = project.bars_length(at, bars)

  mgb.run_job({title = "Continuing for " .. bars .. " bars", kind = "continue", content = content, base = base,
               on_done = function(result)
    place.undoable("musicgen-bridge: continue", function()
      place.item(track, at.position, length, place.result_paths(result),
                 values.prompt ~= "" and values.prompt or "continuation")
    end)
  end})
end

main()
