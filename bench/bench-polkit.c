/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-polkit: what domaind's polkit decision cache buys. It compares a
 * repeated read call by root (never asks polkit) with the same call by an
 * unprivileged user (asks polkit once, then answers from the cache), and
 * shows what the call would cost without the cache: the first call on a
 * fresh connection (caller's uid + CheckAuthorization) and the bare
 * CheckAuthorization round trip to polkitd.
 *
 * A report, not a test: a missed target still exits 0; only errors (a call
 * failing, a wrong answer, the unprivileged child dying) exit non-zero.
 *
 * Normally started by bench/run-polkit, which brings up a private system bus,
 * a real polkitd with domaind's actions and a domaind with test domains.
 * By hand, as root:
 *
 *   bench-polkit --address=unix:path=/dev/shm/x/bus --domain=NAME \
 *                [--pid=DOMAIND_PID] [--polkit-pid=POLKITD_PID] [--iterations=3000]
 *
 * How it measures: the process forks; the child drops to uid/gid 65534
 * (setgroups, setgid, setuid) *before* it connects, since the bus fixes a
 * connection's identity when it connects. The parent (root) and the child
 * then take turns, block by block, driven over a pipe; the child writes its
 * timings into shared memory. Each round runs one block of root calls, one
 * block of unprivileged cached calls, one block of CheckAuthorization calls
 * and a few fresh unprivileged connections, in a rotating order, so that
 * machine noise falls on all of them alike.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.domaind1"
#define HV_PATH "/org/domaind1/test"
#define HV_NAME "test"
#define HV_IFACE "org.domaind1.Hypervisor"
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define READ_ACTION "org.domaind1.read"

/* the issue: cached unprivileged median <= 1.5 x root median */
#define TARGET_CACHED_ROOT_RATIO 1.5

#define MIN_ITERATIONS 2000
#define MIN_FRESH 200
#define WARMUP 300

static const char *arg_address;
static const char *arg_domain;
static long arg_pid, arg_polkit_pid, arg_bus_pid;
static unsigned arg_iterations = 3000;
static unsigned arg_fresh = 300;
static unsigned arg_block = 100;
static uid_t arg_uid = 65534;
static gid_t arg_gid = 65534;
static const char *arg_perf_ctl, *arg_perf_ack;
static const char *arg_perf_phases = "u";

static const char *who = "bench-polkit";
static unsigned n_missed;

/* the unprivileged child, as seen from the parent (0 in the child) */
static pid_t child_pid;

/* The parent does not leave its child to PID 1 (which may reap slowly). */
static void child_kill(void) {
        if (child_pid > 0) {
                (void) kill(child_pid, SIGKILL);
                (void) waitpid(child_pid, NULL, 0);
                child_pid = 0;
        }
}

static void on_signal(int sig) {
        int saved = errno;
        child_kill();
        signal(sig, SIG_DFL);
        raise(sig);
        errno = saved;
}

/* ---- helpers ---- */

static G_NORETURN G_GNUC_PRINTF(1, 2) void die(const char *fmt, ...) {
        va_list ap;
        fflush(stdout);
        fprintf(stderr, "%s: error: ", who);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        child_kill();
        exit(EXIT_FAILURE);
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

static int u64_cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return (x > y) - (x < y);
}

typedef struct {
        double p50, p99, max; /* µs */
} Stats;

/* Nearest-rank percentiles of a copy of v, in µs. */
static Stats stats(const uint64_t *v, size_t n) {
        Stats s = { 0 };
        if (n == 0)
                return s;
        uint64_t *c = g_memdup2(v, n * sizeof(*v));
        qsort(c, n, sizeof(*c), u64_cmp);
        size_t r50 = (n * 50 + 99) / 100, r99 = (n * 99 + 99) / 100;
        s.p50 = (double) c[(r50 ? r50 : 1) - 1] / 1e3;
        s.p99 = (double) c[(r99 ? r99 : 1) - 1] / 1e3;
        s.max = (double) c[n - 1] / 1e3;
        g_free(c);
        return s;
}

static void check(int r, const sd_bus_error *e, const char *what) {
        if (r >= 0)
                return;
        if (e && sd_bus_error_is_set(e))
                die("%s: %s: %s", what, e->name, e->message ? e->message : "");
        die("%s: %s", what, strerror(-r));
}

static sd_bus *connect_bus(const char *description) {
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        if (r < 0)
                die("sd_bus_new: %s", strerror(-r));
        (void) sd_bus_set_description(bus, description);
        r = sd_bus_set_address(bus, arg_address);
        if (r < 0)
                die("bad bus address '%s': %s", arg_address, strerror(-r));
        (void) sd_bus_set_bus_client(bus, true);
        r = sd_bus_start(bus);
        if (r < 0)
                die("cannot connect to %s: %s", arg_address, strerror(-r));
        /* sd_bus_start() does not wait for Hello; the unique name does */
        const char *unique;
        r = sd_bus_get_unique_name(bus, &unique);
        if (r < 0)
                die("no unique name on %s: %s", arg_address, strerror(-r));
        return bus;
}

/* CPU time (ns) of every thread of a process, from /proc/PID/task/TID/schedstat */
static uint64_t cpu_ns(long pid) {
        if (pid <= 0)
                return 0;
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%ld/task", pid);
        GDir *d = g_dir_open(dir, 0, NULL);
        if (!d)
                die("cannot open %s: has process %ld died?", dir, pid);
        uint64_t sum = 0;
        const char *tid;
        while ((tid = g_dir_read_name(d))) {
                g_autofree char *path = g_strdup_printf("%s/%s/schedstat", dir, tid);
                g_autofree char *text = NULL;
                if (g_file_get_contents(path, &text, NULL, NULL)) /* a thread may just have gone */
                        sum += g_ascii_strtoull(text, NULL, 10);
        }
        g_dir_close(d);
        return sum;
}

typedef struct {
        uint64_t domaind, polkitd, bus;
} Cpu;

static Cpu cpu_now(void) {
        return (Cpu) { cpu_ns(arg_pid), cpu_ns(arg_polkit_pid), cpu_ns(arg_bus_pid) };
}

static void cpu_add(Cpu *total, Cpu since) {
        Cpu now = cpu_now();
        total->domaind += now.domaind - since.domaind;
        total->polkitd += now.polkitd - since.polkitd;
        total->bus += now.bus - since.bus;
}

/* perf record -D -1 --control=fifo:CTL,ACK samples only while enabled */
static void perf_phase(char phase, bool enable) {
        static int ctl = -1, ack = -1;
        if (!arg_perf_ctl || !strchr(arg_perf_phases, phase))
                return;
        if (ctl < 0) {
                ctl = open(arg_perf_ctl, O_WRONLY | O_CLOEXEC);
                ack = open(arg_perf_ack, O_RDONLY | O_CLOEXEC);
                if (ctl < 0 || ack < 0)
                        die("cannot open the perf control fifos %s, %s: %s", arg_perf_ctl, arg_perf_ack,
                            strerror(errno));
        }
        const char *cmd = enable ? "enable\n" : "disable\n";
        char buf[16];
        if (write(ctl, cmd, strlen(cmd)) != (ssize_t) strlen(cmd))
                die("cannot write to %s: %s", arg_perf_ctl, strerror(errno));
        if (read(ack, buf, sizeof(buf)) <= 0)
                die("no answer from perf on %s", arg_perf_ack);
}

/* ---- the timed calls ---- */

static uint64_t timed_lookup(sd_bus *bus, const char *expected_path) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0 = now_ns();
        int r = sd_bus_call_method(bus, BUS_NAME, HV_PATH, HV_IFACE, "LookupByName", &error, &reply, "s",
                                   arg_domain);
        uint64_t t = now_ns() - t0;
        check(r, &error, "Hypervisor.LookupByName");
        const char *path;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                die("LookupByName: cannot read the reply: %s", strerror(-r));
        if (expected_path && strcmp(path, expected_path) != 0)
                die("LookupByName(%s) returned %s, expected %s", arg_domain, path, expected_path);
        sd_bus_message_unref(reply);
        return t;
}

