"""The staff console (app/console): sign-in, pages, security, and real Chromium."""
