"""The Lua scripts the Redis online store runs on the server: each one touches the rows of one key
(one hash slot), so it is atomic on a single server and on a Redis Cluster alike.

- `UPSERT_IF_NOT_OLDER`: replace a row unless the stored one has a later event time;
- `RESET_IF_IN_RANGE`: replace or remove a row whose event time lies in a range (a rebuild of days);
- `MERGE_EVENT`: merge one event into a row's JSON event list by (time, id), refusing duplicates and
  events older than the retention, as `event_lists.merge_event` does in Python;
- `JOINED_READ`: one key's rows of several tables in one round trip.
"""

# KEYS[1]: the row. ARGV: time field, its new encoded value, then the new row's field/value pairs.
UPSERT_IF_NOT_OLDER = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and tonumber(stored) > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"""
# KEYS[1]: the row. ARGV: time field, range start and end (encoded times), then the new row's field/value
# pairs (none: remove the row). Only a stored row whose time lies in [start, end) is touched.
RESET_IF_IN_RANGE = """
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return 0 end
local t = tonumber(stored)
if t < tonumber(ARGV[2]) or t >= tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
return 1
"""
# KEYS[1]: the row. ARGV: time field, list field, new item's time and id (integer text), the new
# item's inner JSON (derived last field null), retention (microseconds), then key field/value pairs.
MERGE_EVENT = """
-- ARGV: event time field, list field, time text, id ('i' .. digits or 's' .. UTF-8 text), item text
-- (without brackets), retention, then the key's field/value pairs. Ids order as numbers (by length,
-- then digits) or as strings (by bytes: UTF-8 byte order is code point order, as in Python).
local function bytes_before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function before(t1, id1, t2, id2)
  if t1 ~= t2 then return t1 < t2 end
  if string.sub(id1, 1, 1) == 'i' and #id1 ~= #id2 then return #id1 < #id2 end
  return bytes_before(id1, id2)
end
local function items_of(text)
  -- the inner text of each [..] item of a JSON list of lists; brackets inside strings are skipped
  local out, depth, start, in_string, escaped = {}, 0, 0, false, false
  for i = 1, #text do
    local c = string.byte(text, i)
    if in_string then
      if escaped then escaped = false
      elseif c == 92 then escaped = true
      elseif c == 34 then in_string = false end
    elseif c == 34 then in_string = true
    elseif c == 91 then
      depth = depth + 1
      if depth == 2 then start = i + 1 end
    elseif c == 93 then
      if depth == 2 then out[#out + 1] = string.sub(text, start, i - 1) end
      depth = depth - 1
    end
  end
  return out
end
local t, id, retention = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[6])
local kind = string.sub(id, 1, 1)
local items = {}
local text = redis.call('HGET', KEYS[1], ARGV[2])
if text then
  for _, inner in ipairs(items_of(text)) do
    local time_text, rest = string.match(inner, '^%s*(%-?%d+)%s*,%s*(.*)$')
    local item_id
    if string.sub(rest, 1, 1) == '"' then
      item_id = 's' .. cjson.decode('[' .. inner .. ']')[2]
    else
      item_id = 'i' .. string.match(rest, '^(%d+)')
    end
    if string.sub(item_id, 1, 1) ~= kind then return 'mixed_ids' end
    items[#items + 1] = {tonumber(time_text), item_id, inner, time_text}
  end
end
for _, item in ipairs(items) do
  if item[2] == id then return 'duplicate' end
end
if #items > 0 and t <= items[#items][1] - retention then return 'too_old' end
local position = #items + 1
for i, item in ipairs(items) do
  if before(t, id, item[1], item[2]) then position = i break end
end
table.insert(items, position, {t, id, ARGV[5], ARGV[3]})
if items[position + 1] then
  items[position + 1][3] = (string.gsub(items[position + 1][3], ',[^,]*$', ',null'))
end
local newest = items[#items][1]
local first = #items
for i, item in ipairs(items) do
  if item[1] > newest - retention then first = i break end
end
if first > 1 then first = first - 1 end
local out = {}
for i = first, #items do out[#out + 1] = '[' .. items[i][3] .. ']' end
redis.call('HSET', KEYS[1], ARGV[1], items[#items][4], ARGV[2], '[' .. table.concat(out, ',') .. ']',
           unpack(ARGV, 7))
return 'stored'
"""
# KEYS: one row per table (one key's rows share a hash tag, hence a slot). ARGV: per table, the number of
# its fields, then the fields. Returns each row's HMGET (a missing field is nil).
JOINED_READ = """
local out, at = {}, 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[at])
  out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return out
"""
