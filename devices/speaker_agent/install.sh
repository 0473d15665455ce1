#!/usr/bin/env bash
# Installs khu-speaker on a Debian, Raspberry Pi OS or Armbian board, from this checkout:
# the sound and clock tools from apt, the agent in its own virtualenv, the systemd unit.
# Run as root from anywhere in the checkout; safe to run again (docs/speaker-agent.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

apt-get update -qq
# aplay/amixer (ALSA), sox with MP3 (WAV and OGG Vorbis come with it), opusdec for Ogg Opus
# (what browsers record), chrony for a synchronised clock.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    alsa-utils sox libsox-fmt-mp3 opus-tools chrony python3-venv >/dev/null

python3 -m venv /opt/khu-speaker
/opt/khu-speaker/bin/python -m pip install -q --upgrade pip
/opt/khu-speaker/bin/python -m pip install -q .
ln -sf /opt/khu-speaker/bin/khu-speaker /usr/local/bin/khu-speaker
install -d -m 0755 /opt/khu-speaker/docs
install -m 0644 docs/speaker-agent.md docs/protocol.md /opt/khu-speaker/docs/
install -d -m 0700 /etc/khu-speaker
install -m 0644 devices/speaker_agent/khu-speaker.service /etc/systemd/system/khu-speaker.service
systemctl daemon-reload
echo "Installed. Next: sudo khu-speaker enrol <broker host:port> <area code> --device <id>"
