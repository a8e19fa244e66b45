"""Benchmark: `POST /api/v1/auth/login` and `GET /api/v1/me`, against the /healthz baseline.

    .venv/bin/python bench/bench_auth.py [--db postgres|sqlite|URL] [--connections 16]
                                         [--duration 15] [--workers 4]

Login goes through the real WeChat client to the sandbox (itself under gunicorn), upserts
the user and issues a token: one HTTP call to the sandbox and a write transaction per request.
The openids cycle over a fixed pool (--login-pool), and every wrk run (one per round) starts
again at the same offsets, so the first round mostly creates users and later rounds mostly
log returning users in. /me rotates over the tokens of --me-users users logged in beforehand.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Scenario, main  # noqa: E402

LOGIN_LUA = r"""
-- n walks over the pool; each wrk thread starts at its own offset, so two connections
-- rarely log the same new user in at the same moment.
local pool, n
local headers = {["Content-Type"] = "application/json"}
function init(args)
  pool = tonumber(os.getenv("BENCH_POOL"))
  n = math.floor(thread_id * pool / tonumber(os.getenv("BENCH_THREADS")))
end
function request()
  n = (n + 1) % pool
  return wrk.format("POST", nil, headers, '{"code": "sandbox:bench-user-' .. n .. '"}')
end
"""

ME_LUA = r"""
local tokens, i = {}, 0
function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  i = thread_id * 37 % #tokens
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {Authorization = "Bearer " .. tokens[i]}, nil)
end
"""


def options(parser) -> None:
    parser.add_argument("--login-pool", type=int, default=1000,
                        help="distinct openids the login scenario cycles over")
    parser.add_argument("--me-users", type=int, default=200,
                        help="users logged in beforehand whose tokens /me rotates over")


def scenarios(stack, args) -> list[Scenario]:
    tokens = stack.tmp / "me-tokens.txt"
    tokens.write_text("\n".join(stack.login(f"bench-me-{n}") for n in range(args.me_users)))
    return [
        Scenario("POST /api/v1/auth/login", "/api/v1/auth/login", LOGIN_LUA,
                 env={"BENCH_POOL": str(args.login_pool), "BENCH_THREADS": str(args.threads)}),
        Scenario("GET /api/v1/me", "/api/v1/me", ME_LUA, env={"BENCH_TOKENS": str(tokens)}),
    ]


if __name__ == "__main__":
    main("auth", scenarios, __doc__.splitlines()[0], options)
