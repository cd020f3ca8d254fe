-- wrk script for the benchmarks' creates: each request a POST of a product
-- with a SKU of its own; answers whose status is not the expected one are
-- counted; at the end, one line "RESULT {json}" sums up the run.
--
--   wrk ... -s bench/creates.lua URL -- PATH EXPECTED_STATUS SKU_PREFIX

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  path = args[1] or "/products"
  expected = tonumber(args[2] or "202")
  prefix = args[3] or "W"
  sent = 0
  unexpected = 0
  first_unexpected = ""
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"sku":"%s-%d-%d","name":"Bench product","price_cents":100,"currency":"EUR","stock":1}',
    prefix, id, sent)
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  if status ~= expected then
    unexpected = unexpected + 1
    if first_unexpected == "" then
      first_unexpected = tostring(status) .. " " .. string.sub(body, 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad, first = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("unexpected")
    if first == "" then first = thread:get("first_unexpected") end
  end
  first = string.gsub(first, '[%c"\\]', " ")
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"unexpected_status":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"mean_us":%.1f,"first_unexpected":"%s"}\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean, first))
end
