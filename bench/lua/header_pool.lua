-- GET with a credential drawn at random from a pool file: wrk ... -s header_pool.lua -- FILE HEADER PREFIX
-- Every request is formatted once, in `init`: per request wrk only draws one (wrk shares the
-- machine's cores with the servers, and formatting each request anew cost /health/live ~10% of
-- its requests/s on the 2-core bench host).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local requests, count

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  local header, prefix = args[2], args[3] or ""
  requests = {}
  for _, value in ipairs(read_lines(args[1])) do
    table.insert(requests, wrk.format("GET", nil, {[header] = prefix .. value}))
  end
  count = #requests
end

function request()
  return requests[math.random(1, count)]
end
