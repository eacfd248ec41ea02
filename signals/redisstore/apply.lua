-- apply.lua: one chunk of a signals batch, atomically (a Lua script runs
-- alone on the server). ARGV: prefix, epoch, final ("1" on the batch's
-- last chunk: its positions are written with it), changes (JSON array),
-- positions (JSON array of [field, offset]), the trending half-life (ms).
--
-- Versions are decimal strings (commit LSNs), compared padded to 20 digits
-- (Lua numbers are doubles and an LSN needs 64 bits) and kept unpadded
-- (Redis's compact encodings hold them as integers). A held version is
-- "V" for a live row and "dV" for a tombstone. The version rule: below the
-- held version (or below the table's truncate floor) is stale and ignored;
-- equal or above applies.
--
-- Keys are built here from the prefix and the row's ids, with hash tags
-- per user, party and listing ({P:u:U}, {P:p:X}, {P:l:L}) so that every
-- read touches one slot per entity; a chunk itself spans slots and runs on
-- one Redis (see doc.go).
local P = ARGV[1]
if redis.call('GET', '{' .. P .. '}:epoch') ~= ARGV[2] then
  return redis.error_reply('EPOCH Redis was emptied or replaced')
end
local final = ARGV[3] == '1'
local changes = cjson.decode(ARGV[4])

local function g(s) return '{' .. P .. '}:' .. s end
local function uk(id, s) return '{' .. P .. ':u:' .. id .. '}:' .. s end
local function pk(id, s) return '{' .. P .. ':p:' .. id .. '}:' .. s end
local function lk(id, s) return '{' .. P .. ':l:' .. id .. '}:' .. s end

local floors = {}
do
  local f = redis.call('HGETALL', g('trunc'))
  for i = 1, #f, 2 do floors[f[i]] = f[i + 1] end
end

-- held splits a held version into (version, live).
local function held(h)
  if not h then return nil, false end
  if string.sub(h, 1, 1) == 'd' then return string.sub(h, 2), false end
  return h, true
end

-- vlt is a < b for versions.
local function vlt(a, b)
  return string.rep('0', 20 - #a) .. a < string.rep('0', 20 - #b) .. b
end

local function stale(tbl, v, hv)
  local f = floors[tbl]
  if f and vlt(v, f) then return true end
  return hv ~= nil and vlt(v, hv)
end

-- latestOf is the newest time in a history zset (members L\0ms13\0id,
-- score 0) for listing l, as its 13 digits, or nil.
local function latestOf(hist, l)
  local h = redis.call('ZREVRANGEBYLEX', hist, '(' .. l .. '\1', '(' .. l .. '\0', 'LIMIT', 0, 1)
  if #h == 0 then return nil end
  return string.sub(h[1], #l + 2, #l + 14)
end

-- A "latest" zset (a closet's or a party's) holds each listing once as
-- ms13 .. inv(L), scored by that time: its readers need no scores (which
-- cost Redis more to write out than the members), and a reverse read
-- orders the listings of one instant by id, ascending (inv complements
-- every byte and ends with \255, so that "A" comes before "AB"), so that
-- a limit cuts ties as the contract does.
local INV = {}
for i = 0, 255 do INV[string.char(i)] = string.char(255 - i) end
local function inv(l)
  return (string.gsub(l, '.', INV)) .. '\255'
end
local function relatest(z, l, old, new)
  if old == new then return end
  if old then redis.call('ZREM', z, old .. inv(l)) end
  if new then redis.call('ZADD', z, tonumber(new), new .. inv(l)) end
end

-- addHist adds history member m (of listing l at ms13 t) and keeps z's
-- entry for l at the newest.
local function addHist(z, hist, l, m, t)
  local old = latestOf(hist, l)
  redis.call('ZADD', hist, 0, m)
  if not old or t > old then relatest(z, l, old, t) end
end

local function removeHist(z, hist, l, m)
  local old = latestOf(hist, l)
  redis.call('ZREM', hist, m)
  relatest(z, l, old, latestOf(hist, l))
end

-- {P}:hot keeps, for each listing, log2 of its decayed count of distinct
-- engagers: the sum over its users of 2^((t - E) / H) for their latest
-- engagement t (E a fixed origin, H the trending half-life), in log space
-- so that it never overflows. Ranking by it is ranking by the decayed
-- count at any instant; TopEngaged reads it when the horizon holds too
-- many listings to score exactly.
local H = tonumber(ARGV[6])
local E = 1700000000000
local LN2 = math.log(2)
local function weight(t) return (t - E) / H end

-- hotMove adds 2^b and takes 2^a from listing l's sum (either may be nil).
local function hotMove(l, a, b)
  local x = redis.call('ZSCORE', g('hot'), l)
  x = x and tonumber(x)
  if not x and not b then return end
  local m = x or b
  if b and b > m then m = b end
  local v = 0
  if x then v = v + 2 ^ (x - m) end
  if a then v = v - 2 ^ (a - m) end
  if b then v = v + 2 ^ (b - m) end
  if v <= 1e-9 then
    redis.call('ZREM', g('hot'), l)
  else
    redis.call('ZADD', g('hot'), m + math.log(v) / LN2, l)
  end
end

-- setEngagement makes t (or nil: none) user u's latest engagement with
-- listing l, in the listing's engagers, its latest and its decayed sum.
local function setEngagement(u, l, t)
  local e = lk(l, 'e')
  local old = redis.call('ZSCORE', e, u)
  old = old and tonumber(old)
  if old == t then return end
  if t then redis.call('ZADD', e, t, u) else redis.call('ZREM', e, u) end
  hotMove(l, old and weight(old), t and weight(t))
  if t and (not old or t > old) then
    redis.call('ZADD', g('recent'), 'GT', t, l)
  else
    local top = redis.call('ZREVRANGE', e, 0, 0, 'WITHSCORES')
    if #top > 0 then redis.call('ZADD', g('recent'), top[2], l) else redis.call('ZREM', g('recent'), l) end
  end
end

-- engage recomputes user u's latest engagement (like or share) with
-- listing l.
local function engage(u, l)
  local best = nil
  local like = redis.call('ZSCORE', uk(u, 'lk'), l)
  if like then best = tonumber(like) end
  local sh = latestOf(uk(u, 'sh'), l)
  if sh then sh = tonumber(sh) end
  if sh and (not best or sh > best) then best = sh end
  setEngagement(u, l, best)
end

-- A share record (field: the share id): "V\0user\0listing\0party\0ms13",
-- short enough for Redis's compact hash encoding, or "dV".
local function shareRec(c)
  return table.concat({c.v, c.u, c.l, c.p, string.sub(c.h, 1, 13)}, '\0')
end
local function parseShare(r, id)
  local f = {}
  for part in string.gmatch(r .. '\0', '([^%z]*)%z') do f[#f + 1] = part end
  return {v = f[1], u = f[2], l = f[3], p = f[4], h = f[5] .. '\0' .. id}
end

local function addShare(s)
  local m, t = s.l .. '\0' .. s.h, string.sub(s.h, 1, 13)
  addHist(uk(s.u, 'sl'), uk(s.u, 'sh'), s.l, m, t)
  if s.p ~= '' then
    addHist(pk(s.p, 'pl'), pk(s.p, 'ph'), s.l, m, t)
    redis.call('ZADD', pk(s.p, 'pt'), s.ms, string.sub(s.h, 15))
  end
  redis.call('ZADD', lk(s.l, 'st'), s.ms, string.sub(s.h, 15))
  local t, cur = tonumber(s.ms), redis.call('ZSCORE', lk(s.l, 'e'), s.u)
  if not cur or t > tonumber(cur) then setEngagement(s.u, s.l, t) end
end

local function removeShare(s)
  local m = s.l .. '\0' .. s.h
  removeHist(uk(s.u, 'sl'), uk(s.u, 'sh'), s.l, m)
  if s.p ~= '' then
    removeHist(pk(s.p, 'pl'), pk(s.p, 'ph'), s.l, m)
    redis.call('ZREM', pk(s.p, 'pt'), string.sub(s.h, 15))
  end
  redis.call('ZREM', lk(s.l, 'st'), string.sub(s.h, 15))
  engage(s.u, s.l)
end

-- Per-user rows (follows, likes, blocks) keep their versions in the
-- user's hash {P:u:U}:v under "<kind>\0<other id>". add is told whether
-- the row was live already (an update or a replay of it).
local userRows = {
  follows = {
    kind = 'f',
    add = function(u, o, ms)
      redis.call('ZADD', uk(u, 'fo'), ms, o)
      redis.call('SADD', uk(o, 'fr'), u)
    end,
    remove = function(u, o)
      redis.call('ZREM', uk(u, 'fo'), o)
      redis.call('SREM', uk(o, 'fr'), u)
    end,
  },
  likes = {
    kind = 'l',
    add = function(u, o, ms, live)
      redis.call('ZADD', uk(u, 'lk'), ms, o)
      if not live then redis.call('INCR', lk(o, 'lc')) end
      engage(u, o)
    end,
    remove = function(u, o)
      redis.call('ZREM', uk(u, 'lk'), o)
      if redis.call('DECR', lk(o, 'lc')) <= 0 then redis.call('DEL', lk(o, 'lc')) end
      engage(u, o)
    end,
  },
  blocks = {
    kind = 'b',
    add = function(u, o) redis.call('SADD', uk(u, 'bl'), o) end,
    remove = function(u, o) redis.call('SREM', uk(u, 'bl'), o) end,
  },
}
local kinds = {f = userRows.follows, l = userRows.likes, b = userRows.blocks}

local function userRow(tbl, c)
  local row = userRows[tbl]
  local vk, field = uk(c.u, 'v'), row.kind .. '\0' .. c.o
  local hv, live = held(redis.call('HGET', vk, field))
  if stale(tbl, c.v, hv) then return end
  if c.d then
    if live then row.remove(c.u, c.o) end
    redis.call('HSET', vk, field, 'd' .. c.v)
  else
    row.add(c.u, c.o, c.ms, live)
    redis.call('HSET', vk, field, c.v)
  end
  redis.call('SADD', g('users'), c.u)
end

-- Global rows (sellers, parties): a hash of JSON values and a hash of
-- versions.
local function globalRow(tbl, c)
  local vk = g('v:' .. tbl)
  local hv, live = held(redis.call('HGET', vk, c.id))
  if stale(tbl, c.v, hv) then return end
  if c.d then
    redis.call('HDEL', g(tbl), c.id)
    if tbl == 'sellers' then redis.call('SREM', g('suspended'), c.id) end
    redis.call('HSET', vk, c.id, 'd' .. c.v)
  else
    redis.call('HSET', g(tbl), c.id, c.j)
    if tbl == 'sellers' then
      if c.sus then redis.call('SADD', g('suspended'), c.id) else redis.call('SREM', g('suspended'), c.id) end
    end
    redis.call('HSET', vk, c.id, c.v)
  end
end

local function share(c)
  local bk = g('s:' .. c.b)
  local r = redis.call('HGET', bk, c.id)
  local hv, live, old = nil, false, nil
  if r then
    if string.sub(r, 1, 1) == 'd' then
      hv = string.sub(r, 2)
    else
      old = parseShare(r, c.id)
      hv, live = old.v, true
    end
  end
  if stale('shares', c.v, hv) then return end
  if live then removeShare(old) end
  if c.d then
    redis.call('HSET', bk, c.id, 'd' .. c.v)
  else
    addShare(c)
    redis.call('HSET', bk, c.id, shareRec(c))
  end
  redis.call('SADD', g('sb'), c.b)
end

local function truncate(tbl, v)
  local f = floors[tbl]
  if not f or vlt(f, v) then
    floors[tbl] = v
    redis.call('HSET', g('trunc'), tbl, v)
  end
  if tbl == 'sellers' or tbl == 'parties' then
    local vk = g('v:' .. tbl)
    local all = redis.call('HGETALL', vk)
    for i = 1, #all, 2 do
      local hv, live = held(all[i + 1])
      if vlt(hv, v) then
        if live then
          redis.call('HDEL', g(tbl), all[i])
          if tbl == 'sellers' then redis.call('SREM', g('suspended'), all[i]) end
        end
        redis.call('HDEL', vk, all[i])
      end
    end
  elseif userRows[tbl] then
    local kind = userRows[tbl].kind
    for _, u in ipairs(redis.call('SMEMBERS', g('users'))) do
      local vk = uk(u, 'v')
      local all = redis.call('HGETALL', vk)
      for i = 1, #all, 2 do
        local fk = all[i]
        if string.sub(fk, 1, 2) == kind .. '\0' then
          local hv, live = held(all[i + 1])
          if vlt(hv, v) then
            if live then kinds[kind].remove(u, string.sub(fk, 3)) end
            redis.call('HDEL', vk, fk)
          end
        end
      end
    end
  elseif tbl == 'shares' then
    for _, b in ipairs(redis.call('SMEMBERS', g('sb'))) do
      local bk = g('s:' .. b)
      local all = redis.call('HGETALL', bk)
      for i = 1, #all, 2 do
        local r = all[i + 1]
        if string.sub(r, 1, 1) == 'd' then
          if vlt(string.sub(r, 2), v) then redis.call('HDEL', bk, all[i]) end
        else
          local s = parseShare(r, all[i])
          if vlt(s.v, v) then
            removeShare(s)
            redis.call('HDEL', bk, all[i])
          end
        end
      end
    end
  end
end

for _, c in ipairs(changes) do
  local t = c.t
  if c.tr then
    truncate(c.tr, c.v)
  elseif t == 'shares' then
    share(c)
  elseif userRows[t] then
    userRow(t, c)
  elseif t == 'sellers' or t == 'parties' then
    globalRow(t, c)
  else
    return redis.error_reply('ERR unknown table ' .. tostring(t))
  end
end

-- Listings whose decayed sum fell 2^64 below the top one's count for
-- nothing any more.
do
  local top = redis.call('ZREVRANGE', g('hot'), 0, 0, 'WITHSCORES')
  if #top > 0 then redis.call('ZREMRANGEBYSCORE', g('hot'), '-inf', tonumber(top[2]) - 64) end
end

if final then
  local pos = cjson.decode(ARGV[5])
  for _, p in ipairs(pos) do redis.call('HSET', g('pos'), p[1], p[2]) end
end
return #changes
