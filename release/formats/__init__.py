"""Disk image formats: one raw disk in; qcow2, raw, VHD, OVA and GCE tar.gz out, all checked.

`convert` is the API; `options` holds the request and result types.
"""

from release.formats.convert import convert
from release.formats.options import ConvertedFile, ConvertOptions, parse_formats

__all__ = ["ConvertOptions", "ConvertedFile", "convert", "parse_formats"]
