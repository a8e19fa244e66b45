"""The demo community (`flask seed-demo`): `seed.seed_demo()` runs one module per feature,
`org` (the org tree, households and users), `incidents`, `points`."""
