"""The Kubernetes backend: run a task as the objects ``flyte render`` prints."""
