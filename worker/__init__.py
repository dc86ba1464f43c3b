"""The worker process: registers workflows and activities on their task queues."""
