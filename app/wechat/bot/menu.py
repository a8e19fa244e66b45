"""The official account's menu: CLICK keys the router maps to its flows
(app.wechat.bot.router.ENTRIES), created with `flask wechat menu`."""
from __future__ import annotations

from app.wechat.bot import outbound

MENU = {"button": [
    {"name": "报事", "sub_button": [
        {"type": "click", "name": "随手拍报事", "key": "REPORT"},
        {"type": "click", "name": "查进度", "key": "STATUS"},
    ]},
    {"name": "便民服务", "sub_button": [
        {"type": "click", "name": "办事指南", "key": "GUIDE"},
        {"type": "click", "name": "食堂菜单", "key": "CANTEEN"},
        {"type": "click", "name": "本周公示", "key": "NOTICE"},
        {"type": "click", "name": "微心愿", "key": "WISHES"},
    ]},
    {"name": "我的", "sub_button": [
        {"type": "click", "name": "我的积分", "key": "POINTS"},
        {"type": "click", "name": "人工服务", "key": "HUMAN"},
    ]},
]}


def create() -> dict:
    return outbound.create_menu(MENU)
