"""The local UI: ``flyte ui`` serves the run store's runs on 127.0.0.1, and the same templates
write each run's page on disk (``Run.url``)."""
