--[[ market_hours_spec.lua — policy spec for scripts/market_hours.lua.
Run: bin/gatehouse spec spec/policy/market_hours_spec.lua (inside the policy sandbox; TAP out).
Input: spec.policy("scripts/market_hours.lua") (fresh load). Timestamps are UTC instants; the CT wall
clock each stands for is in its description (anchors cross-checked with Python's zoneinfo).
Output: assertions through spec.ok / spec.is / spec.same. ]]

local MH = spec.policy("scripts/market_hours.lua")

-- Epoch seconds of a UTC wall-clock time (days_from_civil, independent of the policy's copy).
local function utc(y, m, d, h, mi, s)
  local yy = m <= 2 and y - 1 or y
  local era = yy // 400
  local yoe = yy - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + (h or 0) * 3600 + (mi or 0) * 60 + (s or 0)
end

local function is_session(ts, want, want_next, desc)
  local r = MH.session(ts, "ESZ6")
  spec.is(r.session, want, desc .. ": session " .. want)
  spec.is(r.open, want == "RTH" or want == "ETH", desc .. ": open is " .. tostring(want == "RTH" or want == "ETH"))
  if want_next then spec.is(r.next_change, want_next, desc .. ": next_change") end
  return r
end

spec.is(type(MH.session), "function", "session is a function")
spec.is(utc(2026, 11, 24, 15, 30), 1795534200, "spec clock: 2026-11-24T15:30Z anchor")
spec.is(utc(2026, 12, 25, 18, 0), 1798221600, "spec clock: 2026-12-25T18:00Z anchor")

-- Offsets and DST switches (2026: CDT from Sun 03-08 08:00Z to Sun 11-01 07:00Z).
spec.is(MH.utc_offset_ct(utc(2026, 1, 15, 12)), -21600, "January is CST (UTC-6)")
spec.is(MH.utc_offset_ct(utc(2026, 7, 15, 12)), -18000, "July is CDT (UTC-5)")
spec.is(MH.utc_offset_ct(utc(2026, 3, 8, 7, 59, 59)), -21600, "2026-03-08 01:59:59 CST is still CST")
spec.is(MH.utc_offset_ct(utc(2026, 3, 8, 8, 0, 0)), -18000, "2026-03-08 02:00 CST jumps to 03:00 CDT")
spec.is(MH.utc_offset_ct(utc(2026, 11, 1, 6, 59, 59)), -18000, "2026-11-01 01:59:59 CDT is still CDT")
spec.is(MH.utc_offset_ct(utc(2026, 11, 1, 7, 0, 0)), -21600, "2026-11-01 02:00 CDT falls back to 01:00 CST")
spec.is(MH.utc_offset_ct(utc(2027, 3, 14, 8, 0, 0)), -18000, "2027 DST starts on the second Sunday (03-14)")
spec.is(MH.utc_offset_ct(utc(2027, 3, 13, 12)), -21600, "2027-03-13 (Saturday) is still CST")
spec.is(MH.utc_offset_ct(utc(2027, 11, 7, 7, 0, 0)), -21600, "2027 DST ends on the first Sunday (11-07)")

-- The brief's anchors (November 2026: CST).
is_session(utc(2026, 11, 24, 15, 30), "RTH", utc(2026, 11, 24, 21, 0), "Tue 2026-11-24T15:30Z = 09:30 CT")
is_session(utc(2026, 11, 23, 22, 30), "MAINTENANCE", utc(2026, 11, 23, 23, 0), "Mon 22:30Z = 16:30 CT")
is_session(utc(2026, 11, 28, 12, 0), "WEEKEND", utc(2026, 11, 29, 23, 0), "Sat 2026-11-28 06:00 CT")

-- Every edge of a normal day, to the second.
is_session(utc(2026, 11, 24, 14, 29, 59), "ETH", utc(2026, 11, 24, 14, 30), "Tue 08:29:59 CT")
is_session(utc(2026, 11, 24, 14, 30), "RTH", nil, "Tue 08:30:00 CT")
is_session(utc(2026, 11, 24, 20, 59, 59), "RTH", nil, "Tue 14:59:59 CT")
is_session(utc(2026, 11, 24, 21, 0), "ETH", utc(2026, 11, 24, 22, 0), "Tue 15:00 CT")
is_session(utc(2026, 11, 24, 22, 0), "MAINTENANCE", utc(2026, 11, 24, 23, 0), "Tue 16:00 CT")
is_session(utc(2026, 11, 24, 23, 0), "ETH", utc(2026, 11, 25, 14, 30), "Tue 17:00 CT (reopen)")
is_session(utc(2026, 11, 25, 6, 0), "ETH", nil, "Wed 00:00 CT (overnight)")
is_session(utc(2026, 11, 27, 21, 30), "ETH", utc(2026, 11, 27, 22, 0), "Fri 15:30 CT")
is_session(utc(2026, 11, 27, 22, 0), "WEEKEND", utc(2026, 11, 29, 23, 0), "Fri 16:00 CT (no maintenance)")
is_session(utc(2026, 11, 29, 22, 59, 59), "WEEKEND", utc(2026, 11, 29, 23, 0), "Sun 16:59:59 CT")
is_session(utc(2026, 11, 29, 22, 30), "WEEKEND", nil, "Sun 16:30 CT is WEEKEND, not MAINTENANCE")
is_session(utc(2026, 11, 29, 23, 0), "ETH", utc(2026, 11, 30, 14, 30), "Sun 17:00 CT (Globex open)")
is_session(utc(2026, 11, 24, 15, 30) + 0.75, "RTH", utc(2026, 11, 24, 21, 0), "a float ts (rt.now()) works")

-- Summer (CDT): the same wall clock is one UTC hour earlier.
is_session(utc(2026, 7, 15, 13, 30), "RTH", utc(2026, 7, 15, 20, 0), "Wed 2026-07-15 08:30 CDT")
is_session(utc(2026, 7, 15, 13, 29), "ETH", utc(2026, 7, 15, 13, 30), "Wed 08:29 CDT")
is_session(utc(2026, 7, 15, 21, 30), "MAINTENANCE", utc(2026, 7, 15, 22, 0), "Wed 16:30 CDT")

-- Across the DST switches.
is_session(utc(2026, 3, 7, 12, 0), "WEEKEND", utc(2026, 3, 8, 22, 0),
           "Sat before DST starts: Globex opens Sun 17:00 CDT = 22:00Z")
is_session(utc(2026, 3, 8, 21, 59, 59), "WEEKEND", nil, "Sun 2026-03-08 16:59:59 CDT")
is_session(utc(2026, 3, 8, 22, 0), "ETH", utc(2026, 3, 9, 13, 30), "Sun 17:00 CDT opens; Mon RTH at 13:30Z")
is_session(utc(2026, 3, 9, 13, 30), "RTH", nil, "Mon 2026-03-09 08:30 CDT")
is_session(utc(2026, 10, 31, 12, 0), "WEEKEND", utc(2026, 11, 1, 23, 0),
           "Sat before DST ends: Globex opens Sun 17:00 CST = 23:00Z")
is_session(utc(2026, 11, 2, 14, 30), "RTH", nil, "Mon 2026-11-02 08:30 CST")
is_session(utc(2026, 11, 2, 13, 30), "ETH", nil, "Mon 2026-11-02 07:30 CST (08:30 had it been CDT)")

-- Holidays: the whole trade date is closed (previous 16:00 CT → 17:00 CT on the day).
local list = {}
for _, d in ipairs(MH.holidays) do list[d] = true end
for _, d in ipairs({ "2026-01-01", "2026-04-03", "2026-12-25", "2027-01-01", "2027-03-26", "2027-12-24" }) do
  spec.ok(list[d], "holidays lists " .. d)
end
is_session(utc(2026, 12, 25, 18, 0), "HOLIDAY", utc(2026, 12, 25, 23, 0), "Christmas Fri 2026-12-25 12:00 CT")
is_session(utc(2026, 12, 25, 23, 0), "WEEKEND", utc(2026, 12, 27, 23, 0),
           "Christmas 17:00 CT runs into the weekend")
is_session(utc(2026, 12, 24, 21, 59, 59), "ETH", utc(2026, 12, 24, 22, 0), "Thu 2026-12-24 15:59:59 CT")
is_session(utc(2026, 12, 24, 22, 30), "HOLIDAY", utc(2026, 12, 25, 23, 0),
           "Thu 2026-12-24 16:30 CT: no reopen for the Christmas trade date")
is_session(utc(2025, 12, 31, 22, 30), "HOLIDAY", utc(2026, 1, 1, 23, 0), "Wed 2025-12-31 16:30 CT before New Year")
is_session(utc(2026, 1, 1, 12, 0), "HOLIDAY", utc(2026, 1, 1, 23, 0), "New Year's Day Thu 2026-01-01 06:00 CT")
is_session(utc(2026, 1, 1, 23, 0), "ETH", utc(2026, 1, 2, 14, 30), "Jan 1 17:00 CT reopens for trade date Jan 2")
is_session(utc(2026, 4, 2, 21, 0), "HOLIDAY", utc(2026, 4, 3, 22, 0), "Thu 2026-04-02 16:00 CDT before Good Friday")
is_session(utc(2026, 4, 3, 15, 0), "HOLIDAY", utc(2026, 4, 3, 22, 0), "Good Friday 2026-04-03 10:00 CDT")
is_session(utc(2026, 4, 3, 22, 0), "WEEKEND", utc(2026, 4, 5, 22, 0), "Good Friday 17:00 CDT → weekend")
is_session(utc(2027, 12, 24, 16, 0), "HOLIDAY", nil, "Fri 2027-12-24 (Christmas on a Saturday, observed)")
is_session(utc(2027, 3, 26, 15, 0), "HOLIDAY", nil, "Good Friday 2027-03-26")
is_session(utc(2026, 12, 28, 15, 0), "RTH", nil, "Mon 2026-12-28 09:00 CT is an ordinary day")

-- Follow next_change through one week: the exact sequence of sessions, each change the first one.
local seq, t = {}, utc(2026, 11, 22, 12, 0) -- Sunday 06:00 CT
local first_ok, later_ok = true, true
for _ = 1, 22 do
  local r = MH.session(t)
  seq[#seq + 1] = r.session
  if r.next_change <= t then later_ok = false end
  if MH.session(r.next_change - 1).session ~= r.session then first_ok = false end
  t = r.next_change
end
local day = { "RTH", "ETH", "MAINTENANCE", "ETH" }
local want = { "WEEKEND", "ETH" }
for _ = 1, 4 do for _, s in ipairs(day) do want[#want + 1] = s end end
for _, s in ipairs({ "RTH", "ETH", "WEEKEND", "ETH" }) do want[#want + 1] = s end
spec.same(seq, want, "a week by next_change: Sun open, 4 × (RTH, ETH, MAINTENANCE, ETH), Fri RTH, ETH, WEEKEND")
spec.ok(later_ok, "next_change is always later than ts")
spec.ok(first_ok, "the second before next_change is still the same session")

-- open agrees with session for every 7th minute of a week (both DST regimes).
local consistent = true
for _, start in ipairs({ utc(2026, 2, 1), utc(2026, 6, 7) }) do
  for ts = start, start + 7 * 86400, 420 do
    local r = MH.session(ts)
    if r.open ~= (r.session == "RTH" or r.session == "ETH") or r.next_change <= ts then consistent = false end
  end
end
spec.ok(consistent, "open == (RTH or ETH) and next_change > ts, every 7 minutes over two weeks")

-- Misuse raises (C fails closed).
spec.ok(not pcall(MH.session, "1795534200"), "a string ts raises")
spec.ok(not pcall(MH.session, nil), "a nil ts raises")
spec.ok(not pcall(MH.session, 0 / 0), "a NaN ts raises")
spec.ok(not pcall(MH.session, 1795534200, 42), "a non-string symbol raises")
spec.is(MH.session(1795534200).session, "RTH", "symbol may be nil")

local t0 = rt.now()
for i = 1, 1000 do MH.session(1795534200 + i * 977) end
spec.ok(true, ("diagnostic: 1000 session() calls took %.2f ms"):format((rt.now() - t0) * 1000))
