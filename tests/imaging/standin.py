"""A stand-in EL installer (no EL install tree can be fetched here): Debian's kernel and a
busybox initramfs, laid out as an install tree (`images/pxeboot/vmlinuz`, `initrd.img`), that
the kickstart builder boots through its real QEMU plumbing.

Like anaconda it reads the kickstart named by `ks=`/`inst.ks=` (from the OEMDRV disk or over
HTTP), checks its `%packages` against what the tree offers, partitions the install disk and
makes the filesystem its `part /` line asks for (the host's sfdisk and mke2fs, copied in with
their libraries, with the target EL's ext4 features), installs the packages (untars a root
tree the fixture made with dnf and converted to a BDB rpmdb), applies `services` and
`rootpw --lock`, runs each chrooted `%post` (not the `--nochroot` ones: it has no host
tools), and powers off when the kickstart says `poweroff`. It prints anaconda's progress and failure
lines. `mode` makes a broken installer: `postfail` (a %post that fails), `panic`, `hang`.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from release.demo.bootkit import _read_module, debian_kernel, module_order
from release.demo.repo import BUSYBOX
from release.imaging import disk, installroot, kickstart, rpmdb
from release.model.image import ImageDefinition

MODULES = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "crc32c_generic",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
)
HOST_TOOLS = ("/usr/sbin/sfdisk", "/usr/sbin/mke2fs")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin
mkdir -p /proc /sys /dev /mnt /ksdisk /tmp
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m; done
echo "Starting installer, one moment..."
stop() {
  echo "$*"; echo "The installation was stopped due to an error"; while :; do sleep 60; done
}
mode=$(cat /standin/mode)
if [ "$mode" = panic ]; then echo "stand-in: crashing"; echo c > /proc/sysrq-trigger; fi
if [ "$mode" = hang ]; then echo "stand-in: waiting forever"; while :; do sleep 60; done; fi
ks=""
for a in $(cat /proc/cmdline); do case $a in ks=*|inst.ks=*) ks=${a#*ks=};; esac; done
case "$ks" in
http://*)
  ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
  wget -q -O /tmp/ks.cfg "$ks" || stop "cannot fetch the kickstart $ks";;
hd:*)
  spec=${ks#hd:}; dev=${spec%:*}; file=${spec##*:}
  for i in $(seq 50); do
    case $dev in LABEL=*) d=$(findfs "$dev" 2>/dev/null);; *) d=/dev/$dev;; esac
    [ -b "$d" ] && break; sleep 0.2
  done
  mount -t vfat -o ro "$d" /ksdisk || stop "cannot mount the kickstart disk $dev"
  cp "/ksdisk$file" /tmp/ks.cfg || stop "no $file on $dev";;
*) stop "no ks= or inst.ks= on the kernel command line";;
esac
echo "Starting automated install"
sed -n '/^%packages/,/^%end/p' /tmp/ks.cfg | grep -v '^[%@-]' > /tmp/wanted
for p in $(cat /tmp/wanted); do
  grep -qx "$p" /standin/packages.txt || stop "Error: no package $p in the install tree"
done
fstype=$(sed -n 's|^part / .*--fstype=\([^ ]*\).*|\1|p' /tmp/ks.cfg)
[ -n "$fstype" ] || stop "Error: the kickstart has no part / line"
echo "Creating disklabel on /dev/vda"
printf 'label: dos\nstart=2048, type=83, bootable\n' | /usr/sbin/sfdisk -q /dev/vda \
  || stop "sfdisk failed"
echo "Creating $fstype on /dev/vda1"
/usr/sbin/mke2fs -q -t "$fstype" -b 4096 -I 256 -i 16384 -O "none,$(cat /standin/features)" \
  -L root /dev/vda1 || stop "mke2fs failed"
mount -t ext4 /dev/vda1 /mnt || stop "cannot mount /dev/vda1"
echo "Starting package installation process"
n=$(wc -l < /tmp/wanted); i=0
for p in $(cat /tmp/wanted); do i=$((i+1)); echo "Installing $p ($i/$n)"; done
tar -x -f /standin/root.tar -C /mnt || stop "cannot install the packages"
svc=$(grep '^services ' /tmp/ks.cfg)
export PATH=/usr/bin:/usr/sbin:/bin:/sbin  # what anaconda's chroots get
switch() {  # anaconda: chkconfig on EL6, systemctl on EL7; a service it cannot switch is logged
  if [ "$(cat /standin/el)" = 6 ]; then chroot /mnt /sbin/chkconfig "$1" "$2"
  else chroot /mnt /usr/bin/systemctl "$3" "$1"; fi || echo "stand-in: cannot switch $1 $2"
}
for s in $(echo "$svc" | sed -n 's/.*--disabled=\([^ ]*\).*/\1/p' | tr , ' '); do
  switch "$s" off disable
done
for s in $(echo "$svc" | sed -n 's/.*--enabled=\([^ ]*\).*/\1/p' | tr , ' '); do
  switch "$s" on enable
done
if grep -q '^rootpw .*--lock' /tmp/ks.cfg && [ -f /mnt/etc/shadow ]; then
  sed -i 's/^root:\([^!]\)/root:!\1/' /mnt/etc/shadow
fi
echo "Running post-installation scripts"
[ -d /mnt/tmp ] || { mkdir /mnt/tmp; chmod 1777 /mnt/tmp; }
awk '/^%post/ { n++; f = "/tmp/post-" n; print > f; next } /^%end/ { f = "" } f { print > f }' \
  /tmp/ks.cfg
n=$(ls /tmp | grep -c '^post-')
for i in $(seq "$n"); do
  if head -1 "/tmp/post-$i" | grep -q -- --nochroot; then
    echo "stand-in: skipping a --nochroot %post (no host tools here)"; continue
  fi
  tail -n +2 "/tmp/post-$i" > /mnt/tmp/ks-script
  [ "$mode" = postfail ] && sed -i '1i exit 7' /mnt/tmp/ks-script
  if ! chroot /mnt /bin/sh /tmp/ks-script > /tmp/post.log 2>&1; then
    cat /tmp/post.log
    head -1 "/tmp/post-$i" | grep -q -- --erroronfail \
      && stop "An error occurred running a post-installation script"
  fi
done
rm -f /mnt/tmp/ks-script
umount /mnt; sync
echo "Installation complete"
grep -qx poweroff /tmp/ks.cfg && poweroff -f
echo "Installation complete. Press ENTER to quit:"; while :; do sleep 60; done
"""


