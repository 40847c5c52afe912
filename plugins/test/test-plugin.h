/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory test hypervisor (test:///default): shared declarations of
 * the plugin's translation units. Nothing here is ABI; the only exported
 * symbol is domaind_plugin_entry().
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "domaind/plugin.h"

#define TEST_UUID_STRING_LEN 37 /* dashed form and NUL */

/* Simulated size of a guest's memory image: the "total" of job progress. */
#define TEST_JOB_TOTAL_BYTES (128ull * 1024 * 1024)
#define TEST_JOB_PROGRESS_USEC (100 * 1000ull)

typedef enum TestOpKind {
        TEST_OP_START,
        TEST_OP_SHUTDOWN,
        TEST_OP_REBOOT,
        TEST_OP_RESET,
        TEST_OP_DESTROY,
        TEST_OP_SUSPEND,
        TEST_OP_RESUME,
        TEST_OP_SAVE,
        TEST_OP_RESTORE,
        TEST_OP_SNAPSHOT_CREATE,
        TEST_OP_SNAPSHOT_REVERT,
        TEST_OP_SNAPSHOT_DELETE,
        _TEST_OP_MAX,
} TestOpKind;

/* Why a live guest is stopped although its VM still exists: the guest OS
 * powered off or panicked and the core has not decided what to do yet. */
typedef enum TestHeld {
        TEST_HELD_NONE,
        TEST_HELD_SHUTDOWN,
        TEST_HELD_CRASHED,
} TestHeld;

typedef struct TestHv TestHv;
typedef struct TestGuest TestGuest;
typedef struct TestOp TestOp;

struct TestHv {
        const DomaindHost *host;
        char host_uuid[TEST_UUID_STRING_LEN];
        int32_t next_id;

        GHashTable *guests;  /* TestGuest* set, owns the records */
        GHashTable *by_uuid; /* dashed uuid → TestGuest*, for the hooks */
        GHashTable *knobs;   /* dashed uuid → TestKnobs*, outlives guests */
        GHashTable *ops;     /* TestOp* set of pending operations */

        char *hooks_dir;
        sd_event_source *hooks_source;
};

/* Everything the plugin knows about one domain the core handed it. Stored
 * with guest_set_data(); exists whether or not the guest runs. */
struct TestGuest {
        TestHv *hv;
        DomaindGuest *guest;
        char uuid[TEST_UUID_STRING_LEN];

        bool active; /* the simulated VM exists */
        int32_t id;
        bool paused;
        TestHeld held;
        uint64_t cpu_ns;   /* CPU time accumulated up to clock_ns */
        uint64_t clock_ns; /* when cpu_ns was last brought up to date */

        GHashTable *snapshots; /* name → TestSnapshot* */
        TestOp *op;            /* the operation in flight, if any */
};

typedef struct TestSnapshot {
        uint64_t cpu_ns;
        bool paused;
} TestSnapshot;

/* Behaviour the hooks set up for a UUID, whether or not a guest runs. */
typedef struct TestKnobs {
        uint64_t delay_usec;
        char *fail[_TEST_OP_MAX]; /* message the next such op fails with */
} TestKnobs;

struct TestOp {
        TestHv *hv;
        TestGuest *guest; /* NULL once orphaned (guest gone or forgotten) */
        DomaindGuest *dguest;
        TestOpKind kind;
        DomaindCall *call;

        uint32_t flags;
        int fd;
        char *name;
        bool with_memory;
        DomaindState target;

        char *fail_message; /* set: the op ends with DOMAIND_ERROR_FAILED */
        bool aborted;
        uint64_t start_usec, delay_usec;
        sd_event_source *done_source;
        sd_event_source *progress_source;
};

/* test-guest.c */
uint64_t test_now_ns(void);
bool test_uuid_normalize(const char *in, char out[TEST_UUID_STRING_LEN]);
TestGuest *test_guest_get(TestHv *hv, DomaindGuest *guest);
TestGuest *test_guest_find(TestHv *hv, const char *uuid);
void test_guest_free(TestGuest *g);
void test_guest_forget(TestGuest *g);
uint64_t test_guest_cpu_ns(const TestGuest *g);
void test_guest_sync_clock(TestGuest *g);
void test_guest_activate(TestGuest *g, uint64_t cpu_ns, bool paused);
void test_guest_release(TestGuest *g);
void test_guest_set_paused(TestGuest *g, bool paused);
void test_guest_set_held(TestGuest *g, TestHeld held);
char *test_guest_status(const TestGuest *g);
bool test_guest_parse_status(TestGuest *g, const char *status, char **error);
TestKnobs *test_knobs_get(TestHv *hv, const char *uuid, bool create);
void test_knobs_free(TestKnobs *k);

/* test-ops.c */
const char *test_op_name(TestOpKind kind);
bool test_op_kind_from_name(const char *name, TestOpKind *ret);
bool test_op_is_job(TestOpKind kind);
TestOp *test_op_new(TestGuest *g, TestOpKind kind, DomaindCall *call);
void test_op_submit(TestOp *op);
void test_op_orphan(TestOp *op, const char *why);
DomaindResult test_op_abort(TestOp *op);
void test_op_free(TestOp *op);

/* test-hooks.c */
int test_hooks_open(TestHv *hv, char **why);
void test_hooks_close(TestHv *hv);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestOp, test_op_free)
