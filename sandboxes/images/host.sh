#!/bin/sh
# Recipe `host`: an empty root with the folders the fork-server needs. The container bind-mounts this
# machine's /usr read-only at run time (the image's label `assay.sandbox.bind` says so), so its Python
# and compilers are the host's. Builds in ~0.1 s with nothing downloaded.
#   host.sh ROOT   fills the (empty) folder ROOT
set -eu
root=${1:?usage: host.sh ROOT}
mkdir -p "$root/usr" "$root/work" "$root/tmp" "$root/run/assay" "$root/opt/assay" "$root/etc" \
    "$root/proc" "$root/dev" "$root/sys"
chmod 1777 "$root/tmp"
# The merged-/usr layout of Debian 12 and later: /bin, /lib... point into the bind-mounted /usr.
for link in bin sbin lib lib32 lib64 libx32; do
    ln -s "usr/$link" "$root/$link"
done
printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:65534:65534:sandbox:/work:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nsandbox:x:65534:\n' > "$root/etc/group"
