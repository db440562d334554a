-- wrk script: POST the decision request of bench.sh (DECIDE_BODY) to /v1/decide.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("DECIDE_BODY")
