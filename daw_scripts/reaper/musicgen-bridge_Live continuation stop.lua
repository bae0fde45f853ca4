-- @description musicgen-bridge: Live continuation stop
-- @version 0.1.0
-- @about Ends the running live session (windows already placed stay).
-- SPDX-License-Identifier: GPL-3.0-or-later

reaper.SetExtState("musicgen-bridge", "live_stop", "1", false)

-- a script that defers adds no "ReaScript: Run" undo point: this one changed nothing undoable
reaper.defer(function() end)
