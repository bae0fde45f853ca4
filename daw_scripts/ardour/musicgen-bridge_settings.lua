ardour {
  ["type"] = "EditorAction",
  name = "musicgen-bridge: Settings",
  license = "GPL-3.0-or-later",
  author = "musicgen-bridge",
  description = [[Where the musicgen-bridge command is, which engine to talk to, the default model and
file format (saved in the user's config folder, musicgen-bridge/ardour-settings.json).]]
}

-- SPDX-License-Identifier: GPL-3.0-or-later
function factory () return function ()
  -- the shared module, installed beside this script in Ardour's scripts folder
  local function load_mgb()
    local dirs = {}
    if os.getenv("MGB_ARDOUR_DIR") then dirs[#dirs + 1] = os.getenv("MGB_ARDOUR_DIR") .. "/" end
    local ok, cfg = pcall(function() return ARDOUR.user_config_directory(-1) end)
    if ok and cfg then dirs[#dirs + 1] = cfg .. "/scripts/" end
    for _, d in ipairs(dirs) do
      local fh = io.open(d .. "mgb_ardour.lua", "rb")
      if fh then fh:close() return dofile(d .. "mgb_ardour.lua") end
    end
    error("mgb_ardour.lua was not found; copy daw_scripts/ardour/ into Ardour's scripts folder (docs/daw-setup.md)")
  end
  local function message(text, kind)
    LuaDialog.Message("musicgen-bridge", text, kind or LuaDialog.MessageType.Info, LuaDialog.ButtonType.Close):run()
  end
  local mgb = load_mgb()
  local s = mgb.settings()
  local rv = LuaDialog.Dialog("musicgen-bridge: settings", {
    {type = "entry", key = "cli", title = "musicgen-bridge command (full path)", default = s.cli},
    {type = "entry", key = "server", title = "Engine address", default = s.server},
    {type = "entry", key = "model", title = "Default model", default = s.model},
    {type = "entry", key = "format", title = "File format (wav16/wav24/wav32f/flac/aiff)", default = s.format},
    {type = "entry", key = "python", title = "Python for helpers (empty: beside the command)", default = s.python},
  }):run()
  if rv then
    for k, v in pairs(rv) do s[k] = v end
    mgb.save_settings(s)
  end
end end
