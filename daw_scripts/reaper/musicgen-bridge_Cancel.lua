-- @description musicgen-bridge: Cancel the running generation
-- @version 0.1.0
-- @about Cancels the running generate/continue action's job on the engine (the same as pressing
--   Esc in its progress window): the engine stops it between two decoding steps and nothing is placed.
-- SPDX-License-Identifier: GPL-3.0-or-later

reaper.SetExtState("musicgen-bridge", "cancel", "1", false)

-- a script that defers adds no "ReaScript: Run" undo point: this one changed nothing undoable
reaper.defer(function() end)
