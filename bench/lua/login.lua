-- POST /auth/login as a random pool user from a random client address.
-- wrk ... -s login.lua -- FILE PASSWORD
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local users, password

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  users = read_lines(args[1])
  password = args[2]
end

function request()
  local email = users[math.random(1, #users)]
  return wrk.format("POST", "/auth/login",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = client_address()},
    '{"email":"' .. email .. '","password":"' .. password .. '","device_name":"bench"}')
end
