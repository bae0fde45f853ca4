-- The time map of the Reaper mock: tempo segments (linear ramps included) and meter regions.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local time_map = dofile("tests/daw/reaper_timemap.lua")
--   local tm = time_map({bpm = 100, num = 3, denom = 4, markers = {{qn = 15, bpm = 100, linear = true},
--                                                                  {qn = 27, bpm = 130}}})
--   tm.time(27), tm.qn(9.0), tm.bpm_at_qn(21), tm.measure_of_qn(16)
--
-- A "linear" marker ramps the tempo linearly in quarter notes to the next marker's tempo, so
-- time is an integral of 60/bpm: t = 60/k * ln(bpm(q)/bpm0) for a slope of k BPM per quarter note.

--- The time map of a scenario project: tempo segments (with ramps) and meter regions.
local function time_map(p)
  local segs = {{qn = 0, bpm = p.bpm or 120, num = p.num or 4, denom = p.denom or 4, linear = p.linear or false}}
  local markers = {}
  for _, m in ipairs(p.markers or {}) do markers[#markers + 1] = m end
  table.sort(markers, function(a, b) return a.qn < b.qn end)
  for _, m in ipairs(markers) do
    segs[#segs + 1] = {qn = m.qn, bpm = m.bpm, num = m.num, denom = m.denom, linear = m.linear or false, marker = m}
  end
  -- the tempo ramps (linearly in quarter notes) from a "linear" segment's bpm to the next one's
  local t = 0
  for i, sg in ipairs(segs) do
    local nxt = segs[i + 1]
    sg.slope = (sg.linear and nxt) and (nxt.bpm - sg.bpm) / (nxt.qn - sg.qn) or 0
    sg.t = t
    if nxt then
      local dq = nxt.qn - sg.qn
      t = t + (sg.slope == 0 and dq * 60 / sg.bpm or 60 / sg.slope * math.log((sg.bpm + sg.slope * dq) / sg.bpm))
    end
  end
  -- meter regions start at markers that set a time signature (on a bar line of the meter before)
  local regions = {{qn = 0, measure = 0, num = segs[1].num, denom = segs[1].denom}}
  for i = 2, #segs do
    local sg = segs[i]
    if sg.num and sg.num > 0 then
      local r = regions[#regions]
      local qpb = r.num * 4 / r.denom
      local bars = (sg.qn - r.qn) / qpb
      assert(math.abs(bars - math.floor(bars + 0.5)) < 1e-9, "mock: a meter marker must sit on a bar line")
      regions[#regions + 1] = {qn = sg.qn, measure = r.measure + math.floor(bars + 0.5), num = sg.num,
                               denom = sg.denom}
    end
  end
  local tm = {segs = segs, regions = regions}
  local function seg_at_qn(q)
    local k = 1
    for i, sg in ipairs(segs) do if sg.qn <= q + 1e-12 then k = i end end
    return segs[k]
  end
  local function seg_at_time(x)
    local k = 1
    for i, sg in ipairs(segs) do if sg.t <= x + 1e-12 then k = i end end
    return segs[k]
  end
  function tm.bpm_at_qn(q)
    local sg = seg_at_qn(q)
    return sg.bpm + sg.slope * (q - sg.qn)
  end
  function tm.time(q)
    local sg = seg_at_qn(q)
    local dq = q - sg.qn
    if sg.slope == 0 then return sg.t + dq * 60 / sg.bpm end
    return sg.t + 60 / sg.slope * math.log((sg.bpm + sg.slope * dq) / sg.bpm)
  end
  function tm.qn(x)
    local sg = seg_at_time(x)
    local dt = x - sg.t
    if sg.slope == 0 then return sg.qn + dt * sg.bpm / 60 end
    return sg.qn + (sg.bpm * math.exp(sg.slope * dt / 60) - sg.bpm) / sg.slope
  end
  function tm.region_of_qn(q)
    local k = 1
    for i, r in ipairs(regions) do if r.qn <= q + 1e-9 then k = i end end
    return regions[k]
  end
  function tm.region_of_measure(m)
    local k = 1
    for i, r in ipairs(regions) do if r.measure <= m then k = i end end
    return regions[k]
  end
  function tm.measure_of_qn(q)
    local r = tm.region_of_qn(q)
    return r.measure + math.floor((q - r.qn) / (r.num * 4 / r.denom) + 1e-9), r
  end
  return tm
end

return time_map
