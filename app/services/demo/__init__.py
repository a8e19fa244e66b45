"""The demo community (`flask seed-demo`): `seed.seed_demo()` runs one module per feature in
order: `org` (the org tree, households and users), `incidents`, `points`."""
