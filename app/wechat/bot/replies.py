"""The bot's fixed texts (Simplified Chinese, numbered choices for elderly users)."""
from __future__ import annotations

from flask import current_app

MENU = ("回复数字即可办理：\n"
        "1 报事（随手拍）\n"
        "2 查进度\n"
        "3 我的积分\n"
        "4 办事指南\n"
        "5 食堂菜单\n"
        "6 本周公示\n"
        "7 微心愿\n"
        "0 人工服务\n"
        "随时回复“取消”退出，“帮助”查看说明。")
WELCOME = "您好，欢迎关注社区服务号！\n" + MENU
HELP = ("使用说明：按提示回复数字或文字即可。\n"
        "“取消”：退出当前操作；“人工”：转社区工作人员；“查 123”：查看编号 123 的随手拍。\n"
        "也可以直接提问，如“老年证怎么办”。\n\n" + MENU)
CANCELLED = "已取消。\n" + MENU
NOT_UNDERSTOOD = "抱歉，没有看懂您的意思。"
GIVE_UP = "抱歉，我还是没能理解。回复“帮助”查看使用说明，或回复“人工”转社区工作人员。"
MEDIA = "请发文字或图片，暂时听不了语音、看不了视频。"
TOO_FAST = "您发送得太快了，请稍等一会儿再试。"
NOT_OPEN = "该服务暂未开通，敬请期待。"
BUSY = "正在处理您上一条消息，请稍候…"
FAILED = "抱歉，刚才的操作没有成功，请稍后再试，或回复“人工”转工作人员。"


def bind_link() -> str:
    """A mini-program link (official-account text messages open mini-programs by appid)."""
    appid = current_app.config["WECHAT_APPID"]
    return (f'您还没有绑定住址。请<a data-miniprogram-appid="{appid}" '
            f'data-miniprogram-path="pages/me/household" href="#">打开小程序</a>'
            f"登录并绑定住址，经网格员认证后即可使用。")


def misunderstood(count: int, prompt: str) -> str:
    return GIVE_UP if count >= 3 else f"{NOT_UNDERSTOOD}{prompt}"
