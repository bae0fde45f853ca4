"""Jobs: the queue that runs them, their cancel token, and the journal that survives a crash."""
