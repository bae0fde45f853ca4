-- @description musicgen-bridge: More like this (selected audio item)
-- @version 0.1.0
-- @about Sends the part of the file the selected audio item plays as a style clip (MusicGen-Style:
--   new music in the style of a few seconds of it, with or without a prompt) and puts the result
--   (N takes for N variations) on a new track under the item's track, at the item's position, in
--   one undo step.
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local project, ui, place = mgb.project, mgb.ui, mgb.place

-- the models with a style conditioner (docs/models.md); the dialog's model field starts here
local STYLE_MODEL = "facebook/musicgen-style"

local function main()
  local item = mgb.selected_item("an audio item (its sound is the style to follow)")
  if not item then return end
  local audio, why = project.audio_context(item)
  -- the checks are shared with Continue: the style must be what the producer hears too
  if not audio then ui.message((why:gsub("continuation needs", "More like this needs"))) return end
  local span = project.item_span(item)
  local values = ui.ask("musicgen-bridge: more like this", {
    {key = "style_prompt", label = "Prompt (optional)", default = ""},
    {key = "bars", label = "Bars", default = span.bars, remember = false},
    {key = "style_model", label = "Model (with style)", default = STYLE_MODEL},
    {key = "takes", label = "Takes (variations)", default = 1},
  })
  if not values then return end
  local bars = ui.number(values, "bars", "Bars", 1, 1024, true)
  local takes = bars and ui.number(values, "takes", "Takes", 1, 8, true)
  if not takes then return end
  local model = values.style_model ~= "" and values.style_model or STYLE_MODEL
  local length = project.bars_length(span, bars)
  local change = project.tempo_change(span.position, span.position + length)
  if change then
    ui.message("Inside the " .. bars .. " bars this would fill, " .. change .. ". MusicGen writes one steady " ..
      "tempo, so the clip would drift off the grid.\n\nMove the item, use fewer bars, or remove the change " ..
      "(for a ramp: untick \"Gradual tempo change\" on the tempo marker).")
    return
  end
  local name = (audio.path:match("([^/\\]+)%.%w+$") or "audio")
  local label = values.style_prompt ~= "" and values.style_prompt or ("like " .. name)

  -- the engine takes its excerpt from the middle of the range, on a bar line of this tempo
  local content = {prompt = values.style_prompt, model = model, bars = bars, bpm = span.bpm,
                   time_signature = project.time_signature(span), start_bar = span.start_bar,
                   sample_rate = mgb.sample_rate(), format = ui.get("format"), variations = takes,
                   style = {path = audio.path, start_seconds = audio.start_seconds, end_seconds = audio.end_seconds}}
  local base = mgb.unique_base(mgb.media_dir(), mgb.slug(label))
  content._out = mgb.out_path(base, content.format)
  local source_track = reaper.GetMediaItem_Track(item)

  mgb.run_job({title = "More like " .. name .. ": " .. bars .. " bars", kind = "generate", content = content,
               base = base, on_done = function(result)
    local paths = place.result_paths(result)
    place.undoable("musicgen-bridge: more like \"" .. name .. "\"", function()
      local track = place.new_track_below(source_track, "MusicGen: " .. label)
      place.item(track, span.position, length, paths, label)
    end)
  end})
end

main()
