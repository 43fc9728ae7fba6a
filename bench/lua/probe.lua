-- A paced GET (one request per connection every 5 ms): liveness probes while logins saturate the hashers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function delay()
  return 5
end