def root_tar(image: ImageDefinition, variant: str, work: Path) -> tuple[Path, list[str]]:
    """What the stand-in installs: the packages dnf puts in a root, with the BDB rpmdb EL's
    rpm reads (as anaconda's yum would leave it); and the names it offers."""
    part = kickstart.rendering_for(image, variant)
    packages = installroot.packages_to_install(image, variant, part)
    tree = work / "tree"
    installroot.install_tree(image, variant, tree, packages, work / "home", [])
    rpmdb.make_native(tree, rpmdb.host_backend(), [])
    tar = work / "root.tar"
    subprocess.run(["tar", "-C", str(tree), "--numeric-owner", "-cf", str(tar), "."], check=True)
    shutil.rmtree(tree)
    return tar, packages


def _copy_with_libs(binary: str, stage: Path) -> None:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = [binary]
    for line in out.splitlines():
        parts = line.split()
        paths += [p for p in parts if p.startswith("/")]
    for path in paths:
        dest = stage / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(path).resolve(), dest)


def kernel(dest: Path) -> tuple[Path, Path]:
    """(vmlinuz, modules dir) of Debian's kernel, unpacked once per session."""
    vmlinuz, modules, _ = debian_kernel(dest)
    return vmlinuz, modules


def install_tree(
    dest: Path, kernel: tuple[Path, Path], root: Path, packages: list[str], el: int, mode: str = ""
) -> Path:
    """An install tree at `dest` whose pxeboot kernel and initrd are the stand-in."""
    vmlinuz, modules = kernel
    stage = dest.parent / f"{dest.name}-initrd"
    (stage / "bin").mkdir(parents=True)
    (stage / "lib" / "modules").mkdir(parents=True)
    (stage / "standin").mkdir()
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    names = []
    for path in module_order(modules, MODULES):
        name = path.name.removesuffix(".xz")
        (stage / "lib" / "modules" / name).write_bytes(_read_module(path))
        names.append(name)
    (stage / "modules.order").write_text("\n".join(names) + "\n")
    for tool in HOST_TOOLS:
        _copy_with_libs(tool, stage)
    shutil.copyfile(root, stage / "standin" / "root.tar")
    (stage / "standin" / "packages.txt").write_text("\n".join(packages) + "\n")
    (stage / "standin" / "features").write_text(",".join(disk.EXT4_FEATURES[el]))
    (stage / "standin" / "mode").write_text(mode)
    (stage / "standin" / "el").write_text(str(el))
    (stage / "init").write_text(INIT)
    (stage / "init").chmod(0o755)
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
    cpio = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
        cwd=stage,
        input=("\n".join(files) + "\n").encode(),
        capture_output=True,
        check=True,
    ).stdout
    shutil.rmtree(stage)
    pxe = dest / "images" / "pxeboot"
    pxe.mkdir(parents=True)
    shutil.copyfile(vmlinuz, pxe / "vmlinuz")
    (pxe / "initrd.img").write_bytes(gzip.compress(cpio, compresslevel=1))
    return dest
