-- The wrk side of the benchmark (bench/loadgen.py runs it).
-- Script arguments, after `--`: mode, max_id, tag, path, API key (sent as a Bearer token on
-- every request, the framework ceiling's too, so all requests have the same size).
--   get   GET /users/{random id in 1..max_id}
--   post  POST /users with a name unique across threads and runs (tag, thread, counter)
--   mix   90% get, 10% post, chosen at random per request
--   path  GET of one fixed path (list pages, the framework ceiling)
-- Every mode goes through request(), so each pays the same small Lua cost per request.
-- done() prints one line of JSON for the Python side; latencies there are in microseconds.

local next_thread = 0

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local mode, max_id, tag, fixed
local counter = 0
local headers = {}
local json_headers = { ["Content-Type"] = "application/json" }

function init(args)
  mode, max_id, tag = args[1], tonumber(args[2]), args[3]
  if args[5] and args[5] ~= "" then
    headers["Authorization"] = "Bearer " .. args[5]
    json_headers["Authorization"] = headers["Authorization"]
  end
  fixed = wrk.format("GET", args[4], headers)
  -- Each thread draws its own sequence of ids.
  math.randomseed(os.time() * 1000 + thread_id)
end

local function get_user()
  return wrk.format("GET", "/users/" .. math.random(1, max_id), headers)
end

local function post_user()
  counter = counter + 1
  local name = tag .. "_" .. thread_id .. "_" .. counter
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@bench.example"}'
  return wrk.format("POST", "/users", json_headers, body)
end

function request()
  if mode == "get" then
    return get_user()
  elseif mode == "post" then
    return post_user()
  elseif mode == "mix" then
    if math.random() < 0.1 then
      return post_user()
    end
    return get_user()
  end
  return fixed
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