static uint64_t timed_list(sd_bus *bus, size_t expected, size_t *ret_count) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t t0 = now_ns();
        int r = sd_bus_call_method(bus, BUS_NAME, HV_PATH, HV_IFACE, "ListDomains", &error, &reply, "t",
                                   (uint64_t) 0);
        uint64_t t = now_ns() - t0;
        check(r, &error, "Hypervisor.ListDomains");
        size_t n = 0;
        r = sd_bus_message_enter_container(reply, 'a', "o");
        while (r >= 0 && (r = sd_bus_message_skip(reply, "o")) > 0)
                n++;
        if (r < 0)
                die("ListDomains: cannot read the reply: %s", strerror(-r));
        if (expected && n != expected)
                die("ListDomains returned %zu domains, expected %zu", n, expected);
        if (ret_count)
                *ret_count = n;
        sd_bus_message_unref(reply);
        return t;
}

static uint64_t timed_ping(sd_bus *bus) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t t0 = now_ns();
        int r = sd_bus_call_method(bus, BUS_NAME, "/", "org.freedesktop.DBus.Peer", "Ping", &error, NULL, "");
        uint64_t t = now_ns() - t0;
        check(r, &error, "Peer.Ping");
        return t;
}

/* The question domaind asks polkit for LookupByName, asked directly. */
static uint64_t timed_check_authorization(sd_bus *bus, const char *subject_name) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *call = NULL, *reply = NULL;
        int r = sd_bus_message_new_method_call(bus, &call, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
                                               "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", subject_name,
                                          READ_ACTION);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{ss}us", 2, "hypervisor", HV_NAME, "method", "LookupByName",
                                          (uint32_t) 0, "");
        if (r < 0)
                die("cannot build CheckAuthorization: %s", strerror(-r));
        uint64_t t0 = now_ns();
        r = sd_bus_call(bus, call, 0, &error, &reply);
        uint64_t t = now_ns() - t0;
        check(r, &error, "polkit CheckAuthorization");
        int authorized, challenge;
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0)
                die("CheckAuthorization: cannot read the reply: %s", strerror(-r));
        if (!authorized)
                die("polkit does not authorize %s for %s (challenge=%d): is polkit/org.domaind1.policy installed "
                    "in polkitd's actions folder?",
                    READ_ACTION, subject_name, challenge);
        sd_bus_message_unref(call);
        sd_bus_message_unref(reply);
        return t;
}

