-- musicgen-bridge for Ardour: the CLI messenger and small file helpers (used by mgb_ardour.lua).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local cli = dofile(dir .. "mgb_messenger.lua")
--   local result, err = cli.run("generate", content, "/session/musicgen-bridge/keys", settings,
--                               function(fraction) return cancelled end)
--
-- The messenger is the one the Reaper scripts use (docs/daw-setup.md): the whole request goes to
-- <name>.request.json, a small wrapper runs `musicgen-bridge generate --request ... --json --out ...`
-- with stdout/stderr in files and writes its exit status last; we poll those files, with a start
-- watchdog and SIGTERM for cancel.

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end

local M = {dir = here(), POLL_S = 0.2, START_TIMEOUT_S = 20}

local function load_json()
  for _, p in ipairs({M.dir .. "mgb_json.lua", M.dir .. "../reaper/mgb/json.lua"}) do
    local fh = io.open(p, "rb")
    if fh then fh:close() return dofile(p) end
  end
  error("mgb_json.lua is missing: copy daw_scripts/reaper/mgb/json.lua beside mgb_ardour.lua as mgb_json.lua")
end
M.json = load_json()
local json = M.json
local function is_windows() return package.config:sub(1, 1) == "\\" end
local function sep() return is_windows() and "\\" or "/" end

local function file_exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() return true end
  return false
end

local function read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local data = fh:read("a")
  fh:close()
  return data
end

local function write_file(path, data)
  local fh, why = io.open(path .. ".part", "wb")
  if not fh then return nil, why end
  fh:write(data)
  fh:close()
  os.remove(path)
  return os.rename(path .. ".part", path)
end

local function sleep(seconds)
  if ARDOUR and ARDOUR.LuaAPI and ARDOUR.LuaAPI.usleep then ARDOUR.LuaAPI.usleep(math.floor(seconds * 1e6))
  else os.execute("sleep " .. seconds) end
end

local function now()
  if ARDOUR and ARDOUR.LuaAPI and ARDOUR.LuaAPI.monotonic_time then return ARDOUR.LuaAPI.monotonic_time() / 1e6 end
  return os.clock()
end

local function tidy(x) return math.floor(x * 1e6 + 0.5) / 1e6 end

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function cmd_quote(s) return '"' .. tostring(s):gsub('"', "'"):gsub("%%", "%%%%") .. '"' end

--- Create a folder and its parents (no error when it exists).
function M.mkdir(folder)
  if is_windows() then os.execute('if not exist ' .. cmd_quote(folder) .. ' mkdir ' .. cmd_quote(folder))
  else os.execute("mkdir -p " .. sh_quote(folder)) end
end

M.is_windows, M.sep, M.file_exists, M.read_file, M.write_file = is_windows, sep, file_exists, read_file, write_file
M.sh_quote, M.cmd_quote, M.tidy = sh_quote, cmd_quote, tidy


