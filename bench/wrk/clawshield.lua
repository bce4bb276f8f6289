-- Proxied calls in clawshield mode: each request takes the next pre-minted line of
-- BENCH_APPROVALS ("nonce<TAB>approval header"), so it carries a fresh nonce and its own
-- single-use approval. Thread i takes lines i, i+n, i+2n...; running out wraps around (the
-- repeats are then refused as replays and counted as pool_wraps and non2xx: the run is void).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
setup, done = common.setup, common.done
local body = '{"msg":"hello world","n":42}'
local pool = {}
local next_line = 1
wraps = 0

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  local n = 0
  for line in io.lines(os.getenv("BENCH_APPROVALS")) do
    if n % nthreads == id then
      local tab = line:find("\t", 1, true)
      table.insert(pool, { line:sub(1, tab - 1), line:sub(tab + 1) })
    end
    n = n + 1
  end
end

function request()
  if next_line > #pool then
    next_line = 1
    wraps = wraps + 1
  end
  local entry = pool[next_line]
  next_line = next_line + 1
  return wrk.format("POST", "/echo", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = entry[1],
    ["OpenExec-Approval"] = entry[2],
  }, body)
end
