-- POST one event per request to the URL given to wrk (…/v1/runs/<id>/events), with the shared report.
-- A fixed, small body: what is measured is the append path (parse, validate, lock, write, fsync policy),
-- not JSON size.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"bench.tick","data":{"step":1,"message":"wrk append benchmark"}}'
