/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest records of the test hypervisor: the simulated VM of each domain
 * (id, paused, CPU clock), its snapshots, its runtime status text, and the
 * per-UUID knobs that the test hooks turn.
 */
#include <inttypes.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "test-plugin.h"

uint64_t test_now_ns(void) {
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail on Linux; a CPU clock must never go back. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* Accepts the dashed and the 32-digit forms in any case, as LookupByUUID
 * does, and writes the dashed lower-case form used as key everywhere. */
bool test_uuid_normalize(const char *in, char out[TEST_UUID_STRING_LEN]) {
        size_t len = strlen(in), j = 0;
        bool dashed;

        if (len == 36)
                dashed = true;
        else if (len == 32)
                dashed = false;
        else
                return false;

        for (size_t i = 0; i < len; i++) {
                if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
                        if (in[i] != '-')
                                return false;
                        continue;
                }
                if (!g_ascii_isxdigit(in[i]))
                        return false;
                if (j == 8 || j == 13 || j == 18 || j == 23)
                        out[j++] = '-';
                out[j++] = g_ascii_tolower(in[i]);
        }
        out[j] = '\0';
        return j == TEST_UUID_STRING_LEN - 1;
}

TestGuest *test_guest_find(TestHv *hv, const char *uuid) {
        return g_hash_table_lookup(hv->by_uuid, uuid);
}

/* Every entry point goes through here, so that the UUID index the hooks
 * rely on learns about each guest the first time the core lends it. */
TestGuest *test_guest_get(TestHv *hv, DomaindGuest *guest) {
        const DomaindHost *host = hv->host;
        TestGuest *g;
        const char *uuid;

        g = host->guest_get_data(guest);
        if (g)
                return g;

        g = g_new0(TestGuest, 1);
        g->hv = hv;
        g->guest = guest;
        g->id = -1;
        g->snapshots = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        uuid = host->guest_uuid(guest);
        if (!test_uuid_normalize(uuid, g->uuid)) {
                /* The core validated the UUID; keep whatever it says rather
                 * than refusing to run the guest. */
                host->log(LOG_WARNING, "domain UUID '%s' is not in canonical form", uuid);
                g_strlcpy(g->uuid, uuid, sizeof(g->uuid));
        }

        g_hash_table_add(hv->guests, g);
        /* replace, not insert: the key lives in the record it indexes */
        g_hash_table_replace(hv->by_uuid, g->uuid, g);
        host->guest_set_data(guest, g);
        return g;
}

void test_guest_free(TestGuest *g) {
        if (!g)
                return;
        g_hash_table_unref(g->snapshots);
        g_free(g);
}

void test_guest_forget(TestGuest *g) {
        TestHv *hv = g->hv;

        /* The core holds the domain's job while an op runs, so this should
         * not happen; if it does, the call must still end once. */
        if (g->op)
                test_op_orphan(g->op, "the domain was dropped");

        if (g_hash_table_lookup(hv->by_uuid, g->uuid) == g)
                g_hash_table_remove(hv->by_uuid, g->uuid);
        hv->host->guest_set_data(g->guest, NULL);
        g_hash_table_remove(hv->guests, g); /* frees g */
}

static bool guest_ticking(const TestGuest *g) {
        return g->active && !g->paused && g->held == TEST_HELD_NONE;
}

uint64_t test_guest_cpu_ns(const TestGuest *g) {
        if (!g->active)
                return 0;
        if (!guest_ticking(g))
                return g->cpu_ns;
        return g->cpu_ns + (test_now_ns() - g->clock_ns);
}

/* Folds the time run so far into cpu_ns; call before any change to what
 * guest_ticking() looks at. */
void test_guest_sync_clock(TestGuest *g) {
        g->cpu_ns = test_guest_cpu_ns(g);
        g->clock_ns = test_now_ns();
}

static int32_t hv_next_id(TestHv *hv) {
        if (hv->next_id <= 0 || hv->next_id == INT32_MAX)
                hv->next_id = 1;
        return hv->next_id++;
}

/* Brings the VM into existence (a new id), or, if it exists already as for
 * a snapshot revert, resets its CPU state in place (same id). */
void test_guest_activate(TestGuest *g, uint64_t cpu_ns, bool paused) {
        if (!g->active)
                g->id = hv_next_id(g->hv);
        g->active = true;
        g->paused = paused;
        g->held = TEST_HELD_NONE;
        g->cpu_ns = cpu_ns;
        g->clock_ns = test_now_ns();
}

