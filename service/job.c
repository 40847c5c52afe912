/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <unistd.h>

#include "bus-util.h"
#include "job.h"
#include "log.h"

static void job_free(Job *job) {
        if (!job)
                return;
        sd_event_source_unref(job->wait_timer);
        sd_bus_message_unref(job->message);
        g_free(job->path);
        g_free(job->xml);
        g_free(job->snapshot);
        if (job->tmp_path) {
                unlink(job->tmp_path);
                g_free(job->tmp_path);
        }
        g_free(job->reply_path);
        domain_def_free(job->def);
        domain_def_free(job->saved_def);
        domain_def_free(job->saved_live);
        if (job->items)
                g_ptr_array_unref(job->items);
        if (job->fd >= 0)
                close(job->fd);
        g_free(job);
}

Job *job_new(Domain *d, const char *name, sd_bus_message *message, void (*begin)(Job *job)) {
        Job *job = g_new0(Job, 1);
        job->domain = d;
        job->name = name;
        job->message = message ? sd_bus_message_ref(message) : NULL;
        job->begin = begin;
        job->fd = -1;
        return job;
}

static Manager *job_manager(Job *job) {
        return job->domain->hv->manager;
}

static void job_run(Job *job) {
        Domain *d = job->domain;
        d->job = job;
        if (d->gone) {
                job_fail_with(job, ERROR_NO_SUCH_DOMAIN, "domain '%s' no longer exists", domain_name(d));
                return;
        }
        job->begin(job);
}

static int on_wait_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *job = userdata;
        Domain *d = job->domain;
        g_queue_remove(&d->waiting, job);
        if (job->message)
                sd_bus_reply_method_errorf(job->message, ERROR_BUSY,
                                           "domain '%s' is busy: %s is still running after waiting %.1f s",
                                           domain_name(d), d->job ? d->job->name : "another job",
                                           (double) job_manager(job)->job_wait_usec / 1e6);
        log_info("%s: %s refused, domain busy", domain_name(d), job->name);
        job_free(job);
        return 0;
}

static void schedule_next(Domain *d);

int job_submit(Job *job) {
        Domain *d = job->domain;
        bool idle = !d->job && g_queue_is_empty(&d->waiting);
        if (idle && job->message) {
                job_run(job);
                return 1;
        }
        if (idle) {
                /* Internal work comes from plugin callbacks (guest events):
                 * start it from the loop, never inside the plugin. */
                g_queue_push_tail(&d->waiting, job);
                schedule_next(d);
                return 1;
        }
        Manager *m = job_manager(job);
        /* Internal work (on_poweroff actions, autodestroy) must not be lost
         * to a timeout: only callers' jobs get one. */
        if (job->message) {
                int r = sd_event_add_time_relative(m->event, &job->wait_timer, CLOCK_MONOTONIC,
                                                   m->job_wait_usec, 0, on_wait_timeout, job);
                if (r < 0) {
                        job_fail_with(job, ERROR_HYPERVISOR_FAILED, "cannot queue job: %s", g_strerror(-r));
                        return 1;
                }
        }
        g_queue_push_tail(&d->waiting, job);
        return 1;
}

static int on_run_next(sd_event_source *s, void *userdata) {
        Domain *d = userdata;
        d->run_next = sd_event_source_unref(d->run_next);
        if (d->job)
                return 0;
        Job *next = g_queue_pop_head(&d->waiting);
        if (!next) {
                if (d->gone)
                        domain_free(d);
                return 0;
        }
        next->wait_timer = sd_event_source_unref(next->wait_timer);
        job_run(next);
        return 0;
}

/* The next job starts from the loop, not from inside the finishing one:
 * a plugin may complete synchronously and must not be re-entered. */
static void schedule_next(Domain *d) {
        if (d->run_next)
                return;
        if (sd_event_add_defer(d->hv->manager->event, &d->run_next, on_run_next, d) < 0)
                on_run_next(NULL, d);
}

static void job_reply(Job *job, DomaindResult result, const char *error_name, const char *text) {
        if (!job->message)
                return;
        if (result == DOMAIND_OK && !error_name) {
                if (job->reply_with_path)
                        sd_bus_reply_method_return(job->message, "o",
                                                   job->reply_path ? job->reply_path : job->domain->path);
                else
                        sd_bus_reply_method_return(job->message, NULL);
                return;
        }
        sd_bus_reply_method_errorf(job->message, error_name ? error_name : result_to_error_name(result), "%s",
                                   text ? text : "operation failed");
}

static void job_end(Job *job, DomaindResult result, const char *error_name, const char *text) {
        Domain *d = job->domain;
        if (result != DOMAIND_OK || error_name)
                log_info("%s: %s failed: %s", domain_name(d), job->name, text ? text : "?");
        if (d->job_type != JOB_NONE)
                job_set_type(d, JOB_NONE);
        job_reply(job, result, error_name, text);
        if (d->job == job)
                d->job = NULL;
        job_free(job);
        schedule_next(d);
}

void job_finishv(Job *job, DomaindResult result, const char *format, va_list ap) {
        g_autofree char *text = format ? g_strdup_vprintf(format, ap) : NULL;
        job_end(job, result, NULL, text);
}

void job_finish(Job *job, DomaindResult result, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        job_finishv(job, result, format, ap);
        va_end(ap);
}

void job_fail_with(Job *job, const char *error_name, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_autofree char *text = g_strdup_vprintf(format, ap);
        va_end(ap);
        job_end(job, DOMAIND_ERROR_FAILED, error_name, text);
}

DomaindCall *job_plugin_call(Job *job, JobStep next) {
        job->on_done = next;
        return (DomaindCall *) job;
}

void job_host_call_done(DomaindCall *call, DomaindResult result, const char *format, ...) {
        Job *job = (Job *) call;
        g_autofree char *text = NULL;
        if (result != DOMAIND_OK) {
                va_list ap;
                va_start(ap, format);
                text = format ? g_strdup_vprintf(format, ap) : g_strdup("the hypervisor gave no reason");
                va_end(ap);
        }
        JobStep next = job->on_done;
        job->on_done = NULL;
        g_return_if_fail(next);
        next(job, result, text);
}

void job_set_type(Domain *d, JobType type) {
        d->job_type = type;
        d->job_processed = d->job_total = 0;
        d->job_started_usec = type == JOB_NONE ? 0 : g_get_monotonic_time();
        domain_emit_changed(d, "Job", NULL);
}

void job_abandon(Job *job) {
        if (job->message)
                sd_bus_reply_method_errorf(job->message, ERROR_HYPERVISOR_FAILED,
                                           "domaind is stopping: %s of '%s' did not finish", job->name,
                                           domain_name(job->domain));
        if (job->domain->job == job)
                job->domain->job = NULL;
        job_free(job);
}

void job_cancel_waiting(Domain *d) {
        Job *job;
        while ((job = g_queue_pop_head(&d->waiting))) {
                if (job->message)
                        sd_bus_reply_method_errorf(job->message, ERROR_NO_SUCH_DOMAIN,
                                                   "domain '%s' no longer exists", domain_name(d));
                job_free(job);
        }
}
