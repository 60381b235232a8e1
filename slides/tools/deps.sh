#!/usr/bin/env bash
# The Debian packages the lecture deck needs: Node.js and npm (Marp CLI),
# Chromium (the PDF and make slides-check) and the DejaVu fonts the theme
# and the timelines are drawn with. As root, tools/ensure-deps.sh installs
# what is missing. Otherwise only Node.js is required (the HTML needs no
# browser); a missing Chromium is reported, and the PDF is left out.
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium=${IOLAB_CHROMIUM:-/usr/bin/chromium}
packages=(fonts-dejavu-core)
command -v npm >/dev/null || packages+=(nodejs npm)
[ -x "$chromium" ] || packages+=(chromium)

if [ "$(id -u)" -eq 0 ]; then
    exec tools/ensure-deps.sh "${packages[@]}"
fi
if ! command -v npm >/dev/null; then
    echo "slides: Node.js and npm are missing: sudo apt-get install --no-install-recommends nodejs npm" >&2
    exit 1
fi
if [ ! -x "$chromium" ]; then
    echo "slides: no Chromium ($chromium): the PDF and make slides-check need it: sudo apt-get install --no-install-recommends chromium" >&2
fi
