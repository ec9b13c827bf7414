"""Building raw disks per image variant: template, kickstart, installroot, disk, manifest."""
