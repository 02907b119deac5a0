"""The seccomp filter every run gets, compiled to classic BPF here and installed by the fork-server.

The filter allows by default and denies (EPERM) what a program under test never needs and an attacker
wants: debugging other processes, the kernel's module/mount/namespace/keyring/BPF interfaces, io_uring (its
operations bypass seccomp), every socket family but AF_UNIX, and any way to reach a Unix socket by its
name (a host's D-Bus, X server or database socket): no `connect()` at all, and no datagram Unix sockets,
whose `sendto`/`sendmsg` could name a destination. What stays is what a program under test uses: socket
pairs, its peer socket, and stream or seqpacket sockets it binds and listens on itself. Syscalls of another
ABI than the native one (x86 `int 0x80` on x86_64, x32) kill the process: a filter for one ABI says nothing
about the others.

It is compiled with libseccomp through `pyseccomp` in the calling process; the fork-server only needs
`prctl`, so that a container's interpreter needs no libseccomp of its own.
"""

from __future__ import annotations

import errno
import functools
import socket
import tempfile

#: Denied outright (EPERM). Unknown names (another architecture, an old libseccomp) are skipped.
DENIED_SYSCALLS = (
    # other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "process_madvise",
    "kcmp",
    # file systems, namespaces, the machine
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "unshare",
    "setns",
    "swapon",
    "swapoff",
    "reboot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "acct",
    "quotactl",
    "quotactl_fd",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "uselib",
    "nfsservctl",
    "sethostname",
    "setdomainname",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    # kernel attack surface programs under test never need
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "move_pages",
    "migrate_pages",
)

#: clone() flags that create namespaces (a user namespace would hand the run capabilities inside it).
NAMESPACE_CLONE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
TIOCSTI = 0x5412
#: The socket types (`type & SOCK_TYPE_MASK`) a run may create: connection-oriented ones, which can talk
#: only to what they are connected to (an address given to their `sendmsg` is refused by the kernel).
UNIX_SOCKET_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)
SOCK_TYPE_MASK = 0xF

#: What a protection depends on, for `describe()`: a host's Unix sockets are closed by the filter alone
#: (Landlock does not govern `connect()` to a named socket).
HOST_UNIX_SOCKETS_LAYER = "seccomp"


class SeccompUnavailable(RuntimeError):
    """libseccomp (or the `pyseccomp` binding) is missing, so no filter can be compiled."""


@functools.lru_cache(maxsize=2)
def compile_filter(network: bool) -> bytes:
    """The filter as classic BPF (`struct sock_filter[]`); `network=True` leaves sockets alone (a run granted
    the network is in the host's network namespace, and may connect anywhere, Unix sockets included)."""
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]
    except Exception as exc:  # the binding loads libseccomp.so.2 with ctypes at import
        raise SeccompUnavailable(f"pyseccomp/libseccomp unavailable: {type(exc).__name__}: {exc}") from exc

    deny = seccomp.ERRNO(errno.EPERM)
    syscall_filter = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        try:
            syscall_filter.add_rule(deny, name)
        except (RuntimeError, ValueError, OSError):
            continue
    # clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc fall back to clone().
    syscall_filter.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_CLONE_FLAGS:
        syscall_filter.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    syscall_filter.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
    if not network:
        syscall_filter.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
        # Without network the only sockets are Unix ones: a connect() could only reach one by name.
        syscall_filter.add_rule(deny, "connect")
        for socket_type in range(SOCK_TYPE_MASK + 1):
            if socket_type in UNIX_SOCKET_TYPES:
                continue
            for call in ("socket", "socketpair"):
                syscall_filter.add_rule(
                    deny,
                    call,
                    seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX),
                    seccomp.Arg(1, seccomp.MASKED_EQ, SOCK_TYPE_MASK, socket_type),
                )
    with tempfile.TemporaryFile() as handle:
        syscall_filter.export_bpf(handle)
        handle.seek(0)
        return handle.read()
