-- POST an /execute-shaped echo body with a fresh nonce (also sent, unchanged, to the plain echo).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
setup, done = common.setup, common.done
local counter = 0
local prefix
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  prefix = common.run_id .. "-" .. id .. "-"
end

function request()
  counter = counter + 1
  local body = '{"action":"echo","payload":{"msg":"hello world","n":42},"nonce":"' .. prefix .. counter .. '"}'
  return wrk.format("POST", os.getenv("BENCH_PATH") or "/execute", headers, body)
end
