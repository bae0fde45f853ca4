-- musicgen-bridge ReaScript support: the shared module every action loads.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])")
--   local mgb = dofile(dir .. "mgb/init.lua")
--   content._out = mgb.out_path(base, content.format)
--   mgb.run_job({title = "Generating", kind = "generate", content = content, base = base,
--                on_done = function(result) ... end})
--
-- Requests are built as protocol content (docs/protocol.md) and written whole to
-- <base>.request.json; the CLI reads it with --request, so no prompt or project path has to
-- survive a command line (cli_args()).

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end

local dir = here()
local M = {
  dir = dir,
  json = dofile(dir .. "json.lua"),
  project = dofile(dir .. "project.lua"),
  jobs = dofile(dir .. "job.lua"),
  ui = dofile(dir .. "ui.lua"),
  place = dofile(dir .. "place.lua"),
}

-- the musicgen-bridge release these scripts come with (`musicgen-bridge doctor` compares installed copies)
M.VERSION = "0.1.0"
-- the file extension of each output format: the CLI refuses an --out whose extension disagrees
M.EXTENSIONS = {wav16 = ".wav", wav24 = ".wav", wav32f = ".wav", flac = ".flac", aiff = ".aiff"}
function M.out_path(base, format)
  return base .. (M.EXTENSIONS[format or "wav24"] or ".wav")
end
M.SAMPLE_RATES = {[32000] = true, [44100] = true, [48000] = true, [88200] = true, [96000] = true}
--- The file extension of each format the engine writes (docs/protocol.md, `format`).
M.EXTENSIONS = {wav16 = ".wav", wav24 = ".wav", wav32f = ".wav", flac = ".flac", aiff = ".aiff"}
M.START_TIMEOUT_S = 20  -- no "accepted" line by then: the job never started (setting start_timeout)
M.POLL_INTERVAL_S = 0.2
M.CANCEL_GRACE_S = 15  -- how long a cancelled CLI may take to tell the engine and end

local function sep()
  return M.jobs.is_windows() and "\\" or "/"
end

--- The folder generated files go to: "musicgen-bridge" inside the project's media folder.
function M.media_dir()
  local base = reaper.GetProjectPath()
  local out = base:gsub("[/\\]$", "") .. sep() .. "musicgen-bridge"
  reaper.RecursiveCreateDirectory(out, 0)
  return out
end

--- A file-name stem from a prompt: letters, digits and dashes.
function M.slug(text)
  local s = (text or ""):lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  s = s:sub(1, 40):gsub("%-+$", "")
  return s ~= "" and s or "clip"
end

--- The output file for a job: "<base>" plus the format's extension (".wav" for an unknown one,
--  which the engine then refuses with a clear error).
function M.out_path(base, format)
  return base .. (M.EXTENSIONS[format or ""] or ".wav")
end

--- Seconds a started CLI may take to say the engine accepted the job (setting start_timeout).
function M.start_timeout()
  local s = tonumber(M.ui.get("start_timeout"))
  return (s and s > 0) and s or M.START_TIMEOUT_S
end

--- "<dir>/<stem>" such that neither "<stem>.<ext>" nor any take or job file of it exists yet.
function M.unique_base(folder, stem)
  local base, n = folder .. sep() .. stem, 2
  local function taken(b)
    for _, ext in pairs(M.EXTENSIONS) do
      if M.jobs.file_exists(b .. ext) or M.jobs.file_exists(b .. "-take1" .. ext) then return true end
    end
    return M.jobs.file_exists(b .. ".request.json") or M.jobs.file_exists(b .. ".live.json")
  end
  while taken(base) do
    base = folder .. sep() .. stem .. "-" .. n
    n = n + 1
  end
  return base
end

--- The project's sample rate when it has one the engine writes, else the device's, else 48000.
function M.sample_rate()
  local rate = math.floor(reaper.GetSetProjectInfo(0, "PROJECT_SRATE", 0, false) or 0)
  local use = reaper.GetSetProjectInfo(0, "PROJECT_SRATE_USE", 0, false)
  if use == 0 or not M.SAMPLE_RATES[rate] then
    local ok, dev = reaper.GetAudioDeviceInfo("SRATE")
    rate = ok and math.floor(tonumber(dev) or 0) or 0
  end
  return M.SAMPLE_RATES[rate] and rate or 48000
