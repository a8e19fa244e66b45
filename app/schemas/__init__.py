"""marshmallow schemas: XCreate / XUpdate (input) and X (output). Schemas serialize only."""
from app.schemas import i18n  # noqa: F401  (Chinese validation messages)
