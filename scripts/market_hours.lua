--[[ market_hours.lua — the CME Globex trading calendar gatehouse uses for every symbol (operator-edited).

INPUT
  session(ts, symbol)
    ts     = epoch seconds, UTC (integer or float; fractions are dropped). Not a number → raises.
    symbol = "ESZ6" | … | nil. Every symbol follows the CME Globex equity-index calendar below (it is
             also right for most CME futures outside grains and livestock); symbol is accepted so a
             per-product calendar can be added without changing the C side, and is otherwise unused.
OUTPUT
  The chunk returns { session, holidays, utc_offset_ct }.
  session(ts, symbol) -> { open = bool, session = "RTH" | "ETH" | "MAINTENANCE" | "WEEKEND" | "HOLIDAY",
                           next_change = <epoch s of the next instant at which `session` changes> }
    open is true for RTH and ETH only. next_change is strictly greater than ts.
  utc_offset_ct(ts) -> -18000 (CDT) | -21600 (CST): America/Chicago's offset from UTC in seconds.
  holidays = { "YYYY-MM-DD", … }: CT dates (validated when the chunk loads; a bad entry fails the load).

CALENDAR (all times US Central, America/Chicago)
  Globex week    Sunday 17:00 → Friday 16:00. WEEKEND is Friday 16:00 → Sunday 17:00.
  MAINTENANCE    the daily break 16:00–17:00, Monday–Thursday.
  RTH            08:30–15:00, Monday–Friday (regular trading hours of the equity-index pit session).
  ETH            every other minute of the Globex week (open).
  HOLIDAY        a listed date D closes CME trade date D: from 16:00 on the calendar day before D (the
                 previous session's close) until 17:00 on D, when Globex reopens for the next trade date.
                 So Thursday 2026-01-01 reads HOLIDAY from Wed 16:00 to Thu 17:00 and ETH after; a Friday
                 holiday runs straight into the weekend. HOLIDAY wins over WEEKEND and MAINTENANCE.
  Early closes (the 12:00/12:15 CT halts around MLK, Presidents', Memorial, Independence, Labor and
  Thanksgiving days and Christmas Eve) are not modelled: those days read as ordinary sessions.
  DST: US rules (Energy Policy Act 2005) — CDT (UTC−5) from the second Sunday of March 02:00 CST until
  the first Sunday of November 02:00 CDT, CST (UTC−6) otherwise. Computed here; no os.date.

HOLIDAY SOURCE
  /work/shared/reference/trading-platforms.md gives no exchange calendar, so the list is the CME full-day
  closures that recur every year — New Year's Day, Good Friday, Christmas Day — taken from CME Group's
  holiday calendar (cmegroup.com/tools-information/holiday-calendar.html) and the rules of its published
  schedules. A holiday on a Saturday is observed the Friday before (2027-12-24, as CME and NYSE did on
  2021-12-24); New Year's Day on a Saturday is not observed. Known deviation, kept on purpose because a
  closed reading fails safe: on Good Friday 2026-04-03 (a payrolls release day) CME equity-index futures
  are expected to trade an abbreviated morning session. 2025 is listed so backtests over it are right.
  Check every year against CME's published schedule and edit here.
]]

local HOLIDAYS = {
  "2025-01-01", "2025-04-18", "2025-12-25",
  "2026-01-01", "2026-04-03", "2026-12-25",
  "2027-01-01", "2027-03-26", "2027-12-24",
}

local DAY = 86400
local CST, CDT = -6 * 3600, -5 * 3600
local RTH_OPEN, RTH_CLOSE, HALT, REOPEN = 8 * 60 + 30, 15 * 60, 16 * 60, 17 * 60 -- minutes of the CT day
local BOUNDARIES = { RTH_OPEN, RTH_CLOSE, HALT, REOPEN }                         -- every session edge
local SCAN_DAYS = 10                                                             -- longest closure + margin

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- The year of a day number (only the year is needed here).
local function year_of_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  return yoe + era * 400 + (mp >= 10 and 1 or 0)
end

local function weekday(days) return (days + 4) % 7 end -- 0 = Sunday; 1970-01-01 was a Thursday

-- Day number of the n-th Sunday of month m of year y.
local function nth_sunday(y, m, n)
  local first = days_from_civil(y, m, 1)
  return first + (7 - weekday(first)) % 7 + 7 * (n - 1)
end

local function utc_offset_ct(ts)
  local y = year_of_days(ts // DAY)
  local dst_start = nth_sunday(y, 3, 2) * DAY + 2 * 3600 - CST -- 02:00 CST = 08:00 UTC
  local dst_end = nth_sunday(y, 11, 1) * DAY + 2 * 3600 - CDT   -- 02:00 CDT = 07:00 UTC
  return (ts >= dst_start and ts < dst_end) and CDT or CST
end

local HOLIDAY_DAYS = {}
for i, s in ipairs(HOLIDAYS) do
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if not y or m < 1 or m > 12 or d < 1 or d > 31 then
    error(("market_hours.lua: holidays[%d] = %q is not a YYYY-MM-DD date"):format(i, tostring(s)), 0)
  end
  HOLIDAY_DAYS[days_from_civil(y, m, d)] = true
end

-- Session name at UTC second ts.
local function classify(ts)
  local lt = ts + utc_offset_ct(ts)
  local days, minute = lt // DAY, (lt % DAY) // 60
  local wd = weekday(days)
  if (HOLIDAY_DAYS[days] and minute < REOPEN) or (HOLIDAY_DAYS[days + 1] and minute >= HALT) then
    return "HOLIDAY"
  end
  if wd == 6 or (wd == 0 and minute < REOPEN) or (wd == 5 and minute >= HALT) then return "WEEKEND" end
  if minute >= HALT and minute < REOPEN then return "MAINTENANCE" end
  if wd >= 1 and wd <= 5 and minute >= RTH_OPEN and minute < RTH_CLOSE then return "RTH" end
  return "ETH"
end

-- UTC second of CT wall-clock minute `minute` on CT day `days`. Exact for minutes outside 01:00–03:00
-- (every session edge is), where the DST switch makes wall-clock times missing or repeated.
local function ct_to_utc(days, minute)
  local lt = days * DAY + minute * 60
  local ts = lt - CST
  if utc_offset_ct(ts) == CDT then ts = lt - CDT end
  return ts
end

local function session(ts, symbol)
  if type(ts) ~= "number" or ts ~= ts or ts == math.huge or ts == -math.huge then
    error("market_hours.session: ts must be epoch seconds (number), got " .. type(ts), 2)
  end
  if symbol ~= nil and type(symbol) ~= "string" then
    error("market_hours.session: symbol must be a string or nil", 2)
  end
  ts = math.floor(ts)
  local now = classify(ts)
  local today = (ts + utc_offset_ct(ts)) // DAY
  for d = today, today + SCAN_DAYS do
    for _, minute in ipairs(BOUNDARIES) do
      local edge = ct_to_utc(d, minute)
      if edge > ts and classify(edge) ~= now then
        return { open = (now == "RTH" or now == "ETH"), session = now, next_change = edge }
      end
    end
  end
  error("market_hours.session: no session change within " .. SCAN_DAYS .. " days (holiday list?)", 2)
end

return { session = session, holidays = HOLIDAYS, utc_offset_ct = utc_offset_ct }
