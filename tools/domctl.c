/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — main: global options, the command table, per-command argument
 * parsing and help.
 */
#include <getopt.h>
#include <locale.h>
#include <stdlib.h>

#include "config.h"
#include "domctl.h"

static int verb_help(Context *ctx, const Cmd *cmd);

static const Verb general_verbs[] = {
        { "help", verb_help, "print help for all commands or for one", .no_bus = true,
          .args = {
                { "command", ARG_POS_OPT, "the command to describe" },
          } },
        {}
};

typedef struct VerbGroup {
        const char *title;
        const Verb *verbs;
} VerbGroup;

static const VerbGroup verb_groups[] = {
        { "Domain commands", domain_verbs },
        { "Snapshot commands", snapshot_verbs },
        { "Storage pool and volume commands", storage_verbs },
        { "Event commands", event_verbs },
        { "Other commands", general_verbs },
};

static const Verb *verb_find(const char *name) {
        for (size_t g = 0; g < G_N_ELEMENTS(verb_groups); g++)
                for (const Verb *v = verb_groups[g].verbs; v->name; v++)
                        if (streq(v->name, name))
                                return v;
        return NULL;
}

static int arg_index(const Verb *verb, const char *name) {
        for (int i = 0; i < MAX_ARGS && verb->args[i].name; i++)
                if (streq(verb->args[i].name, name))
                        return i;
        return -1;
}

static int arg_index_checked(const Cmd *cmd, const char *name) {
        int i = arg_index(cmd->verb, name);

        /* Asking for an option the verb does not declare is a bug here. */
        if (i < 0)
                g_error("command '%s' has no option '%s'", cmd->verb->name, name);
        return i;
}

const char *cmd_str(const Cmd *cmd, const char *name) {
        return cmd->values[arg_index_checked(cmd, name)];
}

bool cmd_bool(const Cmd *cmd, const char *name) {
        return cmd_str(cmd, name) != NULL;
}

uint64_t cmd_flags(const Cmd *cmd, const FlagMap *map) {
        uint64_t flags = 0;

        for (; map->option; map++)
                if (cmd_bool(cmd, map->option))
                        flags |= map->flag;
        return flags;
}

/* ---- help ---- */

static void print_synopsis(const Verb *verb) {
        printf("    %s", verb->name);
        for (int i = 0; i < MAX_ARGS && verb->args[i].name; i++) {
                const ArgSpec *a = &verb->args[i];

                switch (a->type) {
                case ARG_BOOL:
                        printf(" [--%s]", a->name);
                        break;
                case ARG_STRING:
                        printf(" [--%s <string>]", a->name);
                        break;
                case ARG_POS:
                        printf(" <%s>", a->name);
                        break;
                case ARG_POS_OPT:
                        printf(" [<%s>]", a->name);
                        break;
                }
        }
        printf("\n");
}

static void print_description(const Verb *verb) {
        g_auto(GStrv) lines = NULL;

        if (!verb->description)
                return;

        printf("\n  DESCRIPTION\n");
        lines = g_strsplit(verb->description, "\n", -1);
        for (char **l = lines; *l; l++)
                printf("%s%s\n", **l ? "    " : "", *l);
}

static void print_verb_help(const Verb *verb) {
        printf("  NAME\n    %s - %s\n\n  SYNOPSIS\n", verb->name, verb->summary);
        print_synopsis(verb);
        print_description(verb);

        if (!verb->args[0].name)
                return;

        printf("\n  OPTIONS\n");
        for (int i = 0; i < MAX_ARGS && verb->args[i].name; i++) {
                const ArgSpec *a = &verb->args[i];
                g_autofree char *label = NULL;

                if (a->type == ARG_BOOL)
                        label = g_strdup_printf("--%s", a->name);
                else if (a->type == ARG_STRING)
                        label = g_strdup_printf("--%s <string>", a->name);
                else
                        label = g_strdup_printf("[--%s] <string>", a->name);
                printf("    %-28s %s\n", label, a->help);
        }
}

static void print_verb_list(void) {
        for (size_t g = 0; g < G_N_ELEMENTS(verb_groups); g++) {
                printf("\n%s:\n", verb_groups[g].title);
                for (const Verb *v = verb_groups[g].verbs; v->name; v++)
                        printf("    %-24s %s\n", v->name, v->summary);
        }
}

static void print_help(void) {
        printf("%s [OPTIONS...] COMMAND [ARGS...]\n\n"
               "Manage virtual machines through domaind.\n\n"
               "Options:\n"
               "  -h --help               Show this help\n"
               "  -V --version            Show the package version\n"
               "     --bus=ADDRESS        Bus to talk to: system (default), session,\n"
               "                          or a D-Bus address such as unix:path=/run/x\n"
               "     --hypervisor=NAME    Hypervisor to use (kvm, xen, test); default: the\n"
               "                          only one domaind publishes, else kvm\n"
               "     --no-ask-password    Never ask for a password: fail at once when polkit\n"
               "                          would ask for authentication\n"
               "\nDomains are named by name, UUID or numeric id.\n",
               g_get_prgname());
        print_verb_list();
        printf("\nSee '%s help COMMAND' for the options of one command.\n", g_get_prgname());
}

static int verb_help(_unused_ Context *ctx, const Cmd *cmd) {
        const char *name = cmd_str(cmd, "command");
        const Verb *verb;

        if (!name) {
                print_help();
                return 0;
        }

        verb = verb_find(name);
        if (!verb)
                return log_usage("command '%s' doesn't exist", name);

        print_verb_help(verb);
        return 0;
}

/* ---- per-command arguments ---- */

