/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* domaind: manages virtual machines on one host, over D-Bus. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "storage.h"

static void help(void) {
        printf("Usage: domaind [OPTIONS]\n\n"
               "Manages virtual machines (domains) and publishes them on D-Bus as org.domaind1.\n\n"
               "  --bus=system|session|ADDRESS  bus to serve on (default: system)\n"
               "  --state-dir=DIR               persistent state (default: %s)\n"
               "  --runtime-dir=DIR             runtime status of running guests (default: %s)\n"
               "  --plugin-dir=DIR              hypervisor plugins, *.so (default: %s)\n"
               "  --config=FILE                 configuration key file (default: %s)\n"
               "  --debug                       log debug messages\n"
               "  -h --help                     show this help\n"
               "  --version                     show the version\n",
               DOMAIND_STATE_DIR, DOMAIND_RUNTIME_DIR, DOMAIND_PLUGIN_DIR, DOMAIND_CONFIG_FILE);
}

static int parse_argv(Manager *m, int argc, char *argv[]) {
        enum { ARG_BUS = 0x100, ARG_STATE_DIR, ARG_RUNTIME_DIR, ARG_PLUGIN_DIR, ARG_CONFIG, ARG_DEBUG, ARG_VERSION };
        static const struct option options[] = {
                { "bus", required_argument, NULL, ARG_BUS },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "plugin-dir", required_argument, NULL, ARG_PLUGIN_DIR },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BUS:
                        g_free(m->bus_address);
                        m->bus_address = g_strdup(optarg);
                        break;
                case ARG_STATE_DIR:
                        g_free(m->state_dir);
                        m->state_dir = g_canonicalize_filename(optarg, NULL);
                        break;
                case ARG_RUNTIME_DIR:
                        g_free(m->runtime_dir);
                        m->runtime_dir = g_canonicalize_filename(optarg, NULL);
                        break;
                case ARG_PLUGIN_DIR:
                        g_free(m->plugin_dir);
                        m->plugin_dir = g_canonicalize_filename(optarg, NULL);
                        break;
                case ARG_CONFIG:
                        g_free(m->config_path);
                        m->config_path = g_canonicalize_filename(optarg, NULL);
                        break;
                case ARG_DEBUG:
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("domaind %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "domaind takes no positional arguments (got '%s')\n", argv[optind]);
                return -EINVAL;
        }
        if (!m->bus_address)
                m->bus_address = g_strdup("system");
        if (!m->state_dir)
                m->state_dir = g_strdup(DOMAIND_STATE_DIR);
        if (!m->runtime_dir)
                m->runtime_dir = g_strdup(DOMAIND_RUNTIME_DIR);
        if (!m->plugin_dir)
                m->plugin_dir = g_strdup(DOMAIND_PLUGIN_DIR);
        if (!m->config_path)
                m->config_path = g_strdup(DOMAIND_CONFIG_FILE);
        return 1;
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("received %s, exiting (guests keep running)", strsignal((int) si->ssi_signo));
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int run(int argc, char *argv[]) {
        g_autoptr(Manager) m = manager_new();
        int r = parse_argv(m, argc, argv);
        if (r <= 0)
                return r;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        sd_event_add_signal(m->event, NULL, SIGTERM, on_exit_signal, NULL);
        sd_event_add_signal(m->event, NULL, SIGINT, on_exit_signal, NULL);

        r = manager_load_config(m);
        if (r < 0)
                return r;
        r = manager_connect_bus(m);
        if (r < 0)
                return r;
        r = manager_load_plugins(m);
        if (r < 0)
                return r;
        r = storage_load(m);
        if (r < 0)
                return r;
        r = manager_publish(m);
        if (r < 0)
                return r;
        manager_autostart(m);
        log_info("domaind %s serving org.domaind1 on %s", PACKAGE_VERSION, m->bus_address);
        return sd_event_loop(m->event);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        if (r < 0) {
                log_error("exiting on error: %s", g_strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
