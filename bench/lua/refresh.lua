-- POST to the URL given to wrk (/auth/refresh, or the bare app's /bench/refresh-bound): every
-- refresh token is used exactly once. Each thread owns a share of the pool; a successful response
-- puts its successor token back in the queue.
-- wrk ... -s refresh.lua -- FILE NTHREADS
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local queue, head, tail = {}, 1, 0

function init(args)
  for _, token in ipairs(my_share(args[1], tonumber(args[2]))) do
    tail = tail + 1
    queue[tail] = token
  end
end

function request()
  local token = "exhausted-pool"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local successor = string.match(body, '"refresh_token":"([^"]+)"')
    if successor then
      tail = tail + 1
      queue[tail] = successor
    end
  end
end
