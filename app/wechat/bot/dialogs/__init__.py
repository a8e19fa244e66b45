"""The bot's dialogs: tables of steps calling the same services as the API.

- common: the three-strikes fallback, who is a resident, digits
- report: 报事 (category → description → photo or 跳过 → location or 我家 → confirm)
- lookups: 查进度, 查 123, 积分, 心愿, 食堂菜单, 公示
- canteen: 订餐 (a meal of today or tomorrow → confirm → booked, pickup code)
- guide: 办事指南 answers, "您是不是想问" choices, 人工 tickets
"""
