"""Publishing release dirs to mirrors and registries, with retries, resumption and read-back.

`publish(release_dir, target, journal)` is the entry point; `engine`, `mirror`, `journal`
and `retry` are the core; each target's adapter lives in its own module.
"""