end

--- CLI words for a request: `musicgen-bridge <kind> --request <base>.request.json --json --out OUT`.
--  Every request field travels in the request file (UTF-8 JSON), none on the command line.
function M.cli_args(kind, base, out, settings)
  local a = {kind, "--request", base .. ".request.json"}
  if settings.server and settings.server ~= "" then
    a[#a + 1] = "--server"
    a[#a + 1] = settings.server
  end
  a[#a + 1] = "--json"
  a[#a + 1] = "--out"
  a[#a + 1] = out
  return a
end

--- Start the CLI for a request and follow it from a defer loop with a progress window.
--  opts: {title, kind, content, base, on_done(result)}; content._out is the output file.
function M.run_job(opts)
  local settings = M.ui.settings()
  local request = {}
  for k, v in pairs(opts.content) do if k:sub(1, 1) ~= "_" then request[k] = v end end
  local ok, why = M.jobs.write_file(opts.base .. ".request.json", M.json.encode(request))
  if not ok then M.ui.message("Could not write the request file: " .. tostring(why)) return nil end
  local words = M.jobs.cli_words(settings.cli)
  for _, w in ipairs(M.cli_args(opts.kind, opts.base, opts.content._out, settings)) do words[#words + 1] = w end
  local timeout = M.start_timeout()
  reaper.SetExtState(M.ui.SECTION, "cancel", "", false)
  local job = M.jobs.spawn(words, opts.base)
  M.ui.progress_open(opts.title)
  local last_poll = -1

  local function finish()
    job.finished = true
    M.ui.progress_close()
  end

  local function drop_job_files()
    M.jobs.cleanup(job)
    -- the CLI fetched a sidecar that records the request; ours stay only when something fails
    os.remove(opts.base .. ".request.json")
  end

  -- after a cancel: keep polling until the CLI has told the engine and ended; nothing is placed
  local function cancelling(now)
    M.jobs.cancel(job, settings)
    local state = M.jobs.poll(job)
    if state == "running" and now - job.cancel_requested < M.CANCEL_GRACE_S then
      M.ui.progress("Cancelling...", nil, now - job.started)
      return false
    end
    if state ~= "running" then
      M.jobs.finish_cancel(job, settings)
      drop_job_files()
    end
    finish()
    return true
  end

  local function tick()
    local now = reaper.time_precise()
    if job.cancel_requested then
      if not cancelling(now) then reaper.defer(tick) end
      return
    end
    local elapsed = now - job.started
    local fraction = M.jobs.progress(job)
    local text = opts.title .. (fraction and string.format("... %d%%", math.floor(fraction * 100)) or "...")
    if M.ui.progress(text, fraction, elapsed) == "cancel" or reaper.GetExtState(M.ui.SECTION, "cancel") == "1" then
      reaper.SetExtState(M.ui.SECTION, "cancel", "", false)
      if not cancelling(now) then reaper.defer(tick) end
      return
    end
    if now - last_poll >= M.POLL_INTERVAL_S then
      last_poll = now
      local state = M.jobs.poll(job)
      if state == "done" then
        finish()
        drop_job_files()
        local ok, err = pcall(opts.on_done, job.result)
        if not ok then M.ui.message("Could not place the result: " .. tostring(err)) end
        return
      elseif state == "failed" then
        finish()
        M.ui.show_error(job.error, settings)
        return
      end
      -- the watchdog: a CLI that never got the job to the engine would leave the window spinning
      local late = M.jobs.start_overdue(job, now, timeout)
      if late then
        M.jobs.cancel(job, settings)
        finish()
        M.ui.show_error(late, settings)  -- the job's files stay for a bug report
        return
      end
    end
    reaper.defer(tick)
  end

  reaper.atexit(function()
    -- the script was ended (e.g. terminated from the action list) while the job ran: its result
    -- could never be placed, so the engine should not keep working on it
    if not job.finished then M.jobs.cancel(job, settings) end
    finish()
  end)
  reaper.defer(tick)
  return job
end

--- The first selected item, or nil after telling the producer what to select.
function M.selected_item(what)
  local item = reaper.GetSelectedMediaItem(0, 0)
  if not item then M.ui.message("Select " .. what .. " first.") end
  return item
end

return M
