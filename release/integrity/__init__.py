"""Checksums, signed manifests and verification of release directories."""
