"""The API process must never load the tasks or Playwright (they belong to worker processes)."""

import subprocess
import sys


def test_api_imports_neither_tasks_nor_playwright(base_settings):
    code = (
        "import sys\n"
        "from api.app import create_app\n"
        "from pims_sync.config import Settings\n"
        "app = create_app(Settings.from_env({'DATABASE_URL': 'postgresql://postgres@127.0.0.1/none'}))\n"
        "app.extensions['pims_sync'].celery_app\n"  # the lazily imported Celery app
        "bad = [m for m in sys.modules if m == 'workers.tasks' or m.startswith('playwright')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
