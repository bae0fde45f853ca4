"""Size limits that keep one request from starving the engine. docs/protocol.md lists them."""

MAX_PROMPT_CHARS = 2000
MAX_BARS = 1024
MAX_SECONDS = 600  # ten minutes of audio per request
MAX_VARIATIONS = 8
MAX_NAME_CHARS = 200
MAX_QUEUE = 32
MAX_MELODY_NOTES = 20000
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # ZeroMQ frames, binary buffers included
MAX_JSON_BYTES = 1024 * 1024  # the JSON part of a message
MAX_LIVE_SESSIONS = 8  # one per track is the common case
MAX_AHEAD_BARS = 64
