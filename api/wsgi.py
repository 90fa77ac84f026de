"""The gunicorn target: ``gunicorn api.wsgi:app`` (settings from the environment)."""

from api.app import create_app
from pims_sync.config import get_settings
from pims_sync.logs import configure as configure_logs

configure_logs(get_settings())  # redacted, JSON with LOG_FORMAT=json (gunicorn leaves the root logger alone)
app = create_app()
