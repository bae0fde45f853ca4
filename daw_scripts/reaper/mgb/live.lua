-- musicgen-bridge ReaScript support: a live session that follows the play cursor.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- The relay helper (mgb_live_relay.py, run with the engine's Python) holds the engine session;
-- this loop writes the transport to a file ~10 times a second and places each window the relay
-- reports, at its bar, on the live track (one undo point per window).
--
--   live.start({content = live_start_content, track = track, base = base, relay = path})
--   -- the "Live stop" action (or Esc in the window) ends it

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end
local dir = here()
local json = dofile(dir .. "json.lua")
local jobs = dofile(dir .. "job.lua")
local ui = dofile(dir .. "ui.lua")
local place = dofile(dir .. "place.lua")
local project = dofile(dir .. "project.lua")

local M = {TRANSPORT_INTERVAL_S = 0.1, STOP_GRACE_S = 5}

--- The transport as the protocol wants it: quarter-note beats from bar 1, tempo there, playing.
function M.transport()
  local playing = (reaper.GetPlayState() & 1) == 1
  local time = playing and reaper.GetPlayPosition() or reaper.GetCursorPosition()
  local _, _, bpm = reaper.TimeMap_GetTimeSigAtTime(0, time)
  return {beat = project.tidy(reaper.TimeMap2_timeToQN(0, time)), bpm = project.tidy(bpm), playing = playing}
end

--- New complete lines of a growing file since byte `offset`; returns lines, new offset.
function M.read_lines(path, offset)
  local fh = io.open(path, "rb")
  if not fh then return {}, offset end
  fh:seek("set", offset)
  local data = fh:read("a") or ""
  fh:close()
  local lines, consumed = {}, 0
  for line, stop in data:gmatch("([^\n]*)\n()") do
    lines[#lines + 1] = line
    consumed = stop - 1
  end
  return lines, offset + consumed
end

--- Put one window's file at its bar on the live track.
function M.place_window(track, ev, label)
  local t0 = project.time_of_bar(ev.start_bar)
  local t1 = project.time_of_bar(ev.start_bar + ev.bars)
  place.undoable(string.format("musicgen-bridge: live window %d", ev.index or 0), function()
    place.item(track, t0, t1 - t0, {ev.path}, string.format("%s (window %d)", label, ev.index or 0))
  end)
end

function M.start(opts)
  local settings = ui.settings()
  local base = opts.base
  local files = {request = base .. ".live.json", transport = base .. ".transport.json",
                 events = base .. ".events.jsonl", stop = base .. ".stop"}
  jobs.write_file(files.request, json.encode(opts.content))
  os.remove(files.stop)
  reaper.SetExtState(ui.SECTION, "live_stop", "", false)
  local s = {placed = 0, offset = 0, last_write = -1, started = reaper.time_precise(), stopping = nil}

  -- never raises: a write the relay blocks (Windows, while it reads) is retried on the next tick
  local function write_transport()
    local ok, t = pcall(M.transport)
    if not ok then return s.transport end
    t.t = reaper.time_precise()
    local wrote, why = pcall(jobs.write_file, files.transport, json.encode(t))
    if not (wrote and why) then s.write_failures = (s.write_failures or 0) + 1 end
    return t
  end
  write_transport()
  local words = jobs.python_words(settings)
  for _, w in ipairs({opts.relay, "--server", settings.server, "--request", files.request, "--transport",
                      files.transport, "--events", files.events, "--stop", files.stop, "--out-dir", opts.out_dir}) do
    words[#words + 1] = w
  end
  local job = jobs.spawn(words, base .. ".relay")
  job.plain = true
  ui.progress_open("live")

  local function finish(err)
    s.finished = true
    ui.progress_close()
    reaper.SetExtState(ui.SECTION, "live_stop", "", false)
    if err then
      ui.show_error(err, settings)  -- the helper files stay for a bug report
    else
      for _, path in pairs(files) do os.remove(path) end
      jobs.cleanup(job)
    end
  end

  local function tick()
    local now = reaper.time_precise()
    if now - s.last_write >= M.TRANSPORT_INTERVAL_S and not s.stopping then
      s.last_write = now
      s.transport = write_transport()
    end
    local lines
    lines, s.offset = M.read_lines(files.events, s.offset)
    for _, line in ipairs(lines) do
      local ok, ev = pcall(json.decode, line)
      if ok and ev.event == "window" then
        M.place_window(opts.track, ev, opts.label)
        s.placed = s.placed + 1
        s.last = ev
      elseif ok and ev.event == "started" then
        s.started_ok = true
        s.session_id = ev.session_id
      elseif ok and ev.event == "underrun" then
        -- playback passed the generated bars; the engine goes on from a later bar (resume_bar)
        s.underruns = (s.underruns or 0) + 1
        s.last_underrun = ev
      elseif ok and ev.event == "error" then
        s.error = ev
      end
    end
    local text = string.format("Live: %d window(s) placed%s%s", s.placed,
      s.last and string.format(", last at bar %g (x%.1f real time)", s.last.start_bar, s.last.rtf or 0) or "",
      s.underruns and string.format(", %d underrun(s), last at bar %g", s.underruns,
                                    tonumber(s.last_underrun.playhead_bar) or 0) or "")
    local ask_stop = ui.progress(s.stopping and "Stopping..." or text, nil, now - s.started) == "cancel" or
      reaper.GetExtState(ui.SECTION, "live_stop") == "1"
    if ask_stop and not s.stopping then
      s.stopping = now
      jobs.write_file(files.stop, "stop")
    end
    local state = jobs.poll(job)
    if state ~= "running" then
      -- the relay is gone: a stop we asked for, or a failure to report
      local lines2
      lines2, s.offset = M.read_lines(files.events, s.offset)
      for _, line in ipairs(lines2) do
        local ok, ev = pcall(json.decode, line)
        if ok and ev.event == "window" then
          M.place_window(opts.track, ev, opts.label)
          s.placed = s.placed + 1
        elseif ok and ev.event == "error" then
          s.error = ev
        end
      end
      local err = state == "failed" and job.error or nil
      if not err and s.error then err = {code = s.error.code, message = s.error.message} end
      if not err and not s.stopping then err = {code = "internal", message = "the live relay stopped by itself"} end
      finish(err)
      return
    end
    -- the watchdog: a relay that never got the session started would leave the window spinning
    local late = not s.started_ok and not s.stopping and jobs.start_overdue(job, now, opts.start_timeout or 20)
    if late then
      late.message = late.message:gsub("the job", "the live session")
      jobs.write_file(files.stop, "stop")
      jobs.cancel(job, settings)
      finish(late)
      return
    end
    if s.stopping and now - s.stopping > M.STOP_GRACE_S then
      jobs.cancel(job, settings)  -- the relay did not end in time: SIGTERM ends it (POSIX)
      finish()
      return
    end
    reaper.defer(tick)
  end

  reaper.atexit(function()
    if not s.finished then jobs.write_file(files.stop, "stop") end  -- the script was ended: stop the relay
    ui.progress_close()
  end)
  reaper.defer(tick)
  return s
end

return M
