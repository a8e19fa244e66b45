"""The only code that talks to WeChat: client factory, token storage, login, messages,
content security and the sandbox (the official-account bot is planned)."""
