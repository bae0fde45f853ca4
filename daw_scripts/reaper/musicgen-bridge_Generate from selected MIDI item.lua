-- @description musicgen-bridge: Generate from selected MIDI item
-- @version 0.1.0
-- @about Reads the selected MIDI item (notes, tempo, meter, position, length in bars), asks for a
--   prompt, runs `musicgen-bridge generate` in the background and puts the result (N takes for N
--   variations) on a new track under the item's track, at the item's position, in one undo step.
--   The notes become the melody when the model can follow one (a "-melody" model).
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local project, ui, place, json = mgb.project, mgb.ui, mgb.place, mgb.json

local function main()
  local item = mgb.selected_item("a MIDI item (its notes, position and length are used)")
  if not item then return end
  local take = reaper.GetActiveTake(item)
  if not take or not reaper.TakeIsMIDI(take) then
    ui.message("The selected item is not a MIDI item. Select a MIDI item; its notes, position and length are used.")
    return
  end
  local span = project.item_span(item)
  local values = ui.ask("musicgen-bridge: generate", {
    {key = "prompt", label = "Prompt", default = ""},
    {key = "bars", label = "Bars", default = span.bars, remember = false},
    {key = "model", label = "Model", default = ui.get("model")},
    {key = "takes", label = "Takes (variations)", default = 1},
  })
  if not values then return end
  local bars = ui.number(values, "bars", "Bars", 1, 1024, true)
  local takes = bars and ui.number(values, "takes", "Takes", 1, 8, true)
  if not takes then return end
  if values.prompt == "" then
    ui.message("Type a prompt (for example: warm lofi keys, vinyl crackle).")
    return
  end
  local model = values.model ~= "" and values.model or ui.get("model")
  local length = project.bars_length(span, bars)
  local change = project.tempo_change(span.position, span.position + length)
  if change then
    ui.message("Inside the " .. bars .. " bars this would fill, " .. change .. ". MusicGen writes one steady " ..
      "tempo, so the clip would drift off the grid.\n\nMove the item, use fewer bars, or remove the change " ..
      "(for a ramp: untick \"Gradual tempo change\" on the tempo marker).")
    return
  end

  local content = {prompt = values.prompt, model = model, bars = bars, bpm = span.bpm,
                   time_signature = project.time_signature(span), start_bar = span.start_bar,
                   sample_rate = mgb.sample_rate(), format = ui.get("format"), variations = takes}
  if model:lower():find("melody", 1, true) then
    local melody, why = project.midi_melody(item, span)
    if not melody then ui.message(why) return end
    melody.notes = json.array(melody.notes)
    content.melody = melody
  end
  local base = mgb.unique_base(mgb.media_dir(), mgb.slug(values.prompt))
  content._out = mgb.out_path(base, content.format)
  local source_track = reaper.GetMediaItem_Track(item)

  mgb.run_job({title = "Generating " .. bars .. " bars", kind = "generate", content = content, base = base,
               on_done = function(result)
    local paths = place.result_paths(result)
    place.undoable("musicgen-bridge: generate \"" .. values.prompt .. "\"", function()
      local track = place.new_track_below(source_track, "MusicGen: " .. values.prompt)
      place.item(track, span.position, length, paths, values.prompt)
    end)
  end})
end

main()
