-- SPDX-License-Identifier: MIT
-- wrk script for bench/ocsp.sh: cycles over the requests in reqs.lua, each formatted once.
-- Arguments (after --): REQS_FILE get|post|nonce PATH_PREFIX
-- (nonce: POST requests carrying a nonce, which are always signed live: cache misses)
-- Skips wrk's probe connection (wrk.resolve connects once to test each address):
-- `openssl ocsp` spins on a connection closed before a request.

local reqs, mode, prefix
local i = 0

wrk.resolve = function(host, service)
	wrk.addrs = wrk.lookup(host, service)
end

function init(args)
	reqs = dofile(args[1])
	mode = args[2]
	prefix = args[3]
	-- Every request is formatted once here: formatting one per request made wrk make
	-- (and collect) a new string each time, which showed in the latency it measured.
	built = {}
	for k = 1, #reqs.paths do
		if mode == "get" then
			built[k] = wrk.format("GET", prefix .. reqs.paths[k])
		else
			local body = mode == "nonce" and reqs.nonce_bodies[k] or reqs.bodies[k]
			built[k] = wrk.format("POST", prefix, { ["Content-Type"] = "application/ocsp-request" }, body)
		end
	end
	i = math.random(#built) - 1
end

function request()
	i = i % #built + 1
	return built[i]
end
