"""``python -m devices.speaker_agent``: the same as ``khu-speaker``."""

from devices.speaker_agent.cli import main

main()