/* ---- the unprivileged child ---- */

enum { OP_CONNECT, OP_WARMUP, OP_BLOCK, OP_FRESH, OP_QUIT };

typedef struct {
        int op;
        unsigned start, count;
} Command;

/* shared between parent and child (MAP_SHARED) */
typedef struct {
        char unique_name[256];
        size_t n_domains;
        char expected_path[512];
        uint64_t *lookup, *list, *ping;           /* [iterations], cached */
        uint64_t *fresh_connect, *fresh_first, *fresh_second; /* [fresh] */
} Shared;

static Shared *shared;

static void child_run(int cmd_fd, int ack_fd) {
        who = "bench-polkit (unprivileged child)";
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                die("prctl: %s", strerror(errno));
        /* groups first (needs root), then the gid, then the uid; only then connect */
        if (setgroups(0, NULL) < 0 || setgid(arg_gid) < 0 || setuid(arg_uid) < 0)
                die("cannot become uid %u gid %u: %s", (unsigned) arg_uid, (unsigned) arg_gid, strerror(errno));
        if (getuid() != arg_uid || geteuid() != arg_uid || getgid() != arg_gid || getegid() != arg_gid ||
            getgroups(0, NULL) != 0)
                die("the privileges were not dropped");
        if (setuid(0) == 0)
                die("could become root again after dropping privileges");

        sd_bus *bus = NULL;
        for (;;) {
                Command c;
                ssize_t n = read(cmd_fd, &c, sizeof(c));
                if (n == 0)
                        _exit(EXIT_SUCCESS); /* the parent is gone */
                if (n != (ssize_t) sizeof(c))
                        die("short read from the parent: %s", n < 0 ? strerror(errno) : "truncated");
                switch (c.op) {
                case OP_CONNECT: {
                        bus = connect_bus("bench-unprivileged");
                        const char *unique;
                        check(sd_bus_get_unique_name(bus, &unique), NULL, "sd_bus_get_unique_name");
                        g_strlcpy(shared->unique_name, unique, sizeof(shared->unique_name));
                        break;
                }
                case OP_WARMUP: /* the first call asks polkit; the rest hit the cache */
                        for (unsigned k = 0; k < c.count; k++) {
                                timed_lookup(bus, shared->expected_path);
                                timed_list(bus, shared->n_domains, NULL);
                                timed_ping(bus);
                        }
                        break;
                case OP_BLOCK:
                        for (unsigned k = c.start; k < c.start + c.count; k++) {
                                if (k & 1) {
                                        shared->lookup[k] = timed_lookup(bus, shared->expected_path);
                                        shared->list[k] = timed_list(bus, shared->n_domains, NULL);
                                        shared->ping[k] = timed_ping(bus);
                                } else {
                                        shared->ping[k] = timed_ping(bus);
                                        shared->list[k] = timed_list(bus, shared->n_domains, NULL);
                                        shared->lookup[k] = timed_lookup(bus, shared->expected_path);
                                }
                        }
                        break;
                case OP_FRESH:
                        for (unsigned k = c.start; k < c.start + c.count; k++) {
                                uint64_t t0 = now_ns();
                                sd_bus *fresh = connect_bus("bench-unprivileged-fresh");
                                shared->fresh_connect[k] = now_ns() - t0;
                                shared->fresh_first[k] = timed_lookup(fresh, shared->expected_path);
                                shared->fresh_second[k] = timed_lookup(fresh, shared->expected_path);
                                sd_bus_flush_close_unref(fresh);
                        }
                        break;
                case OP_QUIT:
                        sd_bus_flush_close_unref(bus);
                        _exit(EXIT_SUCCESS);
                default:
                        die("unknown command %d", c.op);
                }
                char ok = 0;
                if (write(ack_fd, &ok, 1) != 1)
                        die("cannot answer the parent: %s", strerror(errno));
        }
}

