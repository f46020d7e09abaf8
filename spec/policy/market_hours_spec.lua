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
is_session(utc(2026, 11, 20, 21, 30), "ETH", utc(2026, 11, 20, 22, 0), "Fri 2026-11-20 15:30 CT")
is_session(utc(2026, 11, 20, 22, 0), "WEEKEND", utc(2026, 11, 22, 23, 0), "Fri 16:00 CT (no maintenance)")
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
is_session(utc(2026, 12, 24, 18, 14, 59), "RTH", utc(2026, 12, 24, 18, 15), "Christmas Eve 12:14:59 CT")
is_session(utc(2026, 12, 24, 18, 15), "EARLY_CLOSE", utc(2026, 12, 24, 22, 0), "Christmas Eve closes early at 12:15 CT")
is_session(utc(2026, 12, 24, 21, 59, 59), "EARLY_CLOSE", utc(2026, 12, 24, 22, 0), "Thu 2026-12-24 15:59:59 CT")
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

-- US holidays on which Globex trades a short session: an early halt, then the usual reopen (equity index).
is_session(utc(2026, 11, 26, 17, 59, 59), "RTH", utc(2026, 11, 26, 18, 0), "Thanksgiving 11:59:59 CT")
is_session(utc(2026, 11, 26, 18, 0), "EARLY_CLOSE", utc(2026, 11, 26, 23, 0), "Thanksgiving halts at 12:00 CT")
is_session(utc(2026, 11, 26, 23, 0), "ETH", nil, "Thanksgiving 17:00 CT reopens for Friday")
spec.is(is_session(utc(2026, 11, 27, 18, 15), "EARLY_CLOSE", utc(2026, 11, 27, 22, 0),
                   "the Friday after Thanksgiving closes at 12:15 CT").next_open, utc(2026, 11, 29, 23, 0),
        "and opens again Sunday 17:00 CT")
is_session(utc(2026, 11, 27, 22, 0), "WEEKEND", utc(2026, 11, 29, 23, 0), "and reads WEEKEND from 16:00 CT")
is_session(utc(2026, 1, 19, 18, 30), "EARLY_CLOSE", utc(2026, 1, 19, 23, 0), "MLK day 12:30 CT: halted")
spec.is(is_session(utc(2026, 7, 3, 17, 30), "EARLY_CLOSE", utc(2026, 7, 3, 21, 0),
                   "Independence Day observed Fri 2026-07-03 12:30 CDT: halted").next_open, utc(2026, 7, 5, 22, 0),
        "into the weekend: opens Sunday 17:00 CDT")
is_session(utc(2027, 7, 5, 16, 59), "RTH", utc(2027, 7, 5, 17, 0), "Mon 2027-07-05 11:59 CDT (observed July 4)")

-- Follow next_change through one week: the exact sequence of sessions, each change the first one.
local seq, t = {}, utc(2026, 11, 15, 12, 0) -- Sunday 06:00 CT (a week without a holiday)
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

-- Calendars per symbol root.
local function cal(sym) return (MH.calendar_of(sym)) end
spec.is(cal("ESZ6"), "cme_equity", "ESZ6 → CME equity index")
spec.is(select(2, MH.calendar_of("ESZ6")), "ES", "ESZ6's root is ES")
spec.is(select(2, MH.calendar_of("MES.Z6")), "MES", "MES.Z6's root is MES")
spec.is(select(2, MH.calendar_of("ES.c.0")), "ES", "ES.c.0 (continuous) → ES")
spec.is(select(2, MH.calendar_of("ES Z6")), "ES", "'ES Z6' → ES")
spec.is(select(2, MH.calendar_of("esz6")), "ES", "lower case esz6 → ES")
spec.is(select(2, MH.calendar_of("NQZ26")), "NQ", "NQZ26 (two-digit year) → NQ (Q is also a month code)")
spec.is(select(2, MH.calendar_of("MNQH7")), "MNQ", "MNQH7 → MNQ")
spec.is(cal("CLF7"), "cme_energy", "CLF7 → NYMEX energy")
spec.is(cal("GCZ6"), "comex_metals", "GCZ6 → COMEX metals")
spec.is(cal("ZNH7"), "cbot_rates", "ZNH7 → CBOT rates (N is also a month code)")
spec.is(cal("6EH7"), "cme_fx", "6EH7 → CME FX")
spec.is(cal("ZCZ6"), "cbot_grains", "ZCZ6 → CBOT grains")
spec.is(cal("A"), "cme_equity", "an unlisted root follows DEFAULT_CALENDAR")
spec.is(cal(nil), "cme_equity", "no symbol → DEFAULT_CALENDAR")

