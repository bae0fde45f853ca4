ardour {
  ["type"] = "EditorAction",
  name = "musicgen-bridge: Continue audio region",
  license = "GPL-3.0-or-later",
  author = "musicgen-bridge",
  description = [[Continues the selected audio region: its last whole bars are the context and the new
bars start on its last bar line, on a new track. Tempo and meter come from the tempo map at the
region. Needs a running `musicgen-bridge serve`.]]
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
  local region
  for r in Editor:get_selection().regions:regionlist():iter() do
    if not r:to_audioregion():isnil() then region = r break end
  end
  if not region then message("Select an audio region to continue first.") return end
  local settings = mgb.settings()
  local t = mgb.timing(region:position():samples(), region:length():samples())
  local whole = math.max(1, math.floor(t.bars_exact))
  local rv = LuaDialog.Dialog("musicgen-bridge: continue", {
    {type = "entry", key = "prompt", title = "Prompt (optional)", default = ""},
    {type = "number", key = "bars", title = "Bars to add", min = 1, max = 1024, step = 1, digits = 0, default = 4},
    {type = "number", key = "context_bars", title = "Context bars", min = 1, max = whole, step = 1, digits = 0,
     default = math.min(4, whole)},
    {type = "entry", key = "model", title = "Model", default = settings.model},
  }):run()
  if not rv then return end
  local pw = LuaDialog.ProgressWindow("musicgen-bridge: continuing", true)
  local result, err = mgb.continue(Session, region, rv, settings, function(f)
    return pw:progress(f or 0, string.format("Continuing for %d bars...", rv.bars))
  end)
  pw:done()
  if not result and err.code ~= "cancelled" then
    message("The engine reported an error (" .. err.code .. "):\n\n" .. err.message, LuaDialog.MessageType.Error)
  end
end end
