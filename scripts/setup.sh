#!/usr/bin/env bash
# Installs what the project needs on a Debian machine: mosquitto from apt, a virtualenv
# with the package and its dev tools. Safe to run again; only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
    echo ">> apt-get install $*"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# mosquitto_sub: the security tests try the broker as a newcomer would.
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
# tests/test_speaker_agent.py: the loudspeaker agent plays on ALSA's null device (aplay) and
# decodes WAV, MP3 and OGG with sox.
command -v aplay >/dev/null 2>&1 || missing+=(alsa-utils)
command -v sox >/dev/null 2>&1 || missing+=(sox)
dpkg -s libsox-fmt-mp3 >/dev/null 2>&1 || missing+=(libsox-fmt-mp3)
# The hub converts recordings made in the phone app (WebM/Opus and the like) to WAV for speakers.
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
# The phone app's browser tests drive Debian's Chromium (never a downloaded one); test.sh asks.
if [ "${KHU_SETUP_BROWSER:-0}" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# Debian puts mosquitto in /usr/sbin, which is not on every user's PATH.
export PATH="$PATH:/usr/sbin"

if [ ! -x .venv/bin/python ]; then
    echo ">> creating .venv"
    python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo ">> installing the package and its tools into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
