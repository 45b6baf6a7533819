import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall } from "../oci-spec.js";

/**
 * Docker's default seccomp policy (moby `profiles/seccomp/default.json`), written here as
 * berth's own grouped lists: deny everything with EPERM, allow a baseline every process
 * needs, allow more when the container holds the capability that makes a syscall safe to
 * have (mount and namespaces with CAP_SYS_ADMIN, ptrace with CAP_SYS_PTRACE...), and filter
 * clone's flags when it does not. Groups are by purpose so a reader can audit them; the
 * rule list the function emits is equivalent to Docker's for the same capabilities.
 */

/** A group of syscalls allowed together under the same condition. */
interface Rule {
  /** Space-separated syscall names. */
  names: string;
  /** Allowed only when the container has all of these capabilities. */
  caps?: string[];
  /** Left out when the container has any of these capabilities. */
  unlessCaps?: string[];
  /** Allowed only on these architectures (Docker's Go names: amd64, arm64, x86...). */
  arches?: string[];
  /** Left out on these architectures. */
  unlessArches?: string[];
  /** Allowed only from this kernel version ("4.8"). */
  minKernel?: string;
  args?: OciSeccompArg[];
  /** Deny with this errno instead of allowing. */
  errno?: number;
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
const cloneNamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/** The baseline, by purpose. Every container may call these. */
const baseline: Record<string, string> = {
  files:
    "access faccessat faccessat2 open openat openat2 creat close close_range read readv pread64 preadv preadv2 " +
    "write writev pwrite64 pwritev pwritev2 lseek _llseek dup dup2 dup3 fcntl fcntl64 flock fsync fdatasync " +
    "sync syncfs sync_file_range fallocate ftruncate ftruncate64 truncate truncate64 fadvise64 fadvise64_64 " +
    "readahead sendfile sendfile64 splice tee vmsplice copy_file_range name_to_handle_at",
  metadata:
    "stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs statfs64 fstatfs fstatfs64 " +
    "chmod fchmod fchmodat chown chown32 fchown fchown32 fchownat lchown lchown32 utime utimes utimensat " +
    "utimensat_time64 futimesat umask",
  directories:
    "chdir fchdir getcwd mkdir mkdirat rmdir getdents getdents64 link linkat symlink symlinkat unlink unlinkat " +
    "rename renameat renameat2 readlink readlinkat mknod mknodat",
  xattrs:
    "getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr llistxattr flistxattr removexattr " +
    "lremovexattr fremovexattr",
  polling:
    "select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create epoll_create1 epoll_ctl " +
    "epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait epoll_pwait2 eventfd eventfd2 inotify_init inotify_init1 " +
    "inotify_add_watch inotify_rm_watch fanotify_mark signalfd signalfd4 timerfd_create timerfd_gettime " +
    "timerfd_gettime64 timerfd_settime timerfd_settime64",
  asyncIo:
    "io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64 io_uring_setup " +
    "io_uring_enter io_uring_register ioctl",
  memory:
    "brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall munlock munlockall " +
    "remap_file_pages membarrier memfd_create memfd_secret pkey_alloc pkey_free pkey_mprotect process_mrelease",
  processes:
    "execve execveat exit exit_group fork vfork wait4 waitid waitpid kill tkill tgkill pidfd_open " +
    "pidfd_send_signal prctl capget capset seccomp restart_syscall set_tid_address get_robust_list " +
    "set_robust_list get_thread_area set_thread_area rseq getcpu getrusage getrlimit setrlimit ugetrlimit " +
    "prlimit64 times sysinfo uname landlock_create_ruleset landlock_add_rule landlock_restrict_self",
  identity:
    "getpid getppid gettid getpgid getpgrp setpgid getsid setsid getuid getuid32 geteuid geteuid32 getgid " +
    "getgid32 getegid getegid32 getresuid getresuid32 getresgid getresgid32 getgroups getgroups32 setuid " +
    "setuid32 setgid setgid32 setreuid setreuid32 setregid setregid32 setresuid setresuid32 setresgid " +
    "setresgid32 setfsuid setfsuid32 setfsgid setfsgid32 setgroups setgroups32",
  signals:
    "rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait " +
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask sigreturn pause alarm",
  time:
    "time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64 clock_nanosleep " +
    "clock_nanosleep_time64 nanosleep adjtimex clock_adjtime clock_adjtime64 getitimer setitimer timer_create " +
    "timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64",
  scheduling:
    "sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr sched_getparam sched_setparam " +
    "sched_getscheduler sched_setscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval " +
    "sched_rr_get_interval_time64 getpriority setpriority ioprio_get ioprio_set futex futex_time64 futex_waitv",
  network:
    "socketpair bind connect listen accept accept4 getsockname getpeername getsockopt setsockopt shutdown " +
    "send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64 socketcall",
  ipc:
    "ipc pipe pipe2 msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl shmget shmat " +
    "shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64 " +
    "mq_notify mq_getsetattr",
  random: "getrandom",
};

/** Conditional rules, in Docker's order (it matters only for readability of the output). */
const conditional: Rule[] = [
  // Since 4.8 a seccomp filter can no longer be bypassed through ptrace, so Docker allows it.
  { names: "process_vm_readv process_vm_writev ptrace", minKernel: "4.8" },
  // vsock would reach the host's hypervisor services.
  { names: "socket", args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_NE" }] },
  // personality: only the harmless domains (PER_LINUX, UNAME26, PER_LINUX32, their union, query).
  ...[0x0, 0x0008, 0x20000, 0x20008, 0xffffffff].map((value) => ({
    names: "personality",
    args: [{ index: 0, value, op: "SCMP_CMP_EQ" as const }],
  })),
  { names: "sync_file_range2 swapcontext", arches: ["ppc64le"] },
  { names: "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls", arches: ["arm", "arm64"] },
  { names: "arch_prctl", arches: ["amd64", "x32"] },
  { names: "modify_ldt", arches: ["amd64", "x32", "x86"] },
  { names: "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", arches: ["s390", "s390x"] },
  { names: "riscv_flush_icache", arches: ["riscv64"] },
  { names: "open_by_handle_at", caps: ["CAP_DAC_READ_SEARCH"] },
  {
    names:
      "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount " +
      "open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
    caps: ["CAP_SYS_ADMIN"],
  },
  // Without CAP_SYS_ADMIN, clone may not create namespaces (flags are argument 0, 1 on s390).
  {
    names: "clone",
    unlessCaps: ["CAP_SYS_ADMIN"],
    unlessArches: ["s390", "s390x"],
    args: [{ index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
  },
  {
    names: "clone",
    unlessCaps: ["CAP_SYS_ADMIN"],
    arches: ["s390", "s390x"],
    args: [{ index: 1, value: cloneNamespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
  },
  // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
  { names: "clone3", unlessCaps: ["CAP_SYS_ADMIN"], errno: ENOSYS },
  { names: "reboot", caps: ["CAP_SYS_BOOT"] },
  { names: "chroot", caps: ["CAP_SYS_CHROOT"] },
  { names: "delete_module init_module finit_module", caps: ["CAP_SYS_MODULE"] },
  { names: "acct", caps: ["CAP_SYS_PACCT"] },
  { names: "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace", caps: ["CAP_SYS_PTRACE"] },
  { names: "iopl ioperm", caps: ["CAP_SYS_RAWIO"] },
  { names: "settimeofday stime clock_settime clock_settime64", caps: ["CAP_SYS_TIME"] },
  { names: "vhangup", caps: ["CAP_SYS_TTY_CONFIG"] },
  { names: "get_mempolicy mbind set_mempolicy set_mempolicy_home_node", caps: ["CAP_SYS_NICE"] },
  { names: "syslog", caps: ["CAP_SYSLOG"] },
  { names: "bpf", caps: ["CAP_BPF"] },
  { names: "perf_event_open", caps: ["CAP_PERFMON"] },
];

/** Docker's architecture names for Node's `process.arch`. */
const nodeToDockerArch: Record<string, string> = {
  x64: "amd64",
  ia32: "x86",
  arm64: "arm64",
  arm: "arm",
  s390x: "s390x",
  s390: "s390",
  riscv64: "riscv64",
  ppc64: "ppc64le",
  mips64el: "mips64le",
  mipsel: "mipsle",
};

/** The libseccomp architectures a filter covers for a native architecture (its compat ABIs too). */
const scmpArches: Record<string, string[]> = {
  amd64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  x86: ["SCMP_ARCH_X86"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
  arm: ["SCMP_ARCH_ARM"],
  s390x: ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
  s390: ["SCMP_ARCH_S390"],
  riscv64: ["SCMP_ARCH_RISCV64"],
  ppc64le: ["SCMP_ARCH_PPC64LE"],
  mips64le: ["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
  mipsle: ["SCMP_ARCH_MIPSEL"],
};

/** Options of {@link defaultSeccompProfile}. */
export interface SeccompProfileOptions {
  /** The container's effective capabilities (`CAP_*`). @default Docker's default set */
  capabilities?: readonly string[];
  /** Node's name of the architecture (`process.arch`). @default process.arch */
  arch?: string;
  /** The host kernel's version (`os.release()`), for version-gated rules. @default "99.0" (all rules) */
  kernelVersion?: string;
}

function kernelAtLeast(actual: string, wanted: string): boolean {
  const [a1 = 0, a2 = 0] = actual.split(/[.-]/).map(Number);
  const [w1 = 0, w2 = 0] = wanted.split(".").map(Number);
  return a1 > w1 || (a1 === w1 && a2 >= w2);
}

/** All syscall names the baseline allows, for tests and audits. */
export function baselineSyscalls(): string[] {
  return Object.values(baseline).flatMap((g) => g.split(" "));
}

/**
 * Docker's default seccomp profile as the OCI `linux.seccomp` object runc would get for a
 * container with these capabilities on this architecture. A privileged container gets no
 * profile at all (the engine leaves `linux.seccomp` out), as Docker does.
 */
export function defaultSeccompProfile(options: SeccompProfileOptions = {}): OciSeccomp {
  const {
    capabilities = [
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
      "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ],
    arch = process.arch,
    kernelVersion = "99.0",
  } = options;
  const dockerArch = nodeToDockerArch[arch] ?? arch;
  const caps = new Set(capabilities);
  const syscalls: OciSeccompSyscall[] = [{ names: baselineSyscalls(), action: "SCMP_ACT_ALLOW" }];
  for (const rule of conditional) {
    if (rule.caps && !rule.caps.every((c) => caps.has(c))) continue;
    if (rule.unlessCaps?.some((c) => caps.has(c))) continue;
    if (rule.arches && !rule.arches.includes(dockerArch)) continue;
    if (rule.unlessArches?.includes(dockerArch)) continue;
    if (rule.minKernel && !kernelAtLeast(kernelVersion, rule.minKernel)) continue;
    const entry: OciSeccompSyscall = {
      names: rule.names.split(" "),
      action: rule.errno === undefined ? "SCMP_ACT_ALLOW" : "SCMP_ACT_ERRNO",
    };
    if (rule.errno !== undefined) entry.errnoRet = rule.errno;
    if (rule.args) entry.args = rule.args.map((a) => ({ ...a }));
    syscalls.push(entry);
  }
  const profile: OciSeccomp = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: EPERM, syscalls };
  const architectures = scmpArches[dockerArch];
  if (architectures) profile.architectures = [...architectures];
  return profile;
}
