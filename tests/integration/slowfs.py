"""A directory whose fsync is slow, for tests: a FUSE passthrough of BACKING at MOUNTPOINT in
which, while the file SWITCH exists, every fsync and fsyncdir sleeps DELAY_MS before it
syncs. Everything else is passed straight through. Each fsync is printed
(monotonic time, path, how long it took) so a test can tell whether, and when, anything synced.

With OPEN_MS, every open of a file whose name starts with "slow-" sleeps OPEN_MS first, switch
or not: a program there takes that long to exec (the kernel opens it inside execve), like a
program read back from a busy disk. Each such open is printed too.

Needs Debian's python3-fusepy (module `fusepy`, libfuse2) and /dev/fuse; run with the system's
python (/usr/bin/python3), where that module is installed. Runs in the foreground until
unmounted (`umount -l MOUNTPOINT`) or killed.

    /usr/bin/python3 slowfs.py BACKING MOUNTPOINT DELAY_MS SWITCH [OPEN_MS]
"""

import errno
import os
import sys
import threading
import time

import fusepy
from fusepy import FUSE, FuseOSError, Operations


class SlowFsync(Operations):
    def __init__(self, root, delay, switch, open_delay=0.0):
        self.root = os.path.realpath(root)
        self.delay = delay
        self.open_delay = open_delay
        self.switch = switch
        self.out = threading.Lock()

    def _p(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def __call__(self, op, path, *args):
        if not hasattr(self, op):
            raise FuseOSError(errno.ENOSYS)
        try:
            return getattr(self, op)(path, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO) from None

    def _sync(self, path, fn):
        t0 = time.monotonic()
        slow = os.path.exists(self.switch)
        if slow:
            time.sleep(self.delay)
        fn()
        with self.out:
            print(f"fsync {t0:.6f} {path} {time.monotonic() - t0:.3f} slow={int(slow)}",
                  flush=True)

    # ------------------------------------------------------------------ files
    def access(self, path, mode):
        if not os.access(self._p(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        return os.chmod(self._p(path), mode)

    def chown(self, path, uid, gid):
        return os.chown(self._p(path), uid, gid)

    def getattr(self, path, fh=None):
        st = os.lstat(self._p(path))
        return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode",
                                             "st_mtime", "st_nlink", "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._p(path))

    def readlink(self, path):
        return os.readlink(self._p(path))

    def mknod(self, path, mode, dev):
        return os.mknod(self._p(path), mode, dev)

    def rmdir(self, path):
        return os.rmdir(self._p(path))

    def mkdir(self, path, mode):
        return os.mkdir(self._p(path), mode)

    def statfs(self, path):
        s = os.statvfs(self._p(path))
        return {k: getattr(s, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                            "f_favail", "f_ffree", "f_files", "f_flag",
                                            "f_frsize", "f_namemax")}

    def unlink(self, path):
        return os.unlink(self._p(path))

    def symlink(self, target, source):
        return os.symlink(source, self._p(target))

    def rename(self, old, new):
        return os.rename(self._p(old), self._p(new))

    def link(self, target, source):
        return os.link(self._p(source), self._p(target))

    def utimens(self, path, times=None):
        return os.utime(self._p(path), times)

    def open(self, path, flags):
        if self.open_delay > 0 and os.path.basename(path).startswith("slow-"):
            t0 = time.monotonic()
            time.sleep(self.open_delay)
            with self.out:
                print(f"open {t0:.6f} {path} {time.monotonic() - t0:.3f} slow=1", flush=True)
        return os.open(self._p(path), flags)

    def create(self, path, mode, fi=None):
        # Without raw_fi fusepy does not pass the flags: read-write, so any use works.
        return os.open(self._p(path), os.O_RDWR | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        with open(self._p(path), "r+") as f:
            f.truncate(length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, datasync, fh):
        self._sync(path, lambda: os.fdatasync(fh) if datasync else os.fsync(fh))
        return 0

    def fsyncdir(self, path, datasync, fh):
        def sync_dir():
            fd = os.open(self._p(path), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._sync(path, sync_dir)
        return 0


def main():
    backing, mountpoint, delay_ms, switch = sys.argv[1:5]
    open_ms = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    ops = SlowFsync(backing, float(delay_ms) / 1000.0, switch, open_ms / 1000.0)
    print(f"mounting {backing} at {mountpoint} (fusepy {getattr(fusepy, '__version__', '?')})",
          flush=True)
    FUSE(ops, mountpoint, foreground=True, nothreads=False, default_permissions=True)


if __name__ == "__main__":
    main()
