/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

typedef struct Work {
        Manager *manager;
        void (*run)(void *data);
        void (*done)(void *data);
        void (*free_data)(void *data);
        void *data;
        int efd;
        pthread_t thread;
        sd_event_source *source;
} Work;

static void work_free(Work *w) {
        sd_event_source_unref(w->source);
        close(w->efd);
        g_free(w);
}

static void *work_thread(void *p) {
        Work *w = p;
        w->run(w->data);
        eventfd_write(w->efd, 1);
        return NULL;
}

static int on_work_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Work *w = userdata;
        eventfd_t value;
        eventfd_read(fd, &value);
        pthread_join(w->thread, NULL);
        g_ptr_array_remove_fast(w->manager->workers, w);
        w->done(w->data);
        w->free_data(w->data);
        work_free(w);
        return 0;
}

int worker_run(Manager *m, void (*run)(void *data), void (*done)(void *data), void (*free_data)(void *data),
               void *data) {
        Work *w = g_new0(Work, 1);
        *w = (Work){ .manager = m, .run = run, .done = done, .free_data = free_data, .data = data };
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                g_free(w);
                return -errno;
        }
        int r = sd_event_add_io(m->event, &w->source, w->efd, EPOLLIN, on_work_done, w);
        if (r >= 0)
                r = -pthread_create(&w->thread, NULL, work_thread, w);
        if (r < 0) {
                work_free(w);
                return r;
        }
        g_ptr_array_add(m->workers, w);
        return 0;
}

void worker_join_all(Manager *m) {
        for (guint i = 0; i < m->workers->len; i++) {
                Work *w = m->workers->pdata[i];
                pthread_join(w->thread, NULL);
                w->free_data(w->data);
                work_free(w);
        }
        g_ptr_array_set_size(m->workers, 0);
}
