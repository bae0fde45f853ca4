-- musicgen-bridge ReaScript support: read what the producer selected (timing, notes, audio).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local project = dofile(dir .. "project.lua")
--   local item = reaper.GetSelectedMediaItem(0, 0)
--   local span = project.item_span(item)      --> {position, length, start_bar, bars, bpm, ...}
--   local melody = project.midi_melody(item, span)
--
-- Positions use Reaper's own time map (TimeMap2_*), so tempo changes before the item are
-- respected; the request itself carries the tempo and meter found at the item's start.

local M = {}

local EPS_BEATS = 1e-6

--- Round to a millionth of a beat: time-map arithmetic leaves 3.0000000000000004 behind.
local function tidy(x)
  return math.floor(x * 1e6 + 0.5) / 1e6
end
M.tidy = tidy

--- Quarter notes per bar of a time signature (6/8 holds 3, 7/8 holds 3.5).
function M.quarters_per_bar(num, denom)
  return num * 4 / denom
end

--- The 1-based bar number (fractional inside a bar) of a project time.
function M.bar_at(time)
  local _, measure = reaper.TimeMap2_timeToBeats(0, time)
  local _, qn_start, qn_end = reaper.TimeMap_GetMeasureInfo(0, measure)
  local qn = reaper.TimeMap2_timeToQN(0, time)
  local frac = (qn - qn_start) / (qn_end - qn_start)
  if frac < EPS_BEATS then frac = 0 end
  if frac > 1 - EPS_BEATS then return measure + 2 end
  return tidy(measure + 1 + frac)
end

--- The project time of a 1-based (possibly fractional) bar number.
function M.time_of_bar(bar)
  local measure = math.floor(bar - 1 + EPS_BEATS)
  local _, qn_start, qn_end = reaper.TimeMap_GetMeasureInfo(0, measure)
  local qn = qn_start + (bar - 1 - measure) * (qn_end - qn_start)
  return reaper.TimeMap2_QNToTime(0, qn)
end

--- Timing facts of a time range: tempo and meter at its start, its bars.
--  Returns {position, length, end_time, start_bar, bars, bars_exact, bpm, num, denom, qn_start, qn_end}.
function M.span(position, length)
  local num, denom, bpm = reaper.TimeMap_GetTimeSigAtTime(0, position)
  local qn_start = reaper.TimeMap2_timeToQN(0, position)
  local qn_end = reaper.TimeMap2_timeToQN(0, position + length)
  local qpb = M.quarters_per_bar(num, denom)
  local bars_exact = (qn_end - qn_start) / qpb
  local bars = math.max(1, math.floor(bars_exact + 0.5))
  return {position = position, length = length, end_time = position + length, start_bar = M.bar_at(position),
          bars = bars, bars_exact = tidy(bars_exact), bpm = tidy(bpm), num = num, denom = denom,
          qn_start = qn_start, qn_end = qn_end}
end

function M.item_span(item)
  return M.span(reaper.GetMediaItemInfo_Value(item, "D_POSITION"), reaper.GetMediaItemInfo_Value(item, "D_LENGTH"))
end

--- Time from a span's start to ``bars`` whole bars later, through the project time map.
function M.bars_length(span, bars)
  local qn = span.qn_start + bars * M.quarters_per_bar(span.num, span.denom)
  return reaper.TimeMap2_QNToTime(0, qn) - span.position
end

--- Why the tempo or meter is not one steady value from time t0 to t1, or nil when it is. Reads
--  the markers' shapes, not just which marker is in effect: a marker with "gradual tempo change"
--  (lineartempo) ramps the tempo to the next marker's, so a ramp that began before t0 counts too.
--  MusicGen writes one steady tempo, so the actions refuse such a range (docs/daw-setup.md).
function M.tempo_change(t0, t1)
  local count = reaper.CountTempoTimeSigMarkers(0)
  local first = reaper.FindTempoTimeSigMarker(0, t0)  -- the marker in effect at t0 (-1: none)
  local prev
  if first < 0 then  -- before the first marker: the project's own tempo and meter
    local num, denom, bpm = reaper.TimeMap_GetTimeSigAtTime(0, t0)
    prev = {bpm = bpm, linear = false, num = num, denom = denom}
  end
  for i = math.max(first, 0), count - 1 do
    local ok, timepos, _, _, bpm, num, denom, linear = reaper.GetTempoTimeSigMarker(0, i)
    if not ok then break end
    if timepos >= t1 - 1e-9 then
      if prev and prev.linear and math.abs(bpm - prev.bpm) > 1e-9 then
        return string.format("the tempo ramps from %g to %g BPM", prev.bpm, bpm)
      end
      break
    end
    if timepos > t0 + 1e-9 and prev then
      if prev.linear and math.abs(bpm - prev.bpm) > 1e-9 then
        return string.format("the tempo ramps from %g to %g BPM", prev.bpm, bpm)
      end
      if math.abs(bpm - prev.bpm) > 1e-9 then
        return string.format("the tempo changes from %g to %g BPM", prev.bpm, bpm)
      end
      if num > 0 and (num ~= prev.num or denom ~= prev.denom) then
        return string.format("the time signature changes to %d/%d", num, denom)
      end
    end
    local n, d = num, denom
    if n <= 0 and prev then n, d = prev.num, prev.denom end  -- 0: the meter carries on
    prev = {bpm = bpm, linear = linear, num = n, denom = d}
  end
  return nil
