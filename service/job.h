/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-domain job serialization. Every state-changing operation on a domain
 * is a Job: it holds the domain from begin() until job_finish(). A job
 * submitted while another holds the domain waits in a queue for at most
 * JobWaitTimeoutSec and then fails with Busy. The job's D-Bus call (if any)
 * is answered by job_finish().
 */
#pragma once

#include <stdarg.h>
#include <systemd/sd-bus.h>

#include "domain.h"

typedef void (*JobStep)(Job *job, DomaindResult result, const char *message);

struct Job {
        Domain *domain;
        const char *name;          /* the method, for logs and Busy messages */
        sd_bus_message *message;   /* the call to answer; NULL for internal work */
        void (*begin)(Job *job);
        JobStep on_done;           /* next step when the plugin call ends */
        sd_event_source *wait_timer;

        /* arguments and scratch space of the operation */
        uint64_t flags;
        char *path;
        char *xml;
        char *snapshot;
        char *tmp_path;
        DomainDef *def;
        int fd;
        int target;                /* DomainState/DomaindState the job aims at */
        bool new_domain;           /* the job created the domain (remove it on failure) */
        bool managed_image;
        bool was_active;           /* the domain was active when the job began */
        bool restart;              /* on_* action: start the guest again once stopped */
        bool autodestroy;          /* destroy the domain when the caller leaves the bus */
        GPtrArray *items;          /* names still to process (snapshot deletion) */
        DomainDef *saved_def, *saved_live; /* configs to put back if the job fails */
        const DomainDef *revert_def;       /* the config a revert put in place (not owned) */        /* restoring the managed save image (consumed on success) */
        bool reply_with_path;      /* answer "(o)" with the domain path (or reply_path) */
        char *reply_path;
};

Job *job_new(Domain *d, const char *name, sd_bus_message *message, void (*begin)(Job *job));
/* Runs the job now or queues it. Returns 1 (the reply comes later). */
int job_submit(Job *job);
/* Ends the job: answers its call (error when result != DOMAIND_OK) and
 * lets the next waiting job run. */
void job_finish(Job *job, DomaindResult result, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
void job_finishv(Job *job, DomaindResult result, const char *format, va_list ap);
/* Fails the job with a D-Bus error name that has no DomaindResult. */
void job_fail_with(Job *job, const char *error_name, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* The DomaindCall handed to the plugin; its completion calls `next`. */
DomaindCall *job_plugin_call(Job *job, JobStep next);
/* host->call_done */
void job_host_call_done(DomaindCall *call, DomaindResult result, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Long-job bookkeeping for the Job property and GetJobInfo. */
void job_set_type(Domain *d, JobType type);

/* Drops a running job at shutdown (the plugin is closed right after and
 * never completes it). */
void job_abandon(Job *job);

/* Fails every queued job (the domain is going away). */
void job_cancel_waiting(Domain *d);
