#!/usr/bin/env python3
"""A stand-in for livemedia-creator and koji (neither can run here: no lorax on Debian, no
koji hub): records its argv and the kickstart it was given, then leaves the disk named by
$FAKE_DISK where the real tool would."""

import json
import os
import shutil
import sys
from pathlib import Path

tool = Path(sys.argv[0]).name
args = sys.argv[1:]
if args == ["--version"]:
    print(f"{tool} 0.0-fake")
    sys.exit(0)
log = Path(os.environ["FAKE_LOG"])
record = {"tool": tool, "argv": args}
ks = next(
    (args[i + 1] for i, a in enumerate(args) if a in ("--ks", "--kickstart")),
    None,
)
if ks:
    record["kickstart"] = Path(ks).read_text()
with log.open("a") as fh:
    fh.write(json.dumps(record) + "\n")
disk = Path(os.environ["FAKE_DISK"])
if tool == "livemedia-creator":
    result = Path(args[args.index("--resultdir") + 1])
    result.mkdir(parents=True)
    shutil.copyfile(disk, result / args[args.index("--image-name") + 1])
elif tool == "koji" and args[0] == "image-build":
    print("Created task: 4242")
    print("Task 4242 completed successfully")
elif tool == "koji" and args[0] == "download-task":
    shutil.copyfile(disk, Path.cwd() / "fixture-4242.x86_64.raw")
else:
    sys.exit(f"fake installer: unexpected call {tool} {args}")
