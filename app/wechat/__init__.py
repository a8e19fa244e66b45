"""The only code that talks to WeChat: client factory, token storage, login, messages,
content security, the sandbox and the official-account bot (bot/)."""