static int next_positional(const Verb *verb, const Cmd *cmd) {
        for (int i = 0; i < MAX_ARGS && verb->args[i].name; i++) {
                ArgType t = verb->args[i].type;

                if ((t == ARG_POS || t == ARG_POS_OPT) && !cmd->values[i])
                        return i;
        }
        return -1;
}

static int parse_option(const Verb *verb, Cmd *cmd, char **argv, int argc, int *i, bool *help) {
        g_autofree char *name = g_strdup(argv[*i] + 2);
        const char *value = NULL;
        char *eq;
        int idx;

        eq = strchr(name, '=');
        if (eq) {
                *eq = '\0';
                value = argv[*i] + 2 + (eq - name) + 1;
        }

        idx = arg_index(verb, name);
        if (idx < 0) {
                if (streq(name, "help") && !value) {
                        *help = true;
                        return 0;
                }
                return log_usage("command '%s' doesn't support option --%s", verb->name, name);
        }

        if (cmd->values[idx])
                return log_usage("option --%s was given more than once", name);

        if (verb->args[idx].type == ARG_BOOL) {
                if (value)
                        return log_usage("option --%s takes no value", name);
                cmd->values[idx] = "";
                return 0;
        }

        if (!value) {
                if (*i + 1 >= argc)
                        return log_usage("option --%s requires a value", name);
                value = argv[++*i];
        }
        cmd->values[idx] = value;
        return 0;
}

static int check_args(const Verb *verb, const Cmd *cmd) {
        for (int i = 0; i < MAX_ARGS && verb->args[i].name; i++)
                if (verb->args[i].type == ARG_POS && !cmd->values[i])
                        return log_usage("command '%s' requires <%s> option",
                                         verb->name, verb->args[i].name);

        for (int i = 0; i < MAX_EXCLUSIVE && verb->exclusive[i][0]; i++) {
                const char *a = verb->exclusive[i][0], *b = verb->exclusive[i][1];

                if (cmd_bool(cmd, a) && cmd_bool(cmd, b))
                        return log_usage("Options --%s and --%s are mutually exclusive", a, b);
        }

        return verb->check ? verb->check(cmd) : 0;
}

/* Returns 1 when the command should run, 0 when --help was handled. */
static int parse_cmd(const Verb *verb, int argc, char **argv, Cmd *cmd) {
        bool only_positional = false, help = false;
        int r;

        *cmd = (Cmd) { .verb = verb };

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                int idx;

                if (!only_positional && streq(a, "--")) {
                        only_positional = true;
                        continue;
                }

                if (!only_positional && streq(a, "-h")) {
                        help = true;
                        continue;
                }

                if (!only_positional && g_str_has_prefix(a, "--")) {
                        r = parse_option(verb, cmd, argv, argc, &i, &help);
                        if (r < 0)
                                return r;
                        continue;
                }

                idx = next_positional(verb, cmd);
                if (idx < 0)
                        return log_usage("unexpected data '%s'", a);
                cmd->values[idx] = a;
        }

        if (help) {
                print_verb_help(verb);
                return 0;
        }

        r = check_args(verb, cmd);
        if (r < 0)
                return r;
        return 1;
}

/* ---- main ---- */

static int parse_global(int argc, char **argv, Context *ctx) {
        enum { ARG_BUS = 0x100, ARG_HYPERVISOR, ARG_NO_ASK_PASSWORD };
        static const struct option options[] = {
                { "help",       no_argument,       NULL, 'h' },
                { "version",    no_argument,       NULL, 'V' },
                { "bus",        required_argument, NULL, ARG_BUS },
                { "hypervisor", required_argument, NULL, ARG_HYPERVISOR },
                { "no-ask-password", no_argument,  NULL, ARG_NO_ASK_PASSWORD },
                {}
        };
        int c;

        opterr = 0;     /* we say it ourselves */
        while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        print_help();
                        return 0;
                case 'V':
                        printf("domctl %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_BUS:
                        ctx->bus_address = optarg;
                        break;
                case ARG_HYPERVISOR:
                        ctx->hypervisor_arg = optarg;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        ctx->ask_password = false;
                        break;
                case ':':
                        return log_usage("option '%s' requires a value", argv[optind - 1]);
                default:
                        return log_usage("unknown option '%s'", argv[optind - 1]);
                }
        }

        if (optind >= argc)
                return log_usage("no command given (see '%s --help')", g_get_prgname());
        return 1;
}

static int run(int argc, char **argv) {
        Context ctx = { .bus_address = "system", .ask_password = true };
        const Verb *verb;
        Cmd cmd;
        int r;

        r = parse_global(argc, argv, &ctx);
        if (r <= 0)
                return r;

        verb = verb_find(argv[optind]);
        if (!verb)
                return log_usage("unknown command: '%s'", argv[optind]);

        r = parse_cmd(verb, argc - optind - 1, argv + optind + 1, &cmd);
        if (r <= 0)
                return r;

        if (!verb->no_bus) {
                r = bus_connect(&ctx);
                if (r < 0)
                        return r;
        }

        r = verb->run(&ctx, &cmd);

        ctx.bus = sd_bus_flush_close_unref(ctx.bus);
        g_free(ctx.hypervisor_path);
        return r;
}

int main(int argc, char **argv) {
        int r;

        setlocale(LC_ALL, "");
        g_set_prgname("domctl");

        r = run(argc, argv);
        if (fflush(stdout) != 0 && r >= 0) {
                fprintf(stderr, "error: failed to write output: %s\n", g_strerror(errno));
                return EXIT_FAILURE;
        }
        if (r == -DOMCTL_EUSAGE)
                return EXIT_USAGE;
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
