-- POST /oauth2/introspect, client_secret_basic (env BENCH_BASIC), the token in the body.
wrk.method = "POST"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token=" .. os.getenv("BENCH_TOKEN") .. "&token_type_hint=access_token"
