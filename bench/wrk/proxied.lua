-- POST a JSON body through a proxy with a fresh nonce in Idempotency-Key (demo mode, plain YARP).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
setup, done = common.setup, common.done
local counter = 0
local prefix
local body = '{"msg":"hello world","n":42}'

function init(args)
  prefix = common.run_id .. "-" .. id .. "-"
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/echo", { ["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. counter }, body)
end