void test_guest_release(TestGuest *g) {
        g->active = false;
        g->id = -1;
        g->paused = false;
        g->held = TEST_HELD_NONE;
        g->cpu_ns = 0;
        g->clock_ns = 0;
}

void test_guest_set_paused(TestGuest *g, bool paused) {
        test_guest_sync_clock(g);
        g->paused = paused;
}

void test_guest_set_held(TestGuest *g, TestHeld held) {
        test_guest_sync_clock(g);
        g->held = held;
}

static const char *const held_names[] = {
        [TEST_HELD_NONE] = "none",
        [TEST_HELD_SHUTDOWN] = "shutdown",
        [TEST_HELD_CRASHED] = "crashed",
};

char *test_guest_status(const TestGuest *g) {
        if (!g->active)
                return NULL;

        /* The raw clock pair, not the folded value: CLOCK_MONOTONIC is
         * system-wide, so after a restart of domaind (even a crash, when
         * nobody rewrote this) a running guest's CPU time keeps counting. */
        return g_strdup_printf("id=%" PRId32 " paused=%d cpu_time_ns=%" PRIu64 " clock_ns=%" PRIu64 " held=%s",
                               g->id, g->paused, g->cpu_ns, g->clock_ns, held_names[g->held]);
}

static bool parse_status_field(const char *key, const char *value, int64_t *id, bool *paused,
                               uint64_t *cpu_ns, uint64_t *clock_ns, TestHeld *held) {
        guint64 u;

        if (g_str_equal(key, "id"))
                return g_ascii_string_to_signed(value, 10, 1, INT32_MAX, id, NULL);
        if (g_str_equal(key, "paused")) {
                if (!g_ascii_string_to_unsigned(value, 10, 0, 1, &u, NULL))
                        return false;
                *paused = u;
                return true;
        }
        if (g_str_equal(key, "cpu_time_ns")) {
                if (!g_ascii_string_to_unsigned(value, 10, 0, UINT64_MAX, &u, NULL))
                        return false;
                *cpu_ns = u;
                return true;
        }
        if (g_str_equal(key, "clock_ns")) {
                if (!g_ascii_string_to_unsigned(value, 10, 0, test_now_ns(), &u, NULL))
                        return false;
                *clock_ns = u;
                return true;
        }
        if (g_str_equal(key, "held")) {
                for (size_t i = 0; i < G_N_ELEMENTS(held_names); i++)
                        if (g_str_equal(value, held_names[i])) {
                                *held = (TestHeld) i;
                                return true;
                        }
                return false;
        }
        /* unknown keys: written by a newer plugin, harmless to drop */
        return true;
}

/* Re-creates the VM record from what test_guest_status() wrote before a
 * restart of domaind. */
bool test_guest_parse_status(TestGuest *g, const char *status, char **error) {
        g_auto(GStrv) fields = NULL;
        int64_t id = -1;
        bool paused = false;
        uint64_t cpu_ns = 0, clock_ns = test_now_ns();
        TestHeld held = TEST_HELD_NONE;

        if (!status) {
                *error = g_strdup("no runtime status");
                return false;
        }

        fields = g_strsplit_set(status, " \t\n", -1);
        for (char **f = fields; *f; f++) {
                g_auto(GStrv) kv = NULL;

                if (**f == '\0')
                        continue;
                kv = g_strsplit(*f, "=", 2);
                if (!kv[1] || !parse_status_field(kv[0], kv[1], &id, &paused, &cpu_ns, &clock_ns, &held)) {
                        *error = g_strdup_printf("bad field '%s' in runtime status", *f);
                        return false;
                }
        }
        if (id < 0) {
                *error = g_strdup("runtime status has no id");
                return false;
        }

        g->active = true;
        g->id = (int32_t) id;
        g->paused = paused;
        g->held = held;
        g->cpu_ns = cpu_ns;
        g->clock_ns = clock_ns;
        /* ids are never reused while a guest holds them */
        if (g->hv->next_id <= g->id)
                g->hv->next_id = g->id + 1;
        return true;
}

TestKnobs *test_knobs_get(TestHv *hv, const char *uuid, bool create) {
        TestKnobs *k;

        k = g_hash_table_lookup(hv->knobs, uuid);
        if (k || !create)
                return k;

        k = g_new0(TestKnobs, 1);
        g_hash_table_insert(hv->knobs, g_strdup(uuid), k);
        return k;
}

void test_knobs_free(TestKnobs *k) {
        if (!k)
                return;
        for (size_t i = 0; i < G_N_ELEMENTS(k->fail); i++)
                g_free(k->fail[i]);
        g_free(k);
}
