-- Shared by every scenario: thread numbering, pool files, client addresses, a JSON summary.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then table.insert(lines, line) end
  end
  return lines
end

-- This thread's share of a pool file: lines tid, tid + n, tid + 2n, ... (no token is shared).
function my_share(path, nthreads)
  local all = read_lines(path)
  local mine = {}
  for i = tid + 1, #all, nthreads do table.insert(mine, all[i]) end
  if #mine == 0 then mine = all end
  return mine
end

-- A client address from 10.0.0.0/8: the service runs behind a trusted proxy (MUSICEZ_TRUSTED_PROXIES).
function client_address()
  return string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, "errors_read": %d, ' ..
    '"errors_write": %d, "errors_status": %d, "errors_timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
