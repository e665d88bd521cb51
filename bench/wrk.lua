-- wrk script for the bench (bench/wrk.py runs it): one request shape, with a fresh id in each request when
-- an ids file is given, status counts kept per thread and everything printed as one JSON line at the end.
--
--   wrk -t1 -c50 -d20s --timeout 10s -H 'X-Api-Key: …' -s bench/wrk.lua http://127.0.0.1:PORT \
--       -- METHOD PATH IDS_FILE BODY_FILE
--
-- PATH and the body (read from BODY_FILE, "-" for none) may hold "{id}", replaced by the next line of IDS_FILE
-- ("-" for none); thread k of n takes lines k, k+n, k+2n … and starts again at its first when it has used
-- them all (counted as "wrapped": the run outlasted the ids the bench made for it). Headers come from -H.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

-- per thread (each has its own Lua state) --------------------------------------------------------------------

local method, path, body
local ids, next_id = {}, 1
counts, wrapped, no_retry_after, id_count = {}, 0, 0, 0

local function read_file(name)
  local f = assert(io.open(name, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  method, path = args[1], args[2]
  local ids_file, body_file, threads_total = args[3], args[4], tonumber(args[5] or "1")
  if body_file and body_file ~= "-" then body = read_file(body_file) end
  if ids_file and ids_file ~= "-" then
    local i = 0
    for line in io.lines(ids_file) do
      if line ~= "" then
        if i % threads_total == tid then ids[#ids + 1] = line end
        i = i + 1
      end
    end
    id_count = #ids
  end
end

function request()
  if #ids == 0 then
    return wrk.format(method, path, nil, body)
  end
  local id = ids[next_id]
  next_id = next_id + 1
  if next_id > #ids then
    next_id = 1
    wrapped = wrapped + 1
  end
  local b = body and body:gsub("{id}", id) or nil
  return wrk.format(method, (path:gsub("{id}", id)), nil, b)
end

function response(status, headers, _)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  if status == 503 and not (headers["Retry-After"] or headers["retry-after"]) then
    no_retry_after = no_retry_after + 1
  end
end

-- once, after every thread stopped -----------------------------------------------------------------------------

local function json_object(t)
  local parts = {}
  for k, v in pairs(t) do
    local value
    if type(v) == "table" then value = json_object(v)
    elseif v ~= v or v == math.huge or v == -math.huge then value = "null"  -- no samples: nan
    else value = string.format("%.17g", v) end
    parts[#parts + 1] = string.format("%q: %s", tostring(k), value)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, _)
  local status, wraps, missing_retry_after, ids_total = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("counts") or {}) do status[k] = (status[k] or 0) + v end
    wraps = wraps + (thread:get("wrapped") or 0)
    missing_retry_after = missing_retry_after + (thread:get("no_retry_after") or 0)
    ids_total = ids_total + (thread:get("id_count") or 0)
  end
  local out = {
    duration_us = summary.duration, requests = summary.requests, bytes = summary.bytes,
    errors = {connect = summary.errors.connect, read = summary.errors.read, write = summary.errors.write,
              status = summary.errors.status, timeout = summary.errors.timeout},
    latency_us = {min = latency.min, max = latency.max, mean = latency.mean, stdev = latency.stdev,
                  p50 = latency:percentile(50), p90 = latency:percentile(90), p99 = latency:percentile(99),
                  p999 = latency:percentile(99.9)},
    status = status, wrapped = wraps, no_retry_after_503 = missing_retry_after, ids = ids_total,
  }
  io.write("WRK_JSON " .. json_object(out) .. "\n")
end
