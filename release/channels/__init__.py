"""Channels as GitOps: plan what changed between two revisions, promote and roll back pins,
and the signed channel index that downstream clients trust (pure data and checks)."""
