-- musicgen-bridge ReaScript support: run the CLI in the background and poll for its result.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
-- Stock Reaper Lua has no sockets, so the `musicgen-bridge` command line is the messenger:
--
--   local job = jobs.start(settings, {"generate", "--prompt", "lofi", "--json", "--out", out}, job_dir)
--   -- then, from a reaper.defer loop:
--   local state = jobs.poll(job)   --> "running" | "done" | "failed"
--   job.result (decoded JSON) / job.error {code, message}
--
-- A small wrapper script (sh or cmd) runs the CLI with stdout and stderr in files and writes
-- the exit status last (to a temporary name, then renamed), so a poll never reads half a result.

local M = {}

local function here()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*[/\\])") or ""
end
local json = dofile(here() .. "json.lua")

function M.is_windows()
  return (reaper.GetOS() or ""):match("^Win") ~= nil
end

local function file_exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() return true end
  return false
end
M.file_exists = file_exists

function M.read_file(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local data = fh:read("a")
  fh:close()
  return data
end

--- Write a whole file so a reader never sees half of it (temp file, then rename). Returns true,
--  or nil and why; never raises, so a defer loop survives a failed write. On Windows a rename
--  cannot replace a file, and the old one cannot be deleted while another process reads it: after
--  a few tries the data is written in place (our readers skip a half-written file and read again).
function M.write_file(path, data)
  local tmp = path .. ".part"
  local fh, why = io.open(tmp, "wb")
  if not fh then return nil, why end
  local ok, werr = fh:write(data)
  fh:close()
  if not ok then os.remove(tmp) return nil, werr end
  for _ = 1, M.WRITE_TRIES do
    if os.rename(tmp, path) then return true end  -- POSIX: replaces atomically
    os.remove(path)  -- Windows: make room (fails while a reader holds it)
    if os.rename(tmp, path) then return true end
  end
  os.remove(tmp)
  fh, why = io.open(path, "wb")
  if not fh then return nil, why end
  ok, werr = fh:write(data)
  fh:close()
  if not ok then return nil, werr end
  return true
end
M.WRITE_TRIES = 3

--- Quote one argument for /bin/sh (single quotes; embedded ones closed, escaped, reopened).
--  Only for the wrapper script, which /bin/sh reads: reaper.ExecProcess itself runs no shell.
function M.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Quote one argument for a line of a .cmd file run by cmd.exe: inside double quotes cmd's
--  special characters (& | < > ( ) ^ and spaces) are plain text; '%' must be doubled in a batch
--  file. '"' cannot occur in a Windows path; in free text (which travels in the request file,
--  never on the command line) it would end the quotes, so it is replaced.
function M.cmd_quote(s)
  s = tostring(s):gsub('"', "'"):gsub("%%", "%%%%")
  return '"' .. s .. '"'
end

--- The command words that start the CLI: a path to an existing file stays one word (it may
--  hold spaces); anything else (e.g. "python -m musicgen_bridge.bridge.cli") is split on spaces.
function M.cli_words(cli)
  cli = cli ~= "" and cli or "musicgen-bridge"
  if file_exists(cli) then return {cli} end
  local words = {}
  for w in cli:gmatch("%S+") do words[#words + 1] = w end
  return words
end

--- The Python that runs our helper scripts: the setting, else the one beside the CLI.
function M.python_words(settings)
  if settings.python and settings.python ~= "" then return M.cli_words(settings.python) end
  local words = M.cli_words(settings.cli or "")
  if #words > 1 and words[1]:lower():match("python[%d.]*[%w.]*$") then return {words[1]} end
  local dir = words[1]:match("^(.*[/\\])musicgen%-bridge[%w.]*$")
  if dir then
    local exe = M.is_windows() and "python.exe" or "python"
    if file_exists(dir .. exe) then return {dir .. exe} end
  end
  return {M.is_windows() and "python" or "python3"}
end

--- Split a path into its folder (with the trailing separator) and its name.
local function split_path(path)
  local dir, name = path:match("^(.*[/\\])([^/\\]+)$")
  return dir or "", name or path
end

--- The command line that runs a wrapper script. reaper.ExecProcess runs no shell; it splits the
--  line into words itself (double quotes group, nothing else is special), so the script's path is
--  the only text on it. Windows: cmd.exe /d /s /c ""script"" -- /s makes cmd strip exactly the
--  outer pair of quotes, whatever the path holds (spaces, & ( ) ^ @), and /d skips AutoRun.
function M.command_for(script)
  if M.is_windows() then return 'cmd.exe /d /s /c ""' .. script .. '""' end
  return '/bin/sh "' .. script .. '"'
end

--- Where a wrapper script goes: beside the job's files, or (a folder name holding '"', which
--  ExecProcess could not pass on POSIX) a temporary file.
local function wrapper_path(base, ext)
  local path = base .. ext
  if not M.is_windows() and path:find('"', 1, true) then path = os.tmpname() end
  return path
end

--- The wrapper for `words` (stdout, stderr to files; the exit status written last, to a temporary
--  name then renamed, so a poll never reads half a result).
--  Windows: the .cmd switches cmd to UTF-8 (chcp 65001) before the line that holds the command's
--  path, which may hold any letter; it then changes to its own folder, so the job's files are
--  named relative to it and the line carries no project path at all.
local function wrapper_text(job, words)
  if M.is_windows() then
    local dir = split_path(job.base)
    local function rel(w)
      if dir ~= "" and w:sub(1, #dir) == dir then return w:sub(#dir + 1) end
      return w
    end
    local q = {}
    for i, w in ipairs(words) do q[i] = M.cmd_quote(rel(w)) end
    local out, err, rc = M.cmd_quote(rel(job.out)), M.cmd_quote(rel(job.err)), rel(job.rc_file)
    return table.concat({"@echo off", "chcp 65001 > nul", 'cd /d "%~dp0"',
      table.concat(q, " ") .. " < nul > " .. out .. " 2> " .. err,
      "echo %ERRORLEVEL% > " .. M.cmd_quote(rc .. ".part"),
      "move /Y " .. M.cmd_quote(rc .. ".part") .. " " .. M.cmd_quote(rc) .. " > nul", ""}, "\r\n")
  end
  local q = {}
  for i, w in ipairs(words) do q[i] = M.sh_quote(w) end
  -- the CLI runs as a child so we know its pid for cancel, and the shell outlives it to write the status
  return table.concat({"#!/bin/sh", table.concat(q, " ") .. " > " .. M.sh_quote(job.out) .. " 2> " ..
    M.sh_quote(job.err) .. " < /dev/null &", "child=$!", "echo $child > " .. M.sh_quote(job.pid_file),
    "wait $child", "echo $? > " .. M.sh_quote(job.rc_file .. ".part"),
    "mv " .. M.sh_quote(job.rc_file .. ".part") .. " " .. M.sh_quote(job.rc_file), ""}, "\n")
end

local function exec_background(command)
  if reaper.ExecProcess then
    reaper.ExecProcess(command, M.is_windows() and -2 or -1)  -- no wait (-2: minimised console)
  elseif M.is_windows() then
    os.execute('start "" /B ' .. command)
  else
    os.execute(command .. " &")
  end
end

--- Write the wrapper script for `words` and start it without waiting (reaper.ExecProcess -1).
function M.spawn(words, base)
  local job = {base = base, out = base .. ".stdout", err = base .. ".stderr", rc_file = base .. ".rc",
               pid_file = base .. ".pid", started = reaper.time_precise(), words = words}
  job.script = wrapper_path(base, M.is_windows() and ".cmd" or ".sh")
  local ok, why = M.write_file(job.script, wrapper_text(job, words))
  if not ok then error("cannot write " .. job.script .. ": " .. tostring(why), 0) end
  job.command = M.command_for(job.script)
  exec_background(job.command)
  return job
end

--- A job whose CLI has shown no sign of life (no "accepted" line, no progress) since it was
--  started `timeout` seconds ago: returns the error to show (with what the CLI printed), else nil.
function M.start_overdue(job, now, timeout)
  if job.job_id or job.fraction or job.state ~= "running" or now - job.started < timeout then return nil end
  local err = M.read_file(job.err)
  local tail = (err or ""):gsub("%s+$", ""):sub(-800)
  local said
  if err == nil then
    said = "It never started (no output at all). Check the command's path in \"musicgen-bridge: Settings\"."
  elseif tail == "" then
    said = "It printed nothing."
  else
    said = "What it printed:\n" .. tail
  end
  return {code = "not_started", message = string.format(
    "musicgen-bridge did not start the job within %g s.\n\n%s", timeout, said)}
end

--- Parse the CLI's error line "musicgen-bridge: <code>: <message>" (the last one wins).
function M.parse_error(stderr, rc)
  stderr = stderr or ""
  -- argparse rejects options and subcommands this CLI does not have yet
  local usage = stderr:match("[^\n]*unrecognized arguments[^\n]*") or stderr:match("[^\n]*invalid choice[^\n]*")
  if usage then
    return {code = "cli_too_old", message = "this musicgen-bridge does not know what the script asked for:\n" .. usage}
  end
  local code, message
  for line in stderr:gmatch("[^\r\n]+") do
    local c, m = line:match("^musicgen%-bridge: ([%w_]+): (.*)$")
    if c and c ~= "error" then code, message = c, m end
  end
  if code then return {code = code, message = message} end
  if rc == 127 or stderr:match("not found") or stderr:match("not recognized") then
    return {code = "cli_missing", message = "the musicgen-bridge command was not found"}
  end
  local tail = stderr:sub(-600)
  return {code = "internal", message = (tail ~= "" and tail or ("the command exited with status " .. tostring(rc)))}
end

--- Read the JSON lines the CLI (run with --json) printed to stderr since the last call:
--  {"event": "accepted", "job_id"} sets job.job_id, {"event": "progress", "fraction"} job.fraction.
--  Only whole lines are read, so a line the CLI is still writing waits for the next call.
function M.read_events(job)
  local fh = io.open(job.err, "rb")
  if not fh then return end
  fh:seek("set", job.err_offset or 0)
  local data = fh:read("a") or ""
  fh:close()
  local consumed = 0
  for line, stop in data:gmatch("([^\n]*)\n()") do
    consumed = stop - 1
    if line:match("^%s*{") then
      local ok, ev = pcall(json.decode, line)
      if ok and type(ev) == "table" then
        if ev.event == "accepted" and ev.job_id then job.job_id = tostring(ev.job_id) end
        if ev.event == "progress" and tonumber(ev.fraction) then job.fraction = tonumber(ev.fraction) end
      end
    end
  end
  job.err_offset = (job.err_offset or 0) + consumed
end

--- The job's progress 0..1 from the CLI's progress lines, or nil before the first one.
function M.progress(job)
  M.read_events(job)
  return job.fraction and math.max(0, math.min(1, job.fraction)) or nil
end

--- "running", "done" (job.result set) or "failed" (job.error set).
function M.poll(job)
  if job.state and job.state ~= "running" then return job.state end
  if not file_exists(job.rc_file) then
    job.state = "running"
    return job.state
  end
  local rc = tonumber((M.read_file(job.rc_file) or ""):match("%-?%d+")) or -1
  local out = M.read_file(job.out) or ""
  local err = M.read_file(job.err) or ""
  job.exit = rc
  if rc == 0 and job.plain then
    job.result, job.state = {}, "done"  -- a helper with no JSON answer
    return job.state
  end
  if rc == 0 then
    local line = out:match("(%b{})%s*$")
    local ok, result = pcall(json.decode, line or "")
    if ok and type(result) == "table" then
      job.result, job.state = result, "done"
      return job.state
    end
    job.error = {code = "internal", message = "the CLI printed no JSON result: " .. out:sub(1, 300)}
  else
    job.error = M.parse_error(err, rc)
  end
  job.state = "failed"
  return job.state
end

--- Quote one argument for a Windows command line (the rules programs use to split it):
--  backslashes are doubled only where they come before a quote.
function M.win_quote(s)
  s = tostring(s):gsub('(\\*)"', function(bs) return bs .. bs .. '\\"' end):gsub("(\\+)$", "%1%1")
  return '"' .. s .. '"'
end

--- Start `musicgen-bridge cancel JOB_ID` without waiting: the engine stops the job between two
--  decoding steps and the waiting CLI then exits by itself with "cancelled". Windows: the command
--  line goes straight to CreateProcess, quoted the way programs split theirs; POSIX: through a
--  small sh wrapper, as ExecProcess has no quoting that survives every path.
function M.send_cancel(job, settings)
  local words = M.cli_words(settings.cli or "")
  for _, w in ipairs({"cancel", job.job_id}) do words[#words + 1] = w end
  if settings.server and settings.server ~= "" then
    words[#words + 1] = "--server"
    words[#words + 1] = settings.server
  end
  if M.is_windows() then
    local q = {}
    for i, w in ipairs(words) do q[i] = M.win_quote(w) end
    job.cancel_command = table.concat(q, " ")
  else
    local q = {}
    for i, w in ipairs(words) do q[i] = M.sh_quote(w) end
    job.cancel_script = wrapper_path(job.base .. ".cancel", ".sh")
    -- it removes itself when done (the job's files may be gone by then)
    M.write_file(job.cancel_script, "#!/bin/sh\n" .. table.concat(q, " ") .. " > /dev/null 2>&1\nrm -f \"$0\"\n")
    job.cancel_command = M.command_for(job.cancel_script)
  end
  exec_background(job.cancel_command)
end

--- Ask a running job to stop; call it again on later ticks until the CLI has ended (poll).
--  POSIX: SIGTERM to the CLI, which cancels the job on the engine and exits. Windows has no
--  signal to send a console program, so there the job id from the CLI's "accepted" line is sent
--  with `musicgen-bridge cancel` (as soon as the CLI has printed it).
function M.cancel(job, settings)
  job.cancel_requested = job.cancel_requested or reaper.time_precise()
  M.read_events(job)
  if not M.is_windows() and not job.signalled then
    local pid = (M.read_file(job.pid_file) or ""):match("%d+")
    if pid then
      job.signalled = true
      if reaper.ExecProcess then reaper.ExecProcess("/bin/kill -TERM " .. pid, 2000)
      else os.execute("kill -TERM " .. pid) end
    end
  elseif M.is_windows() and job.job_id and not job.cancel_command then
    M.send_cancel(job, settings)
  end
end

--- After a cancelled CLI has ended: when it died before it could tell the engine (a signal
--  that came before its handler was in place), tell the engine now.
function M.finish_cancel(job, settings)
  M.read_events(job)
  local told = job.error and job.error.code == "cancelled"
  if job.state ~= "done" and job.job_id and not told and not job.cancel_command then
    M.send_cancel(job, settings)
  end
end

--- Remove a finished job's helper files (the results it fetched stay).
function M.cleanup(job)
  for _, p in ipairs({job.out, job.err, job.rc_file, job.pid_file, job.script}) do
    os.remove(p)
  end

end

return M
