-- Shared wrk `done` hook: prints one machine-readable line the benchmark script parses.
-- Latencies are wrk's (microseconds, measured per request on the client side of the loopback).
-- "bad" counts responses with status >= 400 plus socket errors, so a run that answers errors fast
-- cannot pass for a fast run.
function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "WRKRESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d bad=%d status_errors=%d socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status + e.connect + e.read + e.write + e.timeout,
      e.status, e.connect + e.read + e.write + e.timeout))
end
