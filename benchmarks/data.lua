-- GET /api/v1/data/civil_registry/person with a bearer token (env BENCH_TOKEN).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
