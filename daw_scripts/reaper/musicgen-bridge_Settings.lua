-- @description musicgen-bridge: Settings
-- @version 0.1.0
-- @about Where the musicgen-bridge command is, which engine to talk to, the default model and file format.
-- SPDX-License-Identifier: GPL-3.0-or-later

local script_dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])") or ""
local mgb = dofile(script_dir .. "mgb/init.lua")
local ui = mgb.ui

local fields = {
  {key = "cli", label = "musicgen-bridge command (full path)"},
  {key = "server", label = "Engine address"},
  {key = "model", label = "Default model"},
  {key = "format", label = "File format (wav16/wav24/wav32f/flac/aiff)"},
  {key = "python", label = "Python for live mode (empty: beside the command)"},
}
local labels, values = {}, {}
for i, f in ipairs(fields) do
  labels[i] = f.label
  values[i] = ui.get(f.key)
end
local ok, csv = reaper.GetUserInputs("musicgen-bridge: settings", #fields,
                                     table.concat(labels, ",") .. ",separator=\n,extrawidth=300",
                                     table.concat(values, "\n"))
if ok then
  local i = 1
  for part in (csv .. "\n"):gmatch("(.-)\n") do
    if fields[i] then ui.set(fields[i].key, part:match("^%s*(.-)%s*$")) end
    i = i + 1
  end
end

-- a script that defers adds no "ReaScript: Run" undo point: this one changed nothing undoable
reaper.defer(function() end)
