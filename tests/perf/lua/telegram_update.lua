-- wrk script: one Telegram text update per request, each with a new update_id and message_id, from
-- BENCH_CUSTOMERS customers (default 500). Environment: BENCH_OFFSET (first id), BENCH_SECRET (webhook
-- secret header), BENCH_DELAY_MS (pause before each request on a connection), BENCH_RATE (requests per
-- second over all connections, on a fixed schedule: a request late because the server was slow is sent at
-- once, so the offered rate does not sag with the latency it measures), BENCH_TOTAL (this many distinct
-- updates, then the last one again until the harness stops wrk with SIGINT). Prints one WRKJSON line with
-- the figures the harness reads. tests/perf/bench_suppgram.py builds the same updates in Python: keep them
-- in step.
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "500")
local secret = os.getenv("BENCH_SECRET")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local total = tonumber(os.getenv("BENCH_TOTAL") or "0")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local counter = 0
local verified = false

if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 / rate
  local due = nil
  delay = function()
    local now = now_ms()
    due = math.max(due or now, now - 1000) -- at most a second behind the schedule
    local wait = due - now
    due = due + interval
    return math.max(0, math.floor(wait + 0.5))
  end
elseif delay_ms > 0 then
  -- spaced requests: "one webhook at a time", each meeting a server that finished the previous one
  delay = function() return delay_ms end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if secret and secret ~= "" then
  wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = secret
end

request = function()
  if not verified then
    -- wrk calls request() once before the run to check what it returns, and never sends that one
    verified = true
    return wrk.format(nil, nil, nil, "{}")
  end
  local n
  if total > 0 and counter >= total then
    -- past the total: redeliver the last update (the server stores it once) until the harness stops wrk
    n = offset + total
  else
    counter = counter + 1
    n = offset + counter
  end
  local uid = 100000 + n % customers
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,"date":%d,' ..
    '"from":{"id":%d,"is_bot":false,"first_name":"Покупатель","last_name":"%d","language_code":"ru"},' ..
    '"chat":{"id":%d,"type":"private","first_name":"Покупатель","last_name":"%d"},' ..
    '"text":"Сообщение номер %d: где мой заказ?"}}',
    10000000 + n, n, os.time(), uid, uid, uid, uid, n)
  return wrk.format(nil, nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
