/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — the command-line client of domaind.
 *
 * Shared declarations of the tool: the command table, the parsed command
 * line, the bus helpers and the small data helpers every command uses.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))

#define DOMAIND_SERVICE         "org.domaind1"
#define DOMAIND_ROOT_PATH       "/org/domaind1"
#define IFACE_MANAGER           "org.domaind1.Manager"
#define IFACE_HYPERVISOR        "org.domaind1.Hypervisor"
#define IFACE_DOMAIN            "org.domaind1.Domain"
#define IFACE_SNAPSHOT          "org.domaind1.Snapshot"
#define IFACE_POOL              "org.domaind1.StoragePool"
#define IFACE_VOLUME            "org.domaind1.StorageVolume"
#define IFACE_OBJECT_MANAGER    "org.freedesktop.DBus.ObjectManager"
#define IFACE_PROPERTIES        "org.freedesktop.DBus.Properties"

#define DOMAIND_ERROR_NO_SUCH_DOMAIN    "org.domaind1.Error.NoSuchDomain"
#define DOMAIND_ERROR_INVALID_ARGUMENT  "org.domaind1.Error.InvalidArgument"
#define DOMAIND_ERROR_NO_SUCH_VOLUME    "org.domaind1.Error.NoSuchVolume"

/* Method call timeouts: 0 is sd-bus's default (25 s); jobs such as save,
 * restore, snapshots or a start from a managed save can take much longer. */
#define CALL_TIMEOUT_DEFAULT    UINT64_C(0)
#define CALL_TIMEOUT_JOB        (UINT64_C(3600) * UINT64_C(1000000))
/* No timeout at all: a wipe of a large volume takes as long as it takes. */
#define CALL_TIMEOUT_INFINITE   UINT64_MAX

/* A verb returns 0, or a negative errno after it printed the error; this one
 * asks for exit status 2 (bad usage) instead of 1. */
#define DOMCTL_EUSAGE           10000

#define EXIT_USAGE              2

#define MAX_ARGS                20
#define MAX_EXCLUSIVE           6

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* ---- the command line ---- */

typedef enum ArgType {
        ARG_BOOL,               /* --flag */
        ARG_STRING,             /* --option VALUE */
        ARG_POS,                /* required positional, also --name VALUE */
        ARG_POS_OPT,            /* optional positional, also --name VALUE */
} ArgType;

typedef struct ArgSpec {
        const char *name;
        ArgType type;
        const char *help;
} ArgSpec;

typedef struct Context Context;
typedef struct Cmd Cmd;

typedef struct Verb {
        const char *name;
        int (*run)(Context *ctx, const Cmd *cmd);
        const char *summary;
        const char *description;        /* more text for 'help COMMAND', or NULL */
        bool no_bus;            /* runs without connecting to the bus */
        ArgSpec args[MAX_ARGS];
        /* pairs of options that cannot be given together */
        const char *exclusive[MAX_EXCLUSIVE][2];
        /* more checks of the arguments, before connecting to the bus */
        int (*check)(const Cmd *cmd);
} Verb;

struct Cmd {
        const Verb *verb;
        const char *values[MAX_ARGS];   /* "" for a given ARG_BOOL */
};

/* Maps boolean options onto a flags word. */
typedef struct FlagMap {
        const char *option;
        uint64_t flag;
} FlagMap;

struct Context {
        sd_bus *bus;
        const char *bus_address;        /* --bus */
        const char *hypervisor_arg;     /* --hypervisor, NULL when not given */
        bool ask_password;              /* false with --no-ask-password */
        char *hypervisor_path;          /* resolved on first use */
};

extern const Verb domain_verbs[];
extern const Verb snapshot_verbs[];
extern const Verb event_verbs[];
extern const Verb storage_verbs[];

int verb_edit(Context *ctx, const Cmd *cmd);
int verb_console(Context *ctx, const Cmd *cmd);

const char *cmd_str(const Cmd *cmd, const char *name);
bool cmd_bool(const Cmd *cmd, const char *name);
uint64_t cmd_flags(const Cmd *cmd, const FlagMap *map);

/* ---- output and errors ---- */

int log_error_errno(int r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int log_usage(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
int log_bus_error(const sd_bus_error *error, int r);

/* ---- the bus ---- */

int bus_connect(Context *ctx);

int bus_call(Context *ctx, const char *path, const char *iface, const char *method,
             uint64_t timeout, sd_bus_message **ret_reply, const char *types, ...);
int bus_call_error(Context *ctx, const char *path, const char *iface, const char *method,
                   uint64_t timeout, sd_bus_error *error, sd_bus_message **ret_reply,
                   const char *types, ...);
int bus_call_object(Context *ctx, const char *path, const char *iface, const char *method,
                    uint64_t timeout, char **ret_path, const char *types, ...);
int bus_call_string(Context *ctx, const char *path, const char *iface, const char *method,
                    uint64_t timeout, char **ret, const char *types, ...);

int bus_get_string(Context *ctx, const char *path, const char *iface, const char *property,
                   char **ret);
int bus_get_object(Context *ctx, const char *path, const char *iface, const char *property,
                   char **ret);
int bus_get_bool(Context *ctx, const char *path, const char *iface, const char *property,
                 bool *ret);

/* A property bag: name → PropValue, read from an a{sv}. */
typedef struct PropValue {
        char type;              /* the D-Bus type of the value, 0 for a skipped one */
        char *str;              /* s, o, g */
        char **strv;            /* as, ao */
        int64_t i;              /* every integer type, and b */
        uint64_t u;
        double d;
} PropValue;

int props_read(sd_bus_message *m, GHashTable **ret);
int bus_get_all(Context *ctx, const char *path, const char *iface, GHashTable **ret);
int bus_read_object_interfaces(sd_bus_message *m, const char *iface, GHashTable *objects);
int bus_get_managed_objects(Context *ctx, const char *iface, GHashTable **ret);
const char *props_str(GHashTable *props, const char *name);
int64_t props_int(GHashTable *props, const char *name, int64_t fallback);
uint64_t props_uint(GHashTable *props, const char *name, uint64_t fallback);
int props_bool(GHashTable *props, const char *name);

/* ---- domaind objects ---- */

typedef struct Domain {
        char *path;
        char *name;
} Domain;

void domain_done(Domain *d);

int hypervisor_path(Context *ctx, const char **ret);
int domain_lookup(Context *ctx, const char *spec, Domain *ret);
int domain_name_of(Context *ctx, const char *path, char **ret);
char *domain_name_quiet(Context *ctx, const char *path);
const char *path_last_element(const char *path);
const char *state_to_string(const char *state);

/* ---- files and tables ---- */

int read_text_file(const char *path, char **ret);
int absolute_path(const char *path, char **ret);
void print_text(const char *text);

typedef struct Table Table;

Table *table_new(size_t ncols, ...);
void table_add_row(Table *t, ...);
void table_add_rowv(Table *t, const char *const *cells);
void table_print(const Table *t);
void table_free(Table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)

/* ---- autodestroy: wait until a domain is gone ---- */

typedef struct DomainWatch DomainWatch;

int domain_watch_new(Context *ctx, DomainWatch **ret);
int domain_watch_run(DomainWatch *w, const char *path, const char *name);
void domain_watch_free(DomainWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainWatch, domain_watch_free)