end

--- True when no tempo or time-signature change (a ramp included) lies inside the span.
function M.steady(span)
  return M.tempo_change(span.position, span.end_time) == nil
end

--- Whole bars lying inside a span (from the first bar line in it to the last one).
function M.whole_bars(span)
  local first, last = M.bar_at(span.position), M.bar_at(span.end_time)
  return math.max(0, math.floor(last + EPS_BEATS) - math.ceil(first - EPS_BEATS))
end

function M.time_signature(span)
  return string.format("%d/%d", span.num, span.denom)
end

--- The notes of a MIDI item in quarter-note beats from the item's start (the protocol's melody).
--  Notes wholly outside the item are left out; notes crossing its edges are cut at them.
function M.midi_melody(item, span)
  local take = reaper.GetActiveTake(item)
  if not take or not reaper.TakeIsMIDI(take) then return nil, "the selected item is not a MIDI item" end
  local length_beats = span.qn_end - span.qn_start
  local _, note_count = reaper.MIDI_CountEvts(take)
  local notes = {}
  for i = 0, note_count - 1 do
    local ok, _, muted, start_ppq, end_ppq, _, pitch, velocity = reaper.MIDI_GetNote(take, i)
    if ok then
      local s = reaper.MIDI_GetProjQNFromPPQPos(take, start_ppq) - span.qn_start
      local e = reaper.MIDI_GetProjQNFromPPQPos(take, end_ppq) - span.qn_start
      s, e = math.max(s, 0), math.min(e, length_beats)
      if e - s > EPS_BEATS then
        notes[#notes + 1] = {pitch = pitch, start_beats = tidy(s), duration_beats = tidy(e - s),
                             velocity = math.max(1, velocity), muted = muted and true or false}
      end
    end
  end
  table.sort(notes, function(a, b)
    if a.start_beats ~= b.start_beats then return a.start_beats < b.start_beats end
    return a.pitch < b.pitch
  end)
  return {notes = notes, clip_start_beats = 0, clip_length_beats = tidy(length_beats)}
end

--- The audio file an item plays and the part of it that is heard, in seconds of the file.
--  Returns {path, start_seconds, end_seconds, source_length} or nil, reason. The range is exact
--  only when the take plays its file straight: rate 1, no stretch markers, no looping past its end.
function M.audio_context(item)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, "The selected item has no take." end
  if reaper.TakeIsMIDI(take) then return nil, "The selected item is MIDI; select an audio item." end
  local source = reaper.GetMediaItemTake_Source(take)
  local path = source and reaper.GetMediaSourceFileName(source) or ""
  if path == "" then return nil, "The selected item has no audio file (is it a section or a subproject?)." end
  local rate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
  if math.abs(rate - 1) > 1e-9 then
    return nil, string.format("The item plays at rate %g; continuation needs rate 1.0.\n\n" ..
      "Set the take's playback rate to 1.0, or glue the item (Item > Glue items) so its audio is " ..
      "rendered at the project tempo, then run this again.", rate)
  end
  if reaper.GetTakeNumStretchMarkers(take) > 0 then
    return nil, "The item has stretch markers; glue it first (Item > Glue items) so the context is what you hear."
  end
  local offset = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
  local length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  local source_length = reaper.GetMediaSourceLength(source)
  -- a millisecond of slack: Reaper stores these as doubles that rarely meet the file's end exactly
  if offset < -1e-3 or offset + length > source_length + 1e-3 then
    return nil, "The item plays past the edges of its file (it loops or has silence added); glue it first " ..
      "(Item > Glue items) so the context is what you hear."
  end
  return {path = path, start_seconds = math.max(0, offset), end_seconds = math.min(offset + length, source_length),
          source_length = source_length}
end

return M
