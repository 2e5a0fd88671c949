#!/bin/sh
# System packages EVSCallPro's set-up and tests need on Debian/Ubuntu:
#   - chromium: headless browser for the browser tests (driven by Playwright, never
#     `playwright install`), expected at /usr/bin/chromium;
#   - nodejs + npm: `npm ci` installs htmx.org and htmx-ext-ws, which the gateway serves;
#   - prometheus (with promtool): the ops tests check the alerting rules with
#     `promtool test rules` and run a real Prometheus against the running product
#     (tests/ops/). The Debian package's service is not needed: the tests start their own.
# Idempotent: installs only what is missing, and does nothing when all is there.
set -eu

missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || missing="$missing prometheus"

if [ -z "$missing" ]; then
    echo "system deps present: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), node $(node --version), npm $(npm --version), $(/usr/bin/prometheus --version 2>&1 | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi

echo "installing:$missing"
$SUDO apt-get update
# shellcheck disable=SC2086  # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
echo "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium?), node $(node --version 2>/dev/null || echo ?), npm $(npm --version 2>/dev/null || echo ?), $(/usr/bin/prometheus --version 2>&1 | head -n 1 || echo prometheus?)"
