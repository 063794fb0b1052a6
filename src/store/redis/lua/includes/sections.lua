--[[
sections: reads the sections argument of the write scripts, a sequence of
fields each ended by the byte 0xFF (which never occurs in UTF-8, so no
member can contain it). openSections(argument) starts it, field() returns
the next field; hot loops may read `blob` at `pos` themselves.
]]
local find, sub = string.find, string.sub
local END = '\255'
local blob, pos, size = '', 1, 0

local function openSections (argument)
  blob, pos, size = argument, 1, #argument
end

local function field ()
  local e = find(blob, END, pos, true)
  local value = sub(blob, pos, e - 1)
  pos = e + 1
  return value
end
