"""The run loop: requests to the model in batches, a journal per task, then scoring."""
