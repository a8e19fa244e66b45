"""Test fixtures, one module per feature under tests/fixtures/:

- app: the app against a real database (SQLite file, or PostgreSQL when DATABASE_URL is
  set), the WeChat sandbox over real HTTP, clean state after every test; client, ctx,
  sandbox, auth, photo
- world: 示范社区's org tree and its twelve people (`world`), logged in (`people`)
- incidents: categories, `make_incident`, `backlog`, `report`, `act`
- points: `points_history`, `stocked_shop` (and helpers the points tests import)
- notifications: `make_user`, `sent`
- wishes: `wish_post`, `wish_act`, `published_wish`, `claimed_wish`, `volunteers`,
  `registered_member` (and readers the wish tests import)
- party: `confirmed_member`, `party_members`, `service_post`, `qr_tokens` (and readers the
  party tests import)
- canteen: `clock` (frozen on DAY), `canteen`, `lunch`, `book`, `elder`, `far_canteen`
  (and factories the canteen tests import)
- visits: `visit_rules`, `address`, `tag`, `make_visit`, `floating_member`, `log_visit`
- browser: `browser` (Debian's Chromium through Playwright), `app_url`
- bot: `bot`, `safe_bot` (WeChat XML to /wechat/callback, signed / encrypted), and
  `wait_deferred`, `custom_messages` for the bot tests

Plain helpers (login, bearer, run_together, counting_queries, in_app, jpeg) are in
tests/helpers.py. The demo seed itself is tested in tests/services/test_demo_seed.py only.
"""
pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.world",
    "tests.fixtures.incidents",
    "tests.fixtures.points",
    "tests.fixtures.notifications",
    "tests.fixtures.wishes",
    "tests.fixtures.party",
    "tests.fixtures.canteen",
    "tests.fixtures.visits",
    "tests.fixtures.bot",
    "tests.fixtures.browser",
]
