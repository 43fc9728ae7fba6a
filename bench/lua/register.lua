-- POST /auth/register with a unique email per request, from a random client address.
-- wrk ... -s register.lua -- PASSWORD RUN_TAG
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local password, tag, n = nil, nil, 0

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  password = args[1]
  tag = args[2]
end

function request()
  n = n + 1
  local email = string.format("reg-%s-%d-%d-%d@bench.example", tag, tid, n, math.random(0, 999999))
  return wrk.format("POST", "/auth/register",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = client_address()},
    '{"email":"' .. email .. '","password":"' .. password .. '"}')
end
