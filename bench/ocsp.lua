-- SPDX-License-Identifier: MIT
-- wrk script for bench/ocsp.sh: cycles over the requests in reqs.lua.
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
	i = math.random(#reqs.paths) - 1
end

function request()
	i = i % #reqs.paths + 1
	if mode == "get" then
		return wrk.format("GET", prefix .. reqs.paths[i])
	end
	local body = mode == "nonce" and reqs.nonce_bodies[i] or reqs.bodies[i]
	return wrk.format("POST", prefix, { ["Content-Type"] = "application/ocsp-request" }, body)
end
