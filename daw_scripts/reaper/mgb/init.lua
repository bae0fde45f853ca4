-- musicgen-bridge ReaScript support: the shared module every action loads.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local dir = ({reaper.get_action_context()})[2]:match("^(.*[/\\])")
--   local mgb = dofile(dir .. "mgb/init.lua")
--   mgb.run_job({title = "Generating", kind = "generate", content = content, out = path,
--                on_done = function(result) ... end})
--
-- Requests are built as protocol content (docs/protocol.md) and turned into CLI words in one
-- place, cli_args(), so a new CLI option only changes that function.

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
M.POLL_INTERVAL_S = 0.2
M.CANCEL_GRACE_S = 15  -- how long a cancelled CLI may take to tell the engine and end

local function sep()
  return M.jobs.is_windows() and "\\" or "/"
end

--- The folder generated files go to: "musicgen-bridge" inside the project's media folder.
function M.media_dir()
  local base = reaper.GetProjectPath("")
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

--- "<dir>/<stem>" such that neither "<stem>.wav" nor any take or job file of it exists yet.
function M.unique_base(folder, stem)
  local base, n = folder .. sep() .. stem, 2
  local function taken(b)
    return M.jobs.file_exists(b .. ".wav") or M.jobs.file_exists(b .. "-take1.wav") or
      M.jobs.file_exists(b .. ".request.json") or M.jobs.file_exists(b .. ".live.json")
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

local function num(x)
  return M.json.encode(x)
end

--- CLI words for a request: `musicgen-bridge <kind> --flag value ... --json --out OUT`.
--  extra files (the melody notes) are written next to `base`.
function M.cli_args(kind, content, base, settings)
  local a = {kind}
  local function add(flag, value)
    if value ~= nil and value ~= "" then a[#a + 1] = flag; a[#a + 1] = tostring(value) end
  end
  add("--prompt", content.prompt)
  add("--model", content.model)
  if kind == "continue" then
    -- the part of the file the item plays, and where the item starts on the timeline
    add("--audio", content.audio.path)
    add("--audio-start", content.audio.start_seconds and num(content.audio.start_seconds))
    add("--audio-end", content.audio.end_seconds and num(content.audio.end_seconds))
    add("--item-start-bar", num(content.item_start_bar))
    add("--context-bars", content.context_bars and num(content.context_bars))
  end
  add("--bars", content.bars and num(content.bars))
  add("--bpm", num(content.bpm))
  add("--time-signature", content.time_signature)
  add("--start-bar", content.start_bar and num(content.start_bar))
  add("--sample-rate", content.sample_rate and num(content.sample_rate))
  add("--format", content.format)
  add("--seed", content.seed and num(content.seed))
  add("--temperature", content.temperature and num(content.temperature))
  if content.variations and content.variations > 1 then add("--variations", num(content.variations)) end
  if content.melody then
    local path = base .. ".melody.json"
    M.jobs.write_file(path, M.json.encode(content.melody))
    add("--melody", path)
  end
  add("--server", settings.server)
  a[#a + 1] = "--json"
  add("--out", content._out)
  return a
end

--- Start the CLI for a request and follow it from a defer loop with a progress window.
--  opts: {title, kind, content, base, on_done(result)}; content._out is the output file.
function M.run_job(opts)
  local settings = M.ui.settings()
  local request = {}
  for k, v in pairs(opts.content) do if k:sub(1, 1) ~= "_" then request[k] = v end end
  M.jobs.write_file(opts.base .. ".request.json", M.json.encode(request))
  local words = M.jobs.cli_words(settings.cli)
  for _, w in ipairs(M.cli_args(opts.kind, opts.content, opts.base, settings)) do words[#words + 1] = w end
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
    os.remove(opts.base .. ".melody.json")
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
