--[[ lib/calendar.lua — civil dates and America/Chicago time, shared by every policy as lib.calendar.

INPUT / OUTPUT (pure functions; integers in, integers out; no os.date)
  DAY = 86400; CST = -21600, CDT = -18000 (America/Chicago offsets from UTC, in seconds)
  days_from_civil(y, m, d) -> days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)
  civil_of_days(z)         -> y, m, d of day number z (civil_from_days)
  weekday(days)            -> 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday)
  nth_sunday(y, m, n)      -> day number of the n-th Sunday of month m of year y
  utc_offset_ct(ts)        -> CDT | CST at UTC second ts. US rules (Energy Policy Act 2005): CDT from the
                              second Sunday of March 02:00 CST until the first Sunday of November 02:00 CDT.
  ct_to_utc(days, minute)  -> UTC second of CT wall-clock minute `minute` on CT day `days`. Exact for minutes
                              outside 01:00–03:00, where the DST switch makes wall-clock times missing or
                              repeated.
  The module is frozen (lib tables are read-only): a policy that wants other rules keeps its own copy.
]]

local DAY = 86400
local CST, CDT = -6 * 3600, -5 * 3600

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

local function civil_of_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d, m = doy - (153 * mp + 2) // 5 + 1, mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local function weekday(days) return (days + 4) % 7 end

local function nth_sunday(y, m, n)
  local first = days_from_civil(y, m, 1)
  return first + (7 - weekday(first)) % 7 + 7 * (n - 1)
end

local function utc_offset_ct(ts)
  local y = civil_of_days(ts // DAY)
  local dst_start = nth_sunday(y, 3, 2) * DAY + 2 * 3600 - CST -- 02:00 CST = 08:00 UTC
  local dst_end = nth_sunday(y, 11, 1) * DAY + 2 * 3600 - CDT   -- 02:00 CDT = 07:00 UTC
  return (ts >= dst_start and ts < dst_end) and CDT or CST
end

local function ct_to_utc(days, minute)
  local lt = days * DAY + minute * 60
  local ts = lt - CST
  if utc_offset_ct(ts) == CDT then ts = lt - CDT end
  return ts
end

return { DAY = DAY, CST = CST, CDT = CDT, days_from_civil = days_from_civil, civil_of_days = civil_of_days,
         weekday = weekday, nth_sunday = nth_sunday, utc_offset_ct = utc_offset_ct, ct_to_utc = ct_to_utc }
