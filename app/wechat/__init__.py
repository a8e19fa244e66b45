"""The only code that talks to WeChat: client factory, login, sandbox (and later messages,
content security and the official-account bot)."""
