-- A plain GET of the URL given to wrk (the ceiling, the bare app).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