static int child_cmd = -1, child_ack = -1;

/* Runs one command in the child and waits until it is done. */
static void child_do(int op, unsigned start, unsigned count) {
        Command c = { .op = op, .start = start, .count = count };
        if (write(child_cmd, &c, sizeof(c)) != (ssize_t) sizeof(c))
                die("cannot command the unprivileged child: %s", strerror(errno));
        if (op == OP_QUIT)
                return;
        char ok;
        ssize_t n = read(child_ack, &ok, 1);
        if (n != 1) {
                int status = 0;
                pid_t pid = child_pid;
                child_pid = 0;
                if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
                        die("the unprivileged child failed (exit status %d)", WEXITSTATUS(status));
                die("the unprivileged child died");
        }
}

static void child_start(void) {
        int cmd[2], ack[2];
        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(ack, O_CLOEXEC) < 0)
                die("pipe: %s", strerror(errno));
        fflush(stdout);
        fflush(stderr);
        child_pid = fork();
        if (child_pid < 0)
                die("fork: %s", strerror(errno));
        if (child_pid == 0) {
                /* child_pid is 0 here: die() in the child kills nobody */
                close(cmd[1]);
                close(ack[0]);
                child_run(cmd[0], ack[1]);
                _exit(EXIT_FAILURE);
        }
        close(cmd[0]);
        close(ack[1]);
        child_cmd = cmd[1];
        child_ack = ack[0];
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
}

/* ---- the table ---- */

static void header(void) {
        printf("\n%-58s %-26s %-12s %s\n", "measurement", "measured", "target", "result");
        printf("%-58s %-26s %-12s %s\n", "----------------------------------------------------------",
               "--------------------------", "------------", "------");
}

