-- wrk script for bench/api_enqueue.py: rotates API keys and prints its result as one JSON line.
--
--   wrk -t THREADS -s bench/wrk/api.lua URL -- METHOD PATH KEYS_FILE THREADS once|repeat [BODY]
--
-- KEYS_FILE holds one API key a line ("-": no key). wrk thread i takes the keys i, i+n, i+2n...
-- of n = THREADS (each thread's Lua state is its own, so the count is passed in) and sends them
-- round-robin, one per request. "once": each key is sent at
-- most once (a distinct clinic per enqueue); a thread that has used its keys stops, and done()
-- reports it, so the run never counts a repeated clinic's 409 as throughput.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("index", counter - 1)
   table.insert(threads, thread)
end

local method, path, body, once
local keys = {}
local next_key = 1

function init(args)
   method, path = args[1] or "GET", args[2] or "/health"
   local keys_file = args[3] or "-"
   local total = tonumber(args[4] or "1")
   once = args[5] == "once"
   body = args[6]
   if keys_file ~= "-" then
      local index = wrk.thread:get("index")
      local n = 0
      for line in io.lines(keys_file) do
         if n % total == index and line ~= "" then keys[#keys + 1] = line end
         n = n + 1
      end
   end
   wrk.thread:set("keys", #keys)
end

function request()
   local headers = {}
   if body ~= nil then headers["Content-Type"] = "application/json" end
   if #keys > 0 then
      if next_key > #keys then
         if once then
            wrk.thread:set("exhausted", 1)
            wrk.thread:stop()
            return wrk.format("GET", "/health")
         end
         next_key = 1
      end
      headers["X-API-Key"] = keys[next_key]
      next_key = next_key + 1
   end
   return wrk.format(method, path, headers, body)
end

local statuses = {}

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   wrk.thread:set("statuses", statuses)  -- copied: done() runs in the main Lua state
end

function done(summary, latency, requests)
   local exhausted = 0
   local counted = {}
   for _, thread in ipairs(threads) do
      exhausted = exhausted + (thread:get("exhausted") or 0)
      for status, n in pairs(thread:get("statuses") or {}) do
         counted[#counted + 1] = string.format('"%d": %d', status, n)
      end
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p99": %d, "p99_9": %d}, "threads_out_of_keys": %d, ' ..
      '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      exhausted, table.concat(counted, ", ")))
end
