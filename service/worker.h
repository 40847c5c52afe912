/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a blocking function (fsync of a large file, ...) on a thread of its
 * own and calls `done` back on the sd-event loop. `run` must touch only
 * what `data` owns: the loop goes on meanwhile.
 */
#pragma once

#include "manager.h"

int worker_run(Manager *m, void (*run)(void *data), void (*done)(void *data), void (*free_data)(void *data),
               void *data);
/* At exit: waits for threads still running; their `done` is not called,
 * only free_data. */
void worker_join_all(Manager *m);