static void row(const char *what, const char *target, int pass, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static void row(const char *what, const char *target, int pass, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *value = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (pass == 0)
                n_missed++;
        printf("%-58s %-26s %-12s %s\n", what, value, target ? target : "",
               pass < 0 ? "" : pass ? "PASS" : "MISS");
        fflush(stdout);
}

static void row_stats(const char *what, Stats s) {
        row(what, NULL, -1, "%.1f / %.1f us", s.p50, s.p99);
}

static void row_cpu(const char *what, Cpu c, unsigned calls) {
        g_autofree char *text = NULL;
        if (arg_polkit_pid > 0 && arg_bus_pid > 0)
                text = g_strdup_printf("%.1f / %.1f / %.1f us", c.domaind / 1e3 / calls, c.polkitd / 1e3 / calls,
                                       c.bus / 1e3 / calls);
        else if (arg_polkit_pid > 0)
                text = g_strdup_printf("%.1f / %.1f us", c.domaind / 1e3 / calls, c.polkitd / 1e3 / calls);
        else
                text = g_strdup_printf("%.1f us", c.domaind / 1e3 / calls);
        row(what, NULL, -1, "%s", text);
}

/* ---- main ---- */

static unsigned parse_unsigned(const char *s, const char *option) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *s == '\0' || *end != '\0' || v > UINT32_MAX)
                die("bad value for %s: %s", option, s);
        return (unsigned) v;
}

static void parse_argv(int argc, char *argv[]) {
        enum { ARG_ADDRESS = 0x100, ARG_DOMAIN, ARG_PID, ARG_POLKIT_PID, ARG_BUS_PID, ARG_ITERATIONS, ARG_FRESH,
               ARG_BLOCK, ARG_UID, ARG_GID, ARG_PERF_CONTROL, ARG_PERF_PHASES };
        static const struct option options[] = {
                { "address", required_argument, NULL, ARG_ADDRESS },
                { "domain", required_argument, NULL, ARG_DOMAIN },
                { "pid", required_argument, NULL, ARG_PID },
                { "polkit-pid", required_argument, NULL, ARG_POLKIT_PID },
                { "bus-pid", required_argument, NULL, ARG_BUS_PID },
                { "iterations", required_argument, NULL, ARG_ITERATIONS },
                { "fresh", required_argument, NULL, ARG_FRESH },
                { "block", required_argument, NULL, ARG_BLOCK },
                { "uid", required_argument, NULL, ARG_UID },
                { "gid", required_argument, NULL, ARG_GID },
                { "perf-control", required_argument, NULL, ARG_PERF_CONTROL },
                { "perf-phases", required_argument, NULL, ARG_PERF_PHASES },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_ADDRESS: arg_address = optarg; break;
                case ARG_DOMAIN: arg_domain = optarg; break;
                case ARG_PID: arg_pid = parse_unsigned(optarg, "--pid"); break;
                case ARG_POLKIT_PID: arg_polkit_pid = parse_unsigned(optarg, "--polkit-pid"); break;
                case ARG_BUS_PID: arg_bus_pid = parse_unsigned(optarg, "--bus-pid"); break;
                case ARG_ITERATIONS: arg_iterations = parse_unsigned(optarg, "--iterations"); break;
                case ARG_FRESH: arg_fresh = parse_unsigned(optarg, "--fresh"); break;
                case ARG_BLOCK: arg_block = parse_unsigned(optarg, "--block"); break;
                case ARG_UID: arg_uid = parse_unsigned(optarg, "--uid"); break;
                case ARG_GID: arg_gid = parse_unsigned(optarg, "--gid"); break;
                case ARG_PERF_CONTROL: {
                        const char *comma = strchr(optarg, ',');
                        if (!comma)
                                die("--perf-control wants CTL_FIFO,ACK_FIFO");
                        arg_perf_ctl = g_strndup(optarg, comma - optarg);
                        arg_perf_ack = comma + 1;
                        break;
                }
                case ARG_PERF_PHASES: arg_perf_phases = optarg; break;
                case 'h':
                        printf("Usage: %s --domain=NAME [--address=ADDRESS] [--pid=DOMAIND_PID]\n"
                               "          [--polkit-pid=PID] [--bus-pid=PID] [--iterations=N (3000)]\n"
                               "          [--fresh=N (300)] [--block=N (100)] [--uid=UID] [--gid=GID]\n"
                               "          [--perf-control=CTL_FIFO,ACK_FIFO --perf-phases=LETTERS]\n"
                               "Phases for perf: r root, u unprivileged cached, f fresh connections,\n"
                               "p CheckAuthorization (default u).\n"
                               "The address defaults to $DBUS_SYSTEM_BUS_ADDRESS. Run as root.\n",
                               argv[0]);
                        exit(EXIT_SUCCESS);
                default:
                        exit(2);
                }
        }
        if (optind < argc)
                die("unexpected argument '%s' (see --help)", argv[optind]);
        if (!arg_address)
                arg_address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        if (!arg_address || !arg_domain)
                die("--domain and --address (or $DBUS_SYSTEM_BUS_ADDRESS) are required (see --help)");
        if (arg_iterations < MIN_ITERATIONS || arg_fresh < MIN_FRESH)
                fprintf(stderr, "%s: warning: fewer than %d iterations or %d fresh connections: figures are rough\n",
                        who, MIN_ITERATIONS, MIN_FRESH);
        if (arg_iterations < 10 || arg_fresh < 1 || arg_block < 1)
                die("--iterations must be at least 10, --fresh and --block at least 1");
        if (arg_uid == 0)
                die("--uid must not be 0: the point is an unprivileged caller");
        if (geteuid() != 0)
                die("run as root: the child drops to uid %u itself", (unsigned) arg_uid);
}

