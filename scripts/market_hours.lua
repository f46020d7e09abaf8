--[[ market_hours.lua — the exchange calendars gatehouse trades by, per symbol root (operator-edited).

INPUT
  session(ts, symbol)
    ts     = epoch seconds, UTC (integer or float; fractions are dropped). Not a number → raises.
    symbol = "ESZ6" | "ES" | "MES.Z6" | "ES.c.0" | "ES Z6" | … | nil. Its root (ES, MES, CL, ZN, …) picks the
             calendar (ROOTS below); a root not listed follows DEFAULT_CALENDAR. nil → DEFAULT_CALENDAR.
  lookback_start(ts, minutes, symbol)
    The instant from which [start, ts) holds `minutes` minutes of open market for symbol's calendar,
    walking back over halts, weekends and holidays (at most LOOKBACK_MAX_DAYS). A tick asks for bars from
    there, so the first tick after a weekend still gets `minutes` of trading, not a weekend of nothing.
OUTPUT
  The chunk returns { session, lookback_start, calendar_of, utc_offset_ct, holidays, calendars, roots }.
  session(ts, symbol) -> {
      open        = bool (true for RTH and ETH only),
      session     = "RTH" | "ETH" | "MAINTENANCE" | "EARLY_CLOSE" | "WEEKEND" | "HOLIDAY",
      next_change = epoch s of the next instant at which `session` changes (> ts),
      next_open   = epoch s of the next instant the market is open (closed only, else nil),
      next_close  = epoch s of the next instant the market is closed (open only, else nil),
      calendar    = calendar id ("cme_equity", …), calendar_name, exchange ("CME", "CBOT", …), root,
      tz          = "America/Chicago" (the exchange's time zone),
      next_open_utc      = "2026-12-06T23:00:00Z"        (closed only)
      next_open_exchange = "2026-12-06T17:00:00-06:00"   (closed only: the exchange's wall clock)
      reason_human = "CME Globex equity index is closed (WEEKEND); it opens Sun 2026-12-06 23:00 UTC
                      (17:00 CST)" | "… is open (RTH) until …" }
  calendar_of(symbol) -> calendar id, root
  utc_offset_ct(ts) -> -18000 (CDT) | -21600 (CST): America/Chicago's offset from UTC in seconds.
  holidays = DEFAULT_CALENDAR's full-closure dates ("YYYY-MM-DD", CT).

CALENDARS (all times US Central, America/Chicago; every CME Group venue keeps CT)
  Each calendar is data: the daily close and reopen, extra breaks, regular trading hours (RTH), holidays
  and early closes. The week opens Sunday at `reopen` and ends Friday at `close`.
  WEEKEND      Friday close → Sunday reopen (and Saturday).
  MAINTENANCE  the daily break close → reopen, Monday–Thursday, and every listed `breaks` window.
  RTH          rth[1]–rth[2], Monday–Friday; ETH every other open minute.
  HOLIDAY      a listed date D closes trade date D: from `close` on the calendar day before D until
               `reopen` on D, when the session of the next trade date opens. A Friday holiday runs into the
               weekend. HOLIDAY wins over WEEKEND and MAINTENANCE.
  EARLY_CLOSE  early_closes[D] = "HH:MM": on D the market halts at that time until `reopen` (on a Friday,
               until the weekend ends).
  DST: US rules (Energy Policy Act 2005) — CDT (UTC−5) from the second Sunday of March 02:00 CST until the
  first Sunday of November 02:00 CDT, CST (UTC−6) otherwise. Computed by scripts/lib/calendar.lua; no os.date.

HOLIDAY SOURCE
  CME Group's holiday calendar (cmegroup.com/tools-information/holiday-calendar.html) and the rules of its
  published schedules; /work/shared/reference/trading-platforms.md gives no exchange calendar.
  Full closures: New Year's Day, Good Friday, Christmas (a Saturday holiday is observed the Friday before:
  2027-12-24; New Year's Day on a Saturday is not observed). US holidays on which Globex trades a short
  session (MLK, Presidents', Memorial, Juneteenth, Independence, Labor, Thanksgiving) halt early and reopen
  for the next trade date at the usual time; the Friday after Thanksgiving and Christmas Eve close early.
  CBOT grains close on those US holidays. Known deviation, kept because a closed reading fails safe: on Good
  Friday 2026-04-03 (a payrolls release day) equity-index futures are expected to trade an abbreviated
  morning. 2025's full closures are listed so backtests over 2025 are right. Check every year against CME's
  published schedule and edit here.
]]

local DAY, CST, CDT = lib.calendar.DAY, lib.calendar.CST, lib.calendar.CDT
local SCAN_DAYS = 10          -- longest closure + margin (session edges are searched this far ahead)
local LOOKBACK_MAX_DAYS = 14  -- lookback_start never reaches further back
local DEFAULT_CALENDAR = "cme_equity"

-- Trade dates closed all day on every CME Group venue.
local FULL_CLOSURES = {
  "2025-01-01", "2025-04-18", "2025-12-25",
  "2026-01-01", "2026-04-03", "2026-12-25",
  "2027-01-01", "2027-03-26", "2027-12-24",
}
-- US holidays on which Globex halts early (observed dates), 2026–2027.
local US_HOLIDAY_HALTS = {
  "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26",
  "2027-01-18", "2027-02-15", "2027-05-31", "2027-06-18", "2027-07-05", "2027-09-06", "2027-11-25",
}
-- The Friday after Thanksgiving and Christmas Eve (early close, then the usual reopen or the weekend).
local SHORT_DAYS = { "2026-11-27", "2026-12-24", "2027-11-26" }

-- early_closes table: every date of `lists` halting at hhmm (the first list's time wins on a clash).
local function halts(...)
  local out, args = {}, { ... }
  for i = 1, #args, 2 do
    for _, d in ipairs(args[i]) do out[d] = out[d] or args[i + 1] end
  end
  return out
end
local function concat(a, b)
  local out = {}
  for _, v in ipairs(a) do out[#out + 1] = v end
  for _, v in ipairs(b) do out[#out + 1] = v end
  return out
end

local CALENDARS = {
  cme_equity = { name = "CME Globex equity index", exchange = "CME", close = "16:00", reopen = "17:00",
                 rth = { "08:30", "15:00" }, holidays = FULL_CLOSURES,
                 early_closes = halts(US_HOLIDAY_HALTS, "12:00", SHORT_DAYS, "12:15") },
  cme_energy = { name = "NYMEX energy", exchange = "NYMEX", close = "16:00", reopen = "17:00",
                 rth = { "08:00", "13:30" }, holidays = FULL_CLOSURES,
                 early_closes = halts(US_HOLIDAY_HALTS, "13:30", SHORT_DAYS, "12:45") },
  comex_metals = { name = "COMEX metals", exchange = "COMEX", close = "16:00", reopen = "17:00",
                   rth = { "07:20", "12:30" }, holidays = FULL_CLOSURES,
                   early_closes = halts(US_HOLIDAY_HALTS, "13:30", SHORT_DAYS, "12:45") },
  cbot_rates = { name = "CBOT interest rates", exchange = "CBOT", close = "16:00", reopen = "17:00",
                 rth = { "07:20", "14:00" }, holidays = FULL_CLOSURES,
                 early_closes = halts(US_HOLIDAY_HALTS, "12:00", SHORT_DAYS, "12:00") },
  cme_fx = { name = "CME FX", exchange = "CME", close = "16:00", reopen = "17:00",
             rth = { "07:20", "14:00" }, holidays = FULL_CLOSURES,
             early_closes = halts(US_HOLIDAY_HALTS, "12:00", SHORT_DAYS, "12:15") },
  cbot_grains = { name = "CBOT grains", exchange = "CBOT", close = "13:20", reopen = "19:00",
                  breaks = { { "07:45", "08:30" } }, rth = { "08:30", "13:20" },
                  holidays = concat(FULL_CLOSURES, US_HOLIDAY_HALTS),
                  early_closes = halts(SHORT_DAYS, "12:05") },
}

local ROOTS = {
  ES = "cme_equity", MES = "cme_equity", NQ = "cme_equity", MNQ = "cme_equity", RTY = "cme_equity",
  M2K = "cme_equity", YM = "cme_equity", MYM = "cme_equity", EMD = "cme_equity", NKD = "cme_equity",
  CL = "cme_energy", MCL = "cme_energy", QM = "cme_energy", NG = "cme_energy", RB = "cme_energy",
  HO = "cme_energy", BZ = "cme_energy",
  GC = "comex_metals", MGC = "comex_metals", SI = "comex_metals", SIL = "comex_metals", HG = "comex_metals",
  PL = "comex_metals", PA = "comex_metals",
  ZT = "cbot_rates", ZF = "cbot_rates", ZN = "cbot_rates", TN = "cbot_rates", ZB = "cbot_rates",
  UB = "cbot_rates",
  ["6A"] = "cme_fx", ["6B"] = "cme_fx", ["6C"] = "cme_fx", ["6E"] = "cme_fx", ["6J"] = "cme_fx",
  ["6M"] = "cme_fx", ["6N"] = "cme_fx", ["6S"] = "cme_fx", M6E = "cme_fx",
  ZC = "cbot_grains", ZS = "cbot_grains", ZW = "cbot_grains", ZM = "cbot_grains", ZL = "cbot_grains",
  KE = "cbot_grains",
}

---------------------------------------------------------------------------------------------------
-- Civil dates and America/Chicago
---------------------------------------------------------------------------------------------------

-- The shared calendar (scripts/lib/calendar.lua): days_from_civil, civil_of_days, weekday (0 = Sunday),
-- nth_sunday, utc_offset_ct and ct_to_utc (exact outside 01:00–03:00 CT, where every session edge is).
local days_from_civil, civil_of_days, weekday = lib.calendar.days_from_civil, lib.calendar.civil_of_days,
  lib.calendar.weekday
local utc_offset_ct, ct_to_utc = lib.calendar.utc_offset_ct, lib.calendar.ct_to_utc

local WEEKDAYS = { [0] = "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" }

local function iso_utc(ts)
  local y, m, d = civil_of_days(ts // DAY)
  local s = ts % DAY
  return ("%04d-%02d-%02dT%02d:%02d:%02dZ"):format(y, m, d, s // 3600, s % 3600 // 60, s % 60)
end

-- "2026-12-06T17:00:00-06:00": ts on the exchange's wall clock, with its offset.
local function iso_ct(ts)
  local off = utc_offset_ct(ts)
  local lt = ts + off
  local y, m, d = civil_of_days(lt // DAY)
  local s = lt % DAY
  return ("%04d-%02d-%02dT%02d:%02d:%02d-%02d:00"):format(y, m, d, s // 3600, s % 3600 // 60, s % 60,
                                                           -off // 3600)
end

-- "Sun 2026-12-06 23:00 UTC (17:00 CST)"
local function when_text(ts)
  local lt = ts + utc_offset_ct(ts)
  return ("%s %s %02d:%02d UTC (%02d:%02d %s)"):format(WEEKDAYS[weekday(ts // DAY)], iso_utc(ts):sub(1, 10),
    ts % DAY // 3600, ts % 3600 // 60, lt % DAY // 3600, lt % 3600 // 60,
    utc_offset_ct(ts) == CDT and "CDT" or "CST")
end

---------------------------------------------------------------------------------------------------
-- Calendars as minutes of the CT day (validated when the chunk loads: a bad entry fails the load)
---------------------------------------------------------------------------------------------------

local function minute_of(hhmm, where)
  local h, m
  if type(hhmm) == "string" then h, m = hhmm:match("^(%d%d):(%d%d)$") end
  h, m = tonumber(h), tonumber(m)
  if not h or h > 24 or m > 59 or (h == 24 and m > 0) then
    error(("market_hours.lua: %s = %q is not HH:MM"):format(where, tostring(hhmm)), 0)
  end
  return h * 60 + m
end

local function day_of(s, where)
  local y, m, d
  if type(s) == "string" then y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$") end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 or d > 31 then
    error(("market_hours.lua: %s = %q is not a YYYY-MM-DD date"):format(where, tostring(s)), 0)
  end
  return days_from_civil(y, m, d)
end

local function compile(id, c)
  local where = "calendars." .. id
  local cal = { id = id, name = c.name, exchange = c.exchange, holidays = {}, early = {}, breaks = {} }
  cal.close, cal.reopen = minute_of(c.close, where .. ".close"), minute_of(c.reopen, where .. ".reopen")
  cal.rth_open, cal.rth_close = minute_of(c.rth[1], where .. ".rth[1]"), minute_of(c.rth[2], where .. ".rth[2]")
  local edges = { [0] = true, [cal.close] = true, [cal.reopen] = true, [cal.rth_open] = true,
                  [cal.rth_close] = true }
  for i, b in ipairs(c.breaks or {}) do
    local from, to = minute_of(b[1], where .. ".breaks[" .. i .. "]"), minute_of(b[2], where .. ".breaks[" .. i .. "]")
    cal.breaks[#cal.breaks + 1] = { from, to }
    edges[from], edges[to] = true, true
  end
  for i, s in ipairs(c.holidays) do cal.holidays[day_of(s, where .. ".holidays[" .. i .. "]")] = true end
  for s, hhmm in pairs(c.early_closes or {}) do
    local m = minute_of(hhmm, where .. ".early_closes[" .. s .. "]")
    cal.early[day_of(s, where .. ".early_closes key")] = m
    edges[m] = true
  end
  cal.edges = {}
  for m in pairs(edges) do cal.edges[#cal.edges + 1] = m end
  table.sort(cal.edges)
  return cal
end

local COMPILED = {}
for id, c in pairs(CALENDARS) do COMPILED[id] = compile(id, c) end
for root, id in pairs(ROOTS) do
  if not COMPILED[id] then error(("market_hours.lua: roots.%s names unknown calendar %q"):format(root, id), 0) end
end
if not COMPILED[DEFAULT_CALENDAR] then error("market_hours.lua: DEFAULT_CALENDAR names no calendar", 0) end

-- Session name of calendar cal at UTC second ts.
local function classify(cal, ts)
  local lt = ts + utc_offset_ct(ts)
  local days, minute = lt // DAY, (lt % DAY) // 60
  local wd = weekday(days)
  if (cal.holidays[days] and minute < cal.reopen) or (cal.holidays[days + 1] and minute >= cal.close) then
    return "HOLIDAY"
  end
  if wd == 6 or (wd == 0 and minute < cal.reopen) or (wd == 5 and minute >= cal.close) then return "WEEKEND" end
  local early = cal.early[days]
  if early and minute >= early and minute < cal.reopen then return "EARLY_CLOSE" end
  if minute >= cal.close and minute < cal.reopen then return "MAINTENANCE" end
  for _, b in ipairs(cal.breaks) do
    if wd >= 1 and wd <= 5 and minute >= b[1] and minute < b[2] then return "MAINTENANCE" end
  end
  if wd >= 1 and wd <= 5 and minute >= cal.rth_open and minute < cal.rth_close then return "RTH" end
  return "ETH"
end

local function is_open(name) return name == "RTH" or name == "ETH" end

-- The first session edge after ts for which want(name) holds, or nil within SCAN_DAYS.
local function next_edge(cal, ts, want)
  local today = (ts + utc_offset_ct(ts)) // DAY
  for d = today, today + SCAN_DAYS do
    for _, minute in ipairs(cal.edges) do
      local edge = ct_to_utc(d, minute)
      if edge > ts then
        local name = classify(cal, edge)
        if want(name) then return edge, name end
      end
    end
  end
  return nil
end

-- The last session edge before ts (midnight is always an edge, so one exists within a day).
local function prev_edge(cal, ts)
  local today = (ts + utc_offset_ct(ts)) // DAY
  for d = today, today - 2, -1 do
    for i = #cal.edges, 1, -1 do
      local edge = ct_to_utc(d, cal.edges[i])
      if edge < ts then return edge end
    end
  end
  return ts - DAY
end

---------------------------------------------------------------------------------------------------
-- API
---------------------------------------------------------------------------------------------------

local function calendar_of(symbol)
  if symbol == nil then return DEFAULT_CALENDAR, nil end
  if type(symbol) ~= "string" then error("market_hours.calendar_of: symbol must be a string or nil", 2) end
  local root = lib.symbol.root_of(symbol, ROOTS) -- a listed root is kept whole
  return ROOTS[root] or DEFAULT_CALENDAR, root
end

local function check_ts(ts, fn)
  if type(ts) ~= "number" or ts ~= ts or ts == math.huge or ts == -math.huge then
    error("market_hours." .. fn .. ": ts must be epoch seconds (number), got " .. type(ts), 3)
  end
  return math.floor(ts)
end

local function check_symbol(symbol, fn)
  if symbol ~= nil and type(symbol) ~= "string" then
    error("market_hours." .. fn .. ": symbol must be a string or nil", 3)
  end
end

local function session(ts, symbol)
  ts = check_ts(ts, "session")
  check_symbol(symbol, "session")
  local id, root = calendar_of(symbol)
  local cal = COMPILED[id]
  local now = classify(cal, ts)
  local change = next_edge(cal, ts, function(name) return name ~= now end)
  if not change then
    error("market_hours.session: no session change within " .. SCAN_DAYS .. " days (holiday list?)", 2)
  end
  local r = { open = is_open(now), session = now, next_change = change, calendar = id, calendar_name = cal.name,
              exchange = cal.exchange, root = root, tz = "America/Chicago" }
  if r.open then
    r.next_close = next_edge(cal, ts, function(name) return not is_open(name) end)
    r.reason_human = ("%s is open (%s) until %s"):format(cal.name, now,
                                                          r.next_close and when_text(r.next_close) or "later")
  else
    r.next_open = next_edge(cal, ts, is_open)
    if not r.next_open then
      error("market_hours.session: no open session within " .. SCAN_DAYS .. " days (holiday list?)", 2)
    end
    r.next_open_utc, r.next_open_exchange = iso_utc(r.next_open), iso_ct(r.next_open)
    r.reason_human = ("%s is closed (%s); it opens %s"):format(cal.name, now, when_text(r.next_open))
  end
  return r
end

local function lookback_start(ts, minutes, symbol)
  ts = check_ts(ts, "lookback_start")
  check_symbol(symbol, "lookback_start")
  if type(minutes) ~= "number" or minutes <= 0 or minutes ~= minutes or minutes == math.huge then
    error("market_hours.lookback_start: minutes must be a positive number", 2)
  end
  local cal = COMPILED[(calendar_of(symbol))]
  local need, t, limit = minutes * 60, ts, ts - LOOKBACK_MAX_DAYS * DAY
  while need > 0 and t > limit do
    local from = math.max(prev_edge(cal, t), limit)
    if is_open(classify(cal, from)) then
      local take = math.min(need, t - from)
      need = need - take
      if need == 0 then return t - take end
    end
    t = from
  end
  return t
end

return { session = session, lookback_start = lookback_start, calendar_of = calendar_of,
         utc_offset_ct = utc_offset_ct, holidays = CALENDARS[DEFAULT_CALENDAR].holidays,
         calendars = CALENDARS, roots = ROOTS }
