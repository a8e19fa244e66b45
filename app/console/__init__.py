"""The staff web console at /console: server-rendered pages (Jinja), htmx for partial
updates, Chart.js for charts; both vendored under static/vendor (no CDN).

Modules:
- signin: the QR sign-in (new_nonce, approve, consume), sessions, sign out (everywhere),
  console_link for development
- cookies: the session and sign-in cookies (idle timeout in the signed cookie), CSRF tokens
- audit: the audit log of console writes (record, audited)
- metrics: the dashboard's figures per scope, through the features' services
- web: the blueprint's request hooks: who is signed in, CSRF on every POST, the HTML error
  handler (an AppError flashes its Chinese message and rolls back)
- views/: one module per area: auth (sign-in pages), dashboard, moderation, wishes

Every view calls the same services as the API, with their role and scope checks; the
console answers HTML, never the JSON envelope.
"""
