"""WSGI entry point: `gunicorn wsgi:app`. Never starts the scheduler."""
from app import create_app

app = create_app()
