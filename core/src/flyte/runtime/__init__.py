"""The local runtime: runs task trees in this process with a cluster's semantics."""
