"""办事指南: the catalog staff keep, and how the bot matches a resident's question to it.

- catalog: `list_entries`, `get_entry`, `create_entry`, `update_entry`, `delete_entry`
  (staff of the community, admin), `entries_for(community_id)` (the bot's read),
  `answer_text`, `export_workbook` (.xlsx, staff)
- matching: `Model.build(entries)`, `Model.rank(text)`, `match(community_id, text)` →
  `Match` (confident / unsure / none), `model_for`, `forget`, `preview`, `tokens(text)`
- handoff: `record_gap`, `open_ticket` (the bot's, flush only), `list_gaps`,
  `list_tickets`, `answer_ticket`, `resolve_gap` (staff)
"""
