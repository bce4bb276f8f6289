-- Shared by every bench script: a fresh nonce per request, and one machine-readable result line.
-- Nonce = BENCH_RUN_ID (unique per run) .. "-" .. thread id .. "-" .. per-thread counter.
local M = {}
local threads = {}
local next_id = 0

function M.setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function M.done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do
    wraps = wraps + (tonumber(t:get("wraps")) or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"pool_wraps":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, wraps))
end

M.run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
return M
