/* One escape or privilege attempt per invocation, run inside a container by
 * tests/security: `probe NAME [ARGS]` makes the system call(s) NAME stands for and prints
 * "ok" when they succeed, or the errno's symbolic name (EPERM, EROFS, ...) when they fail.
 * Built statically at test time so it runs in a busybox image. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>

static const char *name(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EBADF: return "EBADF";
    default: return strerror(e);
    }
}

static int report(long rc) {
    if (rc < 0) {
        printf("%s\n", name(errno));
        return 1;
    }
    printf("ok\n");
    return 0;
}

static long write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    long rc = write(fd, text, strlen(text));
    close(fd);
    return rc;
}

static long read_bytes(const char *path) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    long n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0) return -1;
    printf("%ld bytes\n", n);
    exit(0);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *t = argv[1];
    const char *a = argc > 2 ? argv[2] : "";
    const char *b = argc > 3 ? argv[3] : "";
    if (!strcmp(t, "mount")) return report(mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(t, "mount-cgroup")) {
        mkdir("/tmp/cg", 0700);
        return report(mount("cgroup", "/tmp/cg", "cgroup", 0, "rdma"));
    }
    if (!strcmp(t, "umount")) return report(umount2("/proc", MNT_DETACH));
    if (!strcmp(t, "init_module")) return report(syscall(SYS_init_module, "x", 1, ""));
    if (!strcmp(t, "finit_module")) {
        int fd = open("/probe", O_RDONLY);
        return report(syscall(SYS_finit_module, fd, "", 0));
    }
    if (!strcmp(t, "kexec_load")) return report(syscall(SYS_kexec_load, 0, 0, NULL, 0));
    if (!strcmp(t, "reboot")) return report(reboot(RB_POWER_OFF));
    if (!strcmp(t, "settime")) {
        struct timespec ts = {.tv_sec = 1000000000, .tv_nsec = 0};
        return report(clock_settime(CLOCK_REALTIME, &ts));
    }
    if (!strcmp(t, "host-disk")) { /* mknod the host's disk (MAJOR MINOR), then read it */
        unlink("/tmp/disk");
        if (mknod("/tmp/disk", S_IFBLK | 0600, makedev(atoi(a), atoi(b))) < 0) return report(-1);
        return report(open("/tmp/disk", O_RDONLY));
    }
    if (!strcmp(t, "dev-mem")) {
        unlink("/tmp/mem");
        if (mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)) < 0) return report(-1);
        return report(open("/tmp/mem", O_RDONLY));
    }
    if (!strcmp(t, "open_by_handle_at")) { /* the "shocker" escape */
        char buf[sizeof(struct file_handle) + 8];
        struct file_handle *h = (struct file_handle *)buf;
        h->handle_bytes = 8;
        h->handle_type = 1;
        memset(h->f_handle, 0, 8);
        h->f_handle[0] = 2; /* inode 2: the root of most file systems */
        return report(syscall(SYS_open_by_handle_at, AT_FDCWD, h, O_RDONLY));
    }
    if (!strcmp(t, "keyctl")) return report(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    if (!strcmp(t, "add_key")) return report(syscall(SYS_add_key, "user", "x", "y", 1, -3));
    if (!strcmp(t, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        return report(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    }
    if (!strcmp(t, "perf_event_open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        return report(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    }
    if (!strcmp(t, "userfaultfd")) return report(syscall(SYS_userfaultfd, 0));
    if (!strcmp(t, "unshare-user")) return report(unshare(CLONE_NEWUSER));
    if (!strcmp(t, "unshare-mount")) return report(unshare(CLONE_NEWNS));
    if (!strcmp(t, "clone-newns")) {
        pid_t pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, 0);
        if (pid == 0) _exit(0);
        return report(pid);
    }
    if (!strcmp(t, "setns")) {
        int fd = open("/proc/1/ns/mnt", O_RDONLY);
        if (fd < 0) return report(-1);
        return report(setns(fd, 0));
    }
    if (!strcmp(t, "write")) return report(write_file(a, b));
    if (!strcmp(t, "read")) return report(read_bytes(a));
    if (!strcmp(t, "swapon")) return report(swapon("/probe", 0));
    if (!strcmp(t, "acct")) return report(acct("/tmp/acct"));
    if (!strcmp(t, "iopl")) return report(iopl(3));
    if (!strcmp(t, "kill")) return report(kill(atoi(a), 0));
    if (!strcmp(t, "vsock")) return report(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
    if (!strcmp(t, "personality")) return report(personality(PER_BSD));
    if (!strcmp(t, "chroot-escape")) {
        /* The classic: chroot into a subdirectory while holding the old root open, then walk
         * up. In a container the walk must stop at the container's own root. */
        int fd = open("/", O_RDONLY);
        mkdir("/tmp/jail", 0700);
        if (chroot("/tmp/jail") < 0) return report(-1);
        fchdir(fd);
        for (int i = 0; i < 64; i++) chdir("..");
        chroot(".");
        return report(access(a, F_OK)); /* a: a path only the host has */
    }
    fprintf(stderr, "unknown probe %s\n", t);
    return 2;
}
