-- @description musicgen-bridge: Continue selected audio item
-- @version 0.1.0
-- @about Sends the part of the file the selected audio item plays (its last whole bars are the
--   context) and places the continuation on the same track from the item's last bar line, in
--   one undo step.
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local project, ui, place = mgb.project, mgb.ui, mgb.place

local function main()
  local item = mgb.selected_item("an audio item to continue")
  if not item then return end
  local audio, why = project.audio_context(item)
  if not audio then ui.message(why) return end
  local span = project.item_span(item)
  local change = project.tempo_change(span.position, span.end_time)
  if change then
    ui.message("Inside the item, " .. change .. "; continuation needs one steady tempo across it.\n\n" ..
      "Split the item at the change and select the part before the bars you want to add.")
    return
  end
  local whole_bars = project.whole_bars(span)
  if whole_bars < 1 then
    ui.message("The item holds no whole bar (bar line to bar line); continuation needs at least one bar of context.")
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
  -- the new bars start on the item's last bar line: they need the same steady tempo
  local last_line = math.floor(project.bar_at(span.end_time) + 1e-6)
  local change_after = project.tempo_change(span.position, project.time_of_bar(last_line + bars))
  if change_after then
    ui.message("In the " .. bars .. " bars after the item, " .. change_after .. ". MusicGen writes one steady " ..
      "tempo; add fewer bars or move the tempo change.")
    return
  end

  -- tempo and meter of the item; the engine finds the item's last bar line from its start bar
  local content = {prompt = values.prompt, model = model, bars = bars, context_bars = context, bpm = span.bpm,
                   time_signature = project.time_signature(span), item_start_bar = span.start_bar,
                   sample_rate = mgb.sample_rate(), format = ui.get("format"),
                   audio = {path = audio.path, start_seconds = audio.start_seconds, end_seconds = audio.end_seconds}}
  local stem = values.prompt ~= "" and values.prompt or (audio.path:match("([^/\\]+)%.%w+$") or "audio") .. "-cont"
  local base = mgb.unique_base(mgb.media_dir(), mgb.slug(stem))
  content._out = mgb.out_path(base, content.format)
  local track = reaper.GetMediaItem_Track(item)

  mgb.run_job({title = "Continuing for " .. bars .. " bars", kind = "continue", content = content, base = base,
               on_done = function(result)
    local start_bar = tonumber(result.start_bar)
    if not start_bar then error("the CLI's result has no start_bar; update musicgen-bridge", 0) end
    local t0 = project.time_of_bar(start_bar)
    local t1 = project.time_of_bar(start_bar + (tonumber(result.bars) or bars))
    place.undoable("musicgen-bridge: continue", function()
      place.item(track, t0, t1 - t0, place.result_paths(result), values.prompt ~= "" and values.prompt or "continuation")
    end)
  end})
end

main()
