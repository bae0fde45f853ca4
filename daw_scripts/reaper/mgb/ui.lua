-- musicgen-bridge ReaScript support: settings, input dialogs, the progress window, messages.
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local ui = dofile(dir .. "ui.lua")
--   local values = ui.ask("Generate", {{key = "prompt", label = "Prompt"}, {key = "bars", label = "Bars", default = 4}})
--   ui.progress("Generating...", 0.4)    --> "cancel" when the producer pressed Esc or closed it (Space plays/stops)

local M = {}

M.SECTION = "musicgen-bridge"
M.TITLE = "musicgen-bridge"

--- Settings with their defaults; each can be changed with the Settings action (stored in ExtState).
M.DEFAULTS = {
  cli = "musicgen-bridge",           -- the command, or a full path to it
  server = "tcp://127.0.0.1:5555",   -- the engine's ZeroMQ address
  python = "",                       -- Python for the live relay ("" = the one beside the CLI)
  format = "wav24",
  model = "facebook/musicgen-small",
  start_timeout = "20",              -- seconds the CLI may take to get the job accepted
}
M.ACTION_PLAY_STOP = 40044  -- "Transport: Play/stop": Space in our window does what it does in Reaper

function M.get(key)
  local value = reaper.GetExtState(M.SECTION, key)
  if value == nil or value == "" then return M.DEFAULTS[key] or "" end
  return value
end

function M.set(key, value)
  reaper.SetExtState(M.SECTION, key, tostring(value), true)
end

function M.settings()
  local out = {}
  for key in pairs(M.DEFAULTS) do out[key] = M.get(key) end
  return out
end

--- Ask for several values in one GetUserInputs dialog, prefilled with the last ones used.
--  fields: {{key, label, default, remember = true|false}}; returns a key->string table or nil (cancelled).
function M.ask(title, fields)
  local labels, values = {}, {}
  for i, f in ipairs(fields) do
    labels[i] = f.label
    local last = f.remember ~= false and reaper.GetExtState(M.SECTION, "last_" .. f.key) or ""
    local v = (last ~= nil and last ~= "") and last or tostring(f.default or "")
    values[i] = v:gsub("\n", " ")
  end
  -- newline separates the fields, so prompts may hold commas
  local ok, csv = reaper.GetUserInputs(title, #fields, table.concat(labels, ",") .. ",separator=\n,extrawidth=260",
                                      table.concat(values, "\n"))
  if not ok then return nil end
  local out, i = {}, 1
  for part in (csv .. "\n"):gmatch("(.-)\n") do
    if fields[i] then out[fields[i].key] = part:match("^%s*(.-)%s*$") end
    i = i + 1
  end
  for _, f in ipairs(fields) do
    if out[f.key] == nil then out[f.key] = "" end
    if f.remember ~= false then reaper.SetExtState(M.SECTION, "last_" .. f.key, out[f.key], true) end
  end
  return out
end

--- A number from a dialog field, checked; returns nil and shows why when it is not usable.
function M.number(values, key, label, lo, hi, integer)
  local n = tonumber(values[key])
  if n == nil or n < lo or n > hi or (integer and n ~= math.floor(n)) then
    M.message(string.format("%s must be %s from %s to %s (got %q).", label, integer and "a whole number" or "a number",
                            tostring(lo), tostring(hi), tostring(values[key])))
    return nil
  end
  return integer and math.floor(n) or n
end

function M.message(text, title)
  reaper.ShowMessageBox(text, title or M.TITLE, 0)
end

--- The words a producer needs for an engine error.
function M.error_text(err, settings)
  local code, msg = err.code or "internal", err.message or ""
  if code == "unreachable" then
    return "The musicgen-bridge engine is not running (nothing answers at " .. (settings.server or "") .. ").\n\n" ..
      "Start it once in a terminal and leave it running:\n    musicgen-bridge serve --model " ..
      (settings.model or "facebook/musicgen-small") .. "\n\nthen run this action again.\n\n(" .. msg .. ")"
  elseif code == "cli_missing" then
    return "The musicgen-bridge command was not found (" .. (settings.cli or "") .. ").\n\n" ..
      "Install it (see docs/daw-setup.md), then give its full path with the action\n" ..
      "\"musicgen-bridge: Settings\". The engine itself is started with:\n    musicgen-bridge serve --model " ..
      (settings.model or "facebook/musicgen-small")
  elseif code == "cli_too_old" then
    return msg .. "\n\nUpdate musicgen-bridge to use this feature."
  elseif code == "not_started" then
    return msg .. "\n\nIs the engine running (musicgen-bridge serve) and the command's path right (Settings)?"
  end
  return "The engine reported an error (" .. code .. "):\n\n" .. msg
end

function M.show_error(err, settings)
  reaper.ShowMessageBox(M.error_text(err, settings), M.TITLE .. ": error", 0)
end

-- the progress window ----------------------------------------------------------------------

local window = {open = false}

function M.progress_open(title)
  gfx.init(M.TITLE .. ": " .. title, 420, 96)
  gfx.setfont(1, "Arial", 15)
  window.open = true
end

--- Draw status text and a bar (fraction 0..1, or nil for "working" stripes); returns
--  "cancel" when the producer pressed Esc or closed the window, else nil.
function M.progress(text, fraction, elapsed)
  if not window.open then return nil end
  local ch = gfx.getchar()
  if ch < 0 or ch == 27 then return "cancel" end
  -- the window has the keyboard while it is in front: hand Space on to the transport
  if ch == 32 then reaper.Main_OnCommand(M.ACTION_PLAY_STOP, 0) end
  gfx.set(0.13, 0.13, 0.13)
  gfx.rect(0, 0, gfx.w, gfx.h, 1)
  gfx.set(0.9, 0.9, 0.9)
  gfx.x, gfx.y = 12, 10
  gfx.drawstr(text)
  local w = gfx.w - 24
  gfx.set(0.3, 0.3, 0.3)
  gfx.rect(12, 38, w, 16, 1)
  gfx.set(0.35, 0.7, 0.45)
  if fraction then
    gfx.rect(12, 38, math.floor(w * math.max(0, math.min(1, fraction)) + 0.5), 16, 1)
  else
    local x = math.floor(((elapsed or 0) * 120) % (w + 60)) - 60
    gfx.rect(12 + math.max(0, x), 38, math.min(60, w - math.max(0, x)) + math.min(0, x), 16, 1)
  end
  gfx.set(0.6, 0.6, 0.6)
  gfx.x, gfx.y = 12, 64
  gfx.drawstr(string.format("%.0f s   -   Esc or close: cancel   -   Space: play/stop", elapsed or 0))
  gfx.update()
  return nil
end

function M.progress_close()
  if window.open then gfx.quit() end
  window.open = false
end

return M