-- Grains keep their own hours: 19:00–07:45 and 08:30–13:20 CT, closed on US holidays.
local function sess(ts, sym) return MH.session(ts, sym).session end
spec.is(sess(utc(2026, 12, 8, 15, 0), "ZCZ6"), "RTH", "grains Tue 09:00 CT: RTH")
spec.is(sess(utc(2026, 12, 8, 14, 0), "ZCZ6"), "MAINTENANCE", "grains Tue 08:00 CT: the morning break")
spec.is(sess(utc(2026, 12, 8, 20, 0), "ZCZ6"), "MAINTENANCE", "grains Tue 14:00 CT: closed until 19:00")
spec.is(sess(utc(2026, 12, 8, 20, 0), "ESZ6"), "RTH", "while ES trades (14:00 CT)")
spec.is(sess(utc(2026, 12, 9, 2, 0), "ZCZ6"), "ETH", "grains Tue 20:00 CT: the night session")
spec.is(sess(utc(2026, 12, 6, 23, 30), "ZCZ6"), "WEEKEND", "grains Sun 17:30 CT: not open before 19:00")
spec.is(sess(utc(2026, 12, 7, 1, 0), "ZCZ6"), "ETH", "grains Sun 19:00 CT: open")
spec.is(sess(utc(2026, 1, 19, 15, 0), "ZCZ6"), "HOLIDAY", "grains close all day on MLK day")
spec.is(sess(utc(2026, 1, 19, 15, 0), "ESZ6"), "RTH", "while ES trades MLK morning")
spec.is(sess(utc(2026, 12, 8, 14, 0), "CLF7"), "RTH", "energy RTH opens at 08:00 CT")
spec.is(sess(utc(2026, 1, 19, 19, 0), "CLF7"), "RTH", "energy trades MLK day until 13:30 CT")
spec.is(sess(utc(2026, 1, 19, 19, 30), "CLF7"), "EARLY_CLOSE", "energy halts at 13:30 CT on MLK day")

-- The next open, in UTC and on the exchange's clock, and the words the trace shows.
local sat = MH.session(utc(2026, 12, 5, 22, 0), "ESZ6")
spec.is(sat.open, false, "Saturday 2026-12-05 22:00Z: closed")
spec.is(sat.next_open, utc(2026, 12, 6, 23, 0), "next_open = Sunday 23:00Z")
spec.is(sat.next_open_utc, "2026-12-06T23:00:00Z", "next_open_utc")
spec.is(sat.next_open_exchange, "2026-12-06T17:00:00-06:00", "next_open_exchange (17:00 CST)")
spec.is(sat.tz, "America/Chicago", "tz")
spec.is(sat.exchange, "CME", "exchange")
spec.is(sat.reason_human, "CME Globex equity index is closed (WEEKEND); it opens Sun 2026-12-06 23:00 UTC (17:00 CST)",
        "reason_human names the next open in UTC and exchange time")
spec.is(sat.next_close, nil, "no next_close while closed")
local summer = MH.session(utc(2026, 7, 14, 21, 30), "ESU6")
spec.is(summer.session, "MAINTENANCE", "Tue 2026-07-14 21:30Z (16:30 CDT): the daily halt")
spec.is(summer.next_open_exchange, "2026-07-14T17:00:00-05:00", "reopens 17:00 CDT")
local tue = MH.session(utc(2026, 12, 8, 15, 0), "ESZ6")
spec.is(tue.next_open, nil, "no next_open while open")
spec.is(tue.next_close, utc(2026, 12, 8, 22, 0), "next_close = the 16:00 CT halt (RTH → ETH is not a close)")
spec.ok(tue.reason_human:find("is open %(RTH%) until Tue 2026%-12%-08 22:00 UTC %(16:00 CST%)"), "open reason_human")

-- lookback_start: minutes of open market, walking back over closures.
spec.is(MH.lookback_start(utc(2026, 12, 8, 15, 0), 240, "ESZ6"), utc(2026, 12, 8, 11, 0),
        "Tue 09:00 CT: 240 minutes back is 05:00 CT (no closure in between)")
spec.is(MH.lookback_start(utc(2026, 12, 8, 23, 30), 240, "ESZ6"), utc(2026, 12, 8, 18, 30),
        "Tue 17:30 CT: 30 minutes since the reopen + 210 before the 16:00 halt = 12:30 CT")
spec.is(MH.lookback_start(utc(2026, 12, 6, 23, 5), 240, "ESZ6"), utc(2026, 12, 4, 18, 5),
        "Sun 17:05 CT: 5 minutes of the new week + 235 of Friday = Fri 12:05 CT")
spec.is(MH.lookback_start(utc(2026, 12, 5, 22, 0), 60, "ESZ6"), utc(2026, 12, 4, 21, 0),
        "Saturday: the last 60 open minutes end at Friday's close")
spec.is(MH.lookback_start(utc(2026, 12, 8, 15, 0) + 0.5, 1, "ESZ6"), utc(2026, 12, 8, 14, 59),
        "a float ts is floored")
spec.ok(MH.lookback_start(utc(2026, 12, 8, 15, 0), 1e9, "ESZ6") >= utc(2026, 12, 8, 15, 0) - 14 * 86400,
        "never more than 14 days back")
spec.ok(not pcall(MH.lookback_start, utc(2026, 12, 8, 15, 0), 0, "ESZ6"), "minutes 0 raises")
spec.ok(not pcall(MH.lookback_start, utc(2026, 12, 8, 15, 0), "240", "ESZ6"), "a string minutes raises")

-- Misuse raises (C fails closed).
spec.ok(not pcall(MH.session, "1795534200"), "a string ts raises")
spec.ok(not pcall(MH.session, nil), "a nil ts raises")
spec.ok(not pcall(MH.session, 0 / 0), "a NaN ts raises")
spec.ok(not pcall(MH.session, 1795534200, 42), "a non-string symbol raises")
spec.is(MH.session(1795534200).session, "RTH", "symbol may be nil")

local t0 = rt.now()
for i = 1, 1000 do MH.session(1795534200 + i * 977) end
spec.ok(true, ("diagnostic: 1000 session() calls took %.2f ms"):format((rt.now() - t0) * 1000))
