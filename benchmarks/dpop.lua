-- GET /api/v1/data/civil_registry/person with a DPoP-bound token and a fresh proof per request
-- (BENCH_DPOP_FILE, written by dpop_proofs.py): each of BENCH_THREADS threads takes its own
-- share of the proofs, since a proof used twice is refused.
dofile(os.getenv("BENCH_DPOP_FILE"))
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end

function init(args)
    local count = tonumber(os.getenv("BENCH_THREADS"))
    local share = math.floor(#proofs / count)
    first = (id - 1) * share + 1
    last = first + share - 1
    next_proof = first
end

function request()
    local proof = proofs[math.min(next_proof, last)]
    next_proof = next_proof + 1
    return wrk.format("GET", nil, {["Authorization"] = "DPoP " .. token, ["DPoP"] = proof})
end
