"""Size limits that keep one request from starving the engine. docs/protocol.md lists them."""

MAX_PROMPT_CHARS = 2000
MAX_BARS = 1024
MAX_SECONDS = 600  # ten minutes of audio per request
MAX_VARIATIONS = 8
MAX_NAME_CHARS = 200
MAX_QUEUE = 32
#: notes in one melody (a note list or a MIDI file); engine.conditioning.melody reads this one constant
MAX_MELODY_NOTES = 20000
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # ZeroMQ frames, binary buffers included
MAX_JSON_BYTES = 1024 * 1024  # the JSON part of a message
MAX_JSON_DEPTH = 64  # nested objects/arrays in one message (real requests use fewer than 10)
#: live sessions running at once (each keeps a window ahead of the playhead on the one device)
MAX_LIVE_SESSIONS = 4
#: ZeroMQ request connections open at once; a further client's requests are answered `busy`
MAX_CLIENTS = 64
#: OSC /mgb/hello reply-port entries remembered (the oldest are forgotten beyond this)
MAX_OSC_PEERS = 1024
#: runs of one `retryable` job in all, counting re-runs after the engine died under it
MAX_JOB_ATTEMPTS = 3
MAX_AHEAD_BARS = 64  # live mode: bars kept ready ahead of the playhead
#: ZeroMQ requests accepted and waiting for a handler thread; beyond this a request is answered `busy`
MAX_PENDING_REQUESTS = 256
#: ... and at most this many from one ZeroMQ client (a parked `status` wait does not count)
MAX_PENDING_PER_CLIENT = 16
#: takes x frames x channels x 4 bytes (float32) of one request's audio; the peak memory is a few times this
MAX_REQUEST_AUDIO_BYTES = 512 * 1024 * 1024
#: a live session that hears no transport for this long ends (its client has gone); transport is the heartbeat
LIVE_IDLE_S = 300.0
#: decoded input audio (channels x frames x 4 bytes), judged from the file's header before decoding
MAX_DECODED_AUDIO_BYTES = 256 * 1024 * 1024
