-- wrk script for bench/serve.sh: every request carries one of the pre-formatted requests,
-- chosen at random (one per token), and the run's summary is written as JSON.
--
--   BENCH_AUTH      file of Authorization header values, one per line (required)
--   BENCH_PATH      request path (default /api/items)
--   BENCH_ORIGINAL  if set, also sent as X-Original-URI (what nginx sends keyctl)
--   BENCH_OUT       where done() writes the summary (required)
--
-- The requests are formatted once, in init(), so that choosing one costs wrk a random
-- number and a table index, the same for every server measured.

local reqs = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  -- A different sequence in each thread (each has its own Lua state) and each run.
  math.randomseed(os.time() * 1000 + (id or 0) * 7919 + tonumber(tostring({}):sub(8), 16) % 100000)
  local path = os.getenv("BENCH_PATH") or "/api/items"
  local original = os.getenv("BENCH_ORIGINAL")
  for line in io.lines(os.getenv("BENCH_AUTH")) do
    local headers = { ["Authorization"] = line }
    if original then headers["X-Original-URI"] = original end
    reqs[#reqs + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  return reqs[math.random(#reqs)]
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local f = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  f:write(string.format(
    '{"requests": %d, "seconds": %.3f, "per_second": %.1f, "not_2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, seconds, summary.requests / seconds, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  f:close()
end
