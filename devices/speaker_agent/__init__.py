"""``khu-speaker``: the program on the Linux board inside a public-address loudspeaker.

It speaks the native protocol (docs/protocol.md) as a speaker: it enrols or is given an
account, fetches each announcement's audio with the play's token, decodes it (WAV, MP3, OGG),
starts it through ALSA at ``start_at`` by the system clock and reports what really happened.
Its set-up and behaviour: docs/speaker-agent.md.
"""
