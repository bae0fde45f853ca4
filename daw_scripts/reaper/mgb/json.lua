-- musicgen-bridge ReaScript support: a small JSON encoder/decoder (stock Reaper Lua has none).
-- SPDX-License-Identifier: GPL-3.0-or-later
--
--   local json = dofile(dir .. "json.lua")
--   json.encode({bpm = 100, notes = {}})        --> '{"bpm":100,"notes":[]}'
--   json.decode('{"path": "/a.wav", "frames": 317520}').frames  --> 317520
--
-- Tables with keys 1..n encode as arrays; json.array({}) marks an empty table as an array.
-- Object keys are written sorted, so the same request always gives the same bytes.

local M = {}

local ARRAY_MT = {__mgb_array = true}
M.null = setmetatable({}, {__tostring = function() return "null" end})

function M.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                 ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(n)
  if n ~= n or n == math.huge or n == -math.huge then
    error("json: cannot encode " .. tostring(n) .. " (JSON has no NaN or infinity)")
  end
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n == math.floor(n) and math.abs(n) < 2^53 then return string.format("%d", math.floor(n)) end
  return string.format("%.17g", n)
end

local function is_array(t)
  if getmetatable(t) == ARRAY_MT then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end
  for i = 1, n do if t[i] == nil then return false end end
  return true
end

local function encode(v, out)
  local kind = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif kind == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif kind == "number" then out[#out + 1] = encode_number(v)
  elseif kind == "string" then out[#out + 1] = encode_string(v)
  elseif kind == "table" then
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then error("json: object keys must be strings, got " .. type(k)) end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  else
    error("json: cannot encode a " .. kind)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- decoding -------------------------------------------------------------------------------

local function fail(s, i, what)
  error(string.format("json: %s at character %d near %q", what, i, s:sub(i, i + 10)), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function utf8_char(code)
  return utf8.char(code)
end

local decode_value

local function decode_string(s, i)
  local parts, j = {}, i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then fail(s, i, "unterminated string") end
    if c == '"' then return table.concat(parts), j + 1 end
    if c == "\\" then
      local e = s:sub(j + 1, j + 1)
      local simple = ({['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"})[e]
      if simple then
        parts[#parts + 1] = simple
        j = j + 2
      elseif e == "u" then
        local hex = s:sub(j + 2, j + 5)
        if not hex:match("^%x%x%x%x$") then fail(s, j, "bad \\u escape") end
        local code = tonumber(hex, 16)
        j = j + 6
        if code >= 0xD800 and code <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
          local low = tonumber(s:sub(j + 2, j + 5), 16)
          if low and low >= 0xDC00 and low <= 0xDFFF then
            code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
            j = j + 6
          end
        end
        parts[#parts + 1] = utf8_char(code)
      else
        fail(s, j, "bad escape")
      end
    else
      local k = s:find('["\\]', j) or #s + 1
      parts[#parts + 1] = s:sub(j, k - 1)
      j = k
    end
  end
end

local function decode_number(s, i)
  local text = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if not text or text == "" or text == "-" then fail(s, i, "bad number") end
  local n = math.tointeger(tonumber(text)) or tonumber(text)
  if n == nil then fail(s, i, "bad number") end
  return n, i + #text
end

decode_value = function(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then fail(s, i, "expected a string key") end
      local key
      key, i = decode_string(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
      obj[key], i = decode_value(s, i + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or '}'") end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr = M.array({})
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      arr[#arr + 1], i = decode_value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return arr, i + 1 end
      if d ~= "," then fail(s, i, "expected ',' or ']'") end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif c == "-" or c:match("%d") then
    return decode_number(s, i)
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return M.null, i + 4
  end
  fail(s, i, "unexpected character")
end

--- Decode one JSON value; raises an error (a string) on malformed input.
function M.decode(s)
  local value, i = decode_value(s, 1)
  i = skip(s, i)
  if i <= #s then fail(s, i, "trailing characters") end
  return value
end

return M
