-- GET with a credential drawn at random from a pool file: wrk ... -s header_pool.lua -- FILE HEADER PREFIX
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local pool, header, prefix

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  pool = read_lines(args[1])
  header = args[2]
  prefix = args[3] or ""
end

function request()
  local value = pool[math.random(1, #pool)]
  return wrk.format("GET", nil, {[header] = prefix .. value})
end