static void *shared_alloc(size_t size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                die("mmap: %s", strerror(errno));
        return p;
}

enum { PHASE_ROOT, PHASE_UNPRIV, PHASE_POLKIT, PHASE_FRESH, N_PHASES };
static const char phase_letter[N_PHASES] = { 'r', 'u', 'p', 'f' };

int main(int argc, char *argv[]) {
        parse_argv(argc, argv);
        const unsigned iters = arg_iterations, nfresh = arg_fresh;

        shared = shared_alloc(sizeof(Shared));
        shared->lookup = shared_alloc(iters * sizeof(uint64_t));
        shared->list = shared_alloc(iters * sizeof(uint64_t));
        shared->ping = shared_alloc(iters * sizeof(uint64_t));
        shared->fresh_connect = shared_alloc(nfresh * sizeof(uint64_t));
        shared->fresh_first = shared_alloc(nfresh * sizeof(uint64_t));
        shared->fresh_second = shared_alloc(nfresh * sizeof(uint64_t));

        /* before the parent opens any connection: sd-bus objects do not survive fork() */
        child_start();

        sd_bus *bus = connect_bus("bench-root");

        /* what the answers must be, asked by root */
        {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r = sd_bus_call_method(bus, BUS_NAME, HV_PATH, HV_IFACE, "LookupByName", &error, &reply, "s",
                                           arg_domain);
                check(r, &error, "LookupByName (as root) of the benchmark's domain");
                const char *path;
                check(sd_bus_message_read(reply, "o", &path), NULL, "LookupByName reply");
                g_strlcpy(shared->expected_path, path, sizeof(shared->expected_path));
                sd_bus_message_unref(reply);
                timed_list(bus, 0, &shared->n_domains);
                if (shared->n_domains == 0)
                        die("the test hypervisor has no domains");
        }

        child_do(OP_CONNECT, 0, 0);
        g_autofree char *subject = g_strdup(shared->unique_name);

        /* polkit is there and says yes; then the warm-ups */
        timed_check_authorization(bus, subject);
        for (unsigned k = 0; k < WARMUP; k++) {
                timed_lookup(bus, shared->expected_path);
                timed_list(bus, shared->n_domains, NULL);
                timed_ping(bus);
        }
        child_do(OP_WARMUP, 0, WARMUP);
        for (unsigned k = 0; k < WARMUP / 5; k++)
                timed_check_authorization(bus, subject);
        child_do(OP_FRESH, 0, 1); /* overwritten later */

        {
                g_autofree char *load = NULL;
                printf("polkit decision cache benchmark: domaind pid %ld, polkitd pid %ld, domain '%s' (%s), "
                       "%zu domains\n",
                       arg_pid, arg_polkit_pid, arg_domain, shared->expected_path, shared->n_domains);
                printf("unprivileged caller: uid %u gid %u, connection %s; root caller: uid 0\n", (unsigned) arg_uid,
                       (unsigned) arg_gid, subject);
                printf("%u iterations per call in blocks of %u, %u fresh connections, interleaved\n", iters,
                       arg_block, nfresh);
                if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL))
                        printf("host: %ld CPUs online, load average %s", sysconf(_SC_NPROCESSORS_ONLN), load);
                fflush(stdout);
        }

        uint64_t *r_lookup = g_new(uint64_t, iters), *r_list = g_new(uint64_t, iters),
                 *r_ping = g_new(uint64_t, iters), *pk = g_new(uint64_t, iters);
        Cpu cpu[N_PHASES] = { 0 };
        const unsigned nblocks = (iters + arg_block - 1) / arg_block;
        const unsigned fresh_per_block = (nfresh + nblocks - 1) / nblocks;
        unsigned fresh_done = 0;

        for (unsigned b = 0; b < nblocks; b++) {
                const unsigned start = b * arg_block;
                const unsigned count = MIN(arg_block, iters - start);
                for (unsigned j = 0; j < N_PHASES; j++) {
                        const int phase = (int) ((b + j) % N_PHASES);
                        unsigned nf = 0;
                        if (phase == PHASE_FRESH) {
                                nf = MIN(fresh_per_block, nfresh - fresh_done);
                                if (nf == 0)
                                        continue;
                        }
                        Cpu since = cpu_now();
                        perf_phase(phase_letter[phase], true);
                        switch (phase) {
                        case PHASE_ROOT:
                                for (unsigned k = start; k < start + count; k++) {
                                        if (k & 1) {
                                                r_lookup[k] = timed_lookup(bus, shared->expected_path);
                                                r_list[k] = timed_list(bus, shared->n_domains, NULL);
                                                r_ping[k] = timed_ping(bus);
                                        } else {
                                                r_ping[k] = timed_ping(bus);
                                                r_list[k] = timed_list(bus, shared->n_domains, NULL);
                                                r_lookup[k] = timed_lookup(bus, shared->expected_path);
                                        }
                                }
                                break;
                        case PHASE_UNPRIV:
                                child_do(OP_BLOCK, start, count);
                                break;
                        case PHASE_POLKIT:
                                for (unsigned k = start; k < start + count; k++)
                                        pk[k] = timed_check_authorization(bus, subject);
                                break;
                        case PHASE_FRESH:
                                child_do(OP_FRESH, fresh_done, nf);
                                fresh_done += nf;
                                break;
                        }
                        perf_phase(phase_letter[phase], false);
                        cpu_add(&cpu[phase], since);
                }
        }
        /* the unprivileged connection is still the one polkit was asked about */
        child_do(OP_WARMUP, 0, 1);

        Stats rl = stats(r_lookup, iters), rd = stats(r_list, iters), rp = stats(r_ping, iters);
        Stats ul = stats(shared->lookup, iters), ud = stats(shared->list, iters), up = stats(shared->ping, iters);
        Stats fc = stats(shared->fresh_connect, nfresh), ff = stats(shared->fresh_first, nfresh),
              fs = stats(shared->fresh_second, nfresh);
        Stats ps = stats(pk, iters);
        char what[128], target[32];
        const char *cpu_label = arg_polkit_pid > 0 && arg_bus_pid > 0 ? "CPU per call: domaind / polkitd / dbus-daemon"
                                : arg_polkit_pid > 0                 ? "CPU per call: domaind / polkitd"
                                                                     : "CPU per call: domaind";

        header();
        snprintf(what, sizeof(what), "(1) root LookupByName p50 / p99 (x%u)", iters);
        row_stats(what, rl);
        snprintf(what, sizeof(what), "(1) root ListDomains p50 / p99 (x%u)", iters);
        row_stats(what, rd);
        snprintf(what, sizeof(what), "(5) root Peer.Ping p50 / p99 (floor, x%u)", iters);
        row_stats(what, rp);
        snprintf(what, sizeof(what), "    %s", cpu_label);
        row_cpu(what, cpu[PHASE_ROOT], 3 * iters);

        snprintf(what, sizeof(what), "(2) uid %u LookupByName, cached, p50 / p99", (unsigned) arg_uid);
        row_stats(what, ul);
        snprintf(what, sizeof(what), "(2) uid %u ListDomains, cached, p50 / p99", (unsigned) arg_uid);
        row_stats(what, ud);
        snprintf(what, sizeof(what), "(5) uid %u Peer.Ping p50 / p99 (floor)", (unsigned) arg_uid);
        row_stats(what, up);
        snprintf(what, sizeof(what), "    %s", cpu_label);
        row_cpu(what, cpu[PHASE_UNPRIV], 3 * iters);

        snprintf(target, sizeof(target), "<= %.2fx", TARGET_CACHED_ROOT_RATIO);
        row("LookupByName: uid p50 / root p50", target, ul.p50 <= TARGET_CACHED_ROOT_RATIO * rl.p50, "%.3fx",
            ul.p50 / rl.p50);
        row("ListDomains: uid p50 / root p50", target, ud.p50 <= TARGET_CACHED_ROOT_RATIO * rd.p50, "%.3fx",
            ud.p50 / rd.p50);
        row("    above the Ping floor, LookupByName: root / uid", NULL, -1, "%+.1f / %+.1f us", rl.p50 - rp.p50,
            ul.p50 - up.p50);
        row("    above the Ping floor, ListDomains: root / uid", NULL, -1, "%+.1f / %+.1f us", rd.p50 - rp.p50,
            ud.p50 - up.p50);

        snprintf(what, sizeof(what), "(3) uid %u 1st LookupByName, fresh conn (x%u)", (unsigned) arg_uid, nfresh);
        row_stats(what, ff);
        row_stats("    2nd LookupByName on that connection (cached)", fs);
        row_stats("    connecting (sd_bus_start + Hello), untimed above", fc);
        /* "CPU per call: ..." -> "CPU per fresh conn: ..." */
        snprintf(what, sizeof(what), "    CPU per fresh conn%s", strchr(cpu_label, ':'));
        row_cpu(what, cpu[PHASE_FRESH], nfresh);

        snprintf(what, sizeof(what), "(4) polkit CheckAuthorization by root (x%u)", iters);
        row_stats(what, ps);
        snprintf(what, sizeof(what), "    %s", cpu_label);
        row_cpu(what, cpu[PHASE_POLKIT], iters);

        printf("\nwhat the cache saves (medians):\n");
        row("    uncached (3) - cached (2), LookupByName", NULL, -1, "%.1f us per call (%.1fx)", ff.p50 - ul.p50,
            ff.p50 / ul.p50);
        row("    uncached (3) - root (1), LookupByName", NULL, -1, "%.1f us", ff.p50 - rl.p50);
        row("    polkit round trip (4) alone", NULL, -1, "%.1f us (%.1fx root call)", ps.p50, ps.p50 / rl.p50);

        printf("\n%u target(s) missed.\n", n_missed);
        fflush(stdout);

        child_do(OP_QUIT, 0, 0);
        int status = 0;
        pid_t pid = child_pid;
        child_pid = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("the unprivileged child did not exit cleanly");
        sd_bus_flush_close_unref(bus);
        g_free(r_lookup);
        g_free(r_list);
        g_free(r_ping);
        g_free(pk);
        return EXIT_SUCCESS;
}
