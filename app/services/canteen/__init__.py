"""社区食堂: canteens and weekly menus, meal-assistance tiers fixed at booking, booking with
a cutoff and capacity (no overbooking, no double charge), pickup codes checked in by canteen
staff, the kitchen's count (按需供餐), proxy booking (代订) for elders.

- `access`: who may do what; `MEAL_TRANSITIONS`, `is_kitchen`, `runs_menus`,
  `keeps_diners`, `may_book_for`, `sees_diner`, `sees_booking`, `get_canteen`, `get_meal`,
  `get_diner`, `household_of`, `community_of_household`, `require_resident`.
- `eligibility`: `DEFAULT_TIERS` (config `CANTEEN_TIERS`), `tiers`, `tier_names`,
  `active_categories`, `best_tier`, `quote`.
- `menus`: `create_canteen`, `list_canteens`, `create_meal`, `update_meal`, `publish`,
  `cancel`, `copy_last_week`, `list_meals` (price for me, seats left).
- `booking`: `BOOKING_TRANSITIONS`, `book`, `cancel`, `cancel_meal_bookings`,
  `active_suspension`, `own_profile`, `address_of`, `get_booking`, `my_bookings`,
  `detail`, `qr_svg`.
- `kitchen`: `check_in` (pickup code), `sheet` (the kitchen sheet).
- `diners`: `list_diners`, `create`, `update`, `set_flag`, `remove_flag`.

- `schedule`: the jobs' steps over meals: `close_due` (cutoff, the count to the kitchen),
  `remind_due` (an hour before pickup), `finish_due`.
- `noshows`: `mark_due` (no-shows and self-booking suspensions), `list_active`, `lift`.
- `feedback`: the 民意反馈箱: `submit`, `list_for_staff`, `reply`, `monthly`, `reads_box`.
- `reports`: `subsidy_report` (the monthly .xlsx for the reimbursement claim).

Callers import the submodule: `from app.services.canteen import booking`.
"""
