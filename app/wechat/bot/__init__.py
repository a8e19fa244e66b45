"""The official-account bot behind `/wechat/callback` (the only WeChat-facing HTTP door).

- views: the blueprint, signature and safe-mode checks, `success` on anything amiss
- wire: signatures, WeChatCrypto, XML in (`Inbound`) and out
- inbound: one delivery handled once (session row lock, dedupe row, routing, one commit)
- sessions: the follower's row and conversation state (flow, step, data, 10-minute idle)
- binding: follower ↔ mini-program user by unionid
- router: events, 取消 / 帮助 / 人工, the flow in progress, the menu, else the catalog
- dialogs/: report (报事), lookups (查进度, 积分, 心愿, 菜单, 公示), guide (办事指南, 人工)
- deferred: photos and filings answered later, exactly once (thread pool + job)
- deliver: customer-service answers through the outbox
- outbound: the bot's WeChat calls (user info, media, customer-service text, menu)
- menu: the official account's menu (`flask wechat menu`)
- replies: fixed texts
"""