--- The words that start a command setting: an existing file stays one word, else split on spaces.
function M.words(cmd)
  if file_exists(cmd) then return {cmd} end
  local w = {}
  for x in cmd:gmatch("%S+") do w[#w + 1] = x end
  return w
end

--- The Python that runs our helper: the setting, else the one beside the CLI, else python3.
function M.python(settings)
  if settings.python and settings.python ~= "" then return M.words(settings.python) end
  local words = M.words(settings.cli or "")
  if #words > 1 and words[1]:lower():match("python[%d.]*[%w.]*$") then return {words[1]} end
  local dir = (words[1] or ""):match("^(.*[/\\])musicgen%-bridge[%w.]*$")
  if dir and file_exists(dir .. (is_windows() and "python.exe" or "python")) then
    return {dir .. (is_windows() and "python.exe" or "python")}
  end
  return {is_windows() and "python" or "python3"}
end

local function start_background(script)
  if os.forkexec then  -- the Ardour GUI: no shell, argv as given
    if is_windows() then os.forkexec("cmd.exe", "/d", "/c", script) else os.forkexec("/bin/sh", script) end
  elseif is_windows() then
    os.execute('start "" /B cmd.exe /d /s /c ""' .. script .. '""')
  else
    os.execute("/bin/sh " .. sh_quote(script) .. " > /dev/null 2>&1 &")
  end
end

--- Start `words` in the background; returns the job (files named from `base`).
function M.spawn(words, base)
  local job = {base = base, out = base .. ".stdout", err = base .. ".stderr", rc = base .. ".rc",
               pid = base .. ".pid", started = now()}
  local text
  if is_windows() then
    local q = {}
    for i, w in ipairs(words) do q[i] = cmd_quote(w) end
    job.script = base .. ".cmd"
    text = table.concat({"@echo off", "chcp 65001 > nul", table.concat(q, " ") .. " < nul > " .. cmd_quote(job.out) ..
      " 2> " .. cmd_quote(job.err), "echo %ERRORLEVEL% > " .. cmd_quote(job.rc .. ".part"),
      "move /Y " .. cmd_quote(job.rc .. ".part") .. " " .. cmd_quote(job.rc) .. " > nul", ""}, "\r\n")
  else
    local q = {}
    for i, w in ipairs(words) do q[i] = sh_quote(w) end
    job.script = base .. ".sh"
    text = table.concat({"#!/bin/sh", table.concat(q, " ") .. " > " .. sh_quote(job.out) .. " 2> " ..
      sh_quote(job.err) .. " < /dev/null &", "child=$!", "echo $child > " .. sh_quote(job.pid), "wait $child",
      "echo $? > " .. sh_quote(job.rc .. ".part"), "mv " .. sh_quote(job.rc .. ".part") .. " " .. sh_quote(job.rc), ""},
      "\n")
  end
  assert(write_file(job.script, text))
  start_background(job.script)
  return job
end

local function read_events(job)
  for line in (read_file(job.err) or ""):gmatch("[^\n]+") do
    if line:match("^%s*{") then
      local ok, ev = pcall(json.decode, line)
      if ok and type(ev) == "table" then
        if ev.event == "accepted" then job.job_id = ev.job_id end
        if ev.event == "progress" and tonumber(ev.fraction) then job.fraction = tonumber(ev.fraction) end
      end
    end
  end
end

local function parse_error(stderr, rc)
  if stderr:match("unrecognized arguments") or stderr:match("invalid choice") then
    return {code = "cli_too_old", message = "this musicgen-bridge is too old for these scripts; update it"}
  end
  local code, message
  for line in stderr:gmatch("[^\r\n]+") do
    local c, m = line:match("^musicgen%-bridge: ([%w_]+): (.*)$")
    if c and c ~= "error" then code, message = c, m end
  end
  if code then return {code = code, message = message} end
  if rc == 127 then return {code = "cli_missing", message = "the musicgen-bridge command was not found"} end
  return {code = "internal", message = stderr:sub(-600)}
end

local function terminate(job)
  local pid = (read_file(job.pid) or ""):match("%d+")
  if not pid then return end
  if os.forkexec then os.forkexec("/bin/kill", "-TERM", pid) else os.execute("kill -TERM " .. pid) end
end

--- Remove a job's helper files.
function M.cleanup(job)
  for _, p in ipairs({job.out, job.err, job.rc, job.pid, job.script}) do os.remove(p) end
end

--- Run one request to its end: returns the CLI's result, or nil and {code, message}.
--  progress(fraction or nil, text) is called each poll; when it returns true the job is cancelled.
function M.run(kind, content, base, settings, progress)
  local out = content._out
  content._out = nil
  assert(write_file(base .. ".request.json", json.encode(content)))
  local words = M.words(settings.cli)
  for _, w in ipairs({kind, "--request", base .. ".request.json", "--server", settings.server, "--json", "--out",
                      out}) do words[#words + 1] = w end
  local job = M.spawn(words, base)
  local timeout = tonumber(settings.start_timeout) or M.START_TIMEOUT_S
  while true do
    sleep(M.POLL_S)
    read_events(job)
    local rc_text = read_file(job.rc)
    if rc_text then
      local rc = tonumber(rc_text:match("%-?%d+")) or -1
      local out, err = read_file(job.out) or "", read_file(job.err) or ""
      if rc == 0 then
        local ok, result = pcall(json.decode, out:match("(%b{})%s*$") or "")
        M.cleanup(job)
        os.remove(base .. ".request.json")
        if ok and type(result) == "table" then return result end
        return nil, {code = "internal", message = "the CLI printed no JSON result: " .. out:sub(1, 300)}
      end
      return nil, parse_error(err, rc)
    end
    local elapsed = now() - job.started
    if not job.job_id and elapsed > timeout then
      terminate(job)
      local err = (read_file(job.err) or ""):gsub("%s+$", "")
      return nil, {code = "not_started", message = string.format("musicgen-bridge did not start the job within %g s.\n%s",
        timeout, err ~= "" and ("What it printed:\n" .. err:sub(-800)) or "It printed nothing (is the command's path right?)")}
    end
    if progress and progress(job.fraction, kind) then
      terminate(job)
      return nil, {code = "cancelled", message = "cancelled"}
    end
  end
end

return M
