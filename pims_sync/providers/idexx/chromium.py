"""How we launch Chromium: one place for the binary default and the flags.

Debian's ``chromium`` is used because Playwright cannot download its own browser on our
machines; the flags keep it from phoning home (refused connections on a closed network) and
let it run as root in containers.
"""

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
