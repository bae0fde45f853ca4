-- musicgen-bridge ReaScript support: put finished files on the timeline.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local place = dofile(dir .. "place.lua")
--   place.undoable("musicgen-bridge: generate", function()
--     local track = place.new_track_below(source_track, "MusicGen: lofi")
--     place.item(track, position, length, {"/media/take1.wav", "/media/take2.wav"}, "lofi")
--   end)

local M = {}

local ACTION_BUILD_MISSING_PEAKS = 40047

--- Run fn inside one undo point (one Ctrl+Z removes everything it did).
function M.undoable(description, fn)
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  local ok, err = pcall(fn)
  reaper.PreventUIRefresh(-1)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(description, -1)
  if not ok then error(err, 0) end
  return err
end

--- A new track right under `track` (or at the end of the project when track is nil).
function M.new_track_below(track, name)
  local index = track and math.floor(reaper.GetMediaTrackInfo_Value(track, "IP_TRACKNUMBER")) or
    reaper.CountTracks(0)
  reaper.InsertTrackAtIndex(index, true)
  local new = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(new, "P_NAME", name, true)
  return new
end

--- One item at `position` lasting `length` seconds whose takes play `paths` (first take active).
function M.item(track, position, length, paths, label)
  local item = reaper.AddMediaItemToTrack(track)
  reaper.SetMediaItemInfo_Value(item, "D_POSITION", position)
  reaper.SetMediaItemInfo_Value(item, "D_LENGTH", length)
  reaper.SetMediaItemInfo_Value(item, "B_LOOPSRC", 0)
  local first
  for i, path in ipairs(paths) do
    local take = reaper.AddTakeToMediaItem(item)
    local source = reaper.PCM_Source_CreateFromFile(path)
    reaper.SetMediaItemTake_Source(take, source)
    local name = #paths > 1 and string.format("%s (take %d)", label, i) or label
    reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
    first = first or take
  end
  if first then reaper.SetActiveTake(first) end
  reaper.Main_OnCommand(ACTION_BUILD_MISSING_PEAKS, 0)
  return item
end

--- The paths of every take in a CLI result ({path, takes = {{path}, ...}}).
function M.result_paths(result)
  local paths = {}
  if type(result.takes) == "table" and #result.takes > 0 then
    for _, take in ipairs(result.takes) do paths[#paths + 1] = take.path end
  elseif result.path then
    paths[1] = result.path
  end
  return paths
end

--- A track's name, or "" when it has none.
function M.track_name(track)
  local _, name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
  return name or ""
end

return M
