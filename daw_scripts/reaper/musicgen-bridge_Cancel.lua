-- @description musicgen-bridge: Cancel the running generation
-- @about Tells a running generate/continue action to stop waiting and stop its CLI process
--   (the same as pressing Esc in its progress window). Nothing is placed.
-- SPDX-License-Identifier: GPL-3.0-or-later

reaper.SetExtState("musicgen-bridge", "cancel", "1", false)
