"""image-release: a GitOps release manager for cloud VM images."""

__version__ = "0.1.0"
