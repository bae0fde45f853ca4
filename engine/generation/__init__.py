"""Token generation: the reference loop, the fast static-cache loop, long-form windows, continuation, sampling."""
