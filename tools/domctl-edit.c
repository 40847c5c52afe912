/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * domctl — edit: the domain's XML in $VISUAL/$EDITOR, then DefineXML.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domctl.h"

#define XML_SECURE      UINT64_C(1)
#define XML_INACTIVE    UINT64_C(2)

static void unlink_and_freep(char **p) {
        if (!*p)
                return;
        (void) unlink(*p);
        g_free(*p);
}

static int write_all(int fd, const char *text) {
        size_t left = strlen(text);

        while (left > 0) {
                ssize_t n = write(fd, text, left);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                text += n;
                left -= (size_t) n;
        }
        return 0;
}

/* A private (0600) temporary file holding text. */
static int write_temp_file(const char *text, char **ret) {
        _cleanup_(unlink_and_freep) char *path = NULL;
        _cleanup_(closep) int fd = -1;
        int r;

        path = g_build_filename(g_get_tmp_dir(), "domctl-edit-XXXXXX.xml", NULL);
        fd = mkstemps(path, 4);
        if (fd < 0) {
                r = -errno;
                g_clear_pointer(&path, g_free);         /* nothing to unlink */
                return log_error_errno(r, "failed to create a temporary file: %s", g_strerror(-r));
        }

        if (fchmod(fd, 0600) < 0)
                return log_error_errno(-errno, "failed to set the mode of %s: %s", path,
                                       g_strerror(errno));
        r = write_all(fd, text);
        if (r < 0)
                return log_error_errno(r, "failed to write %s: %s", path, g_strerror(-r));
        if (close(g_steal_fd(&fd)) < 0)
                return log_error_errno(-errno, "failed to write %s: %s", path, g_strerror(errno));

        *ret = g_steal_pointer(&path);
        return 0;
}

static const char *editor_command(void) {
        const char *e;

        e = getenv("VISUAL");
        if (e && *e)
                return e;
        e = getenv("EDITOR");
        if (e && *e)
                return e;
        return "vi";
}

static void editor_child_setup(_unused_ gpointer data) {
        /* the parent ignores these while it waits, like system(3) */
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGQUIT, SIG_DFL);
}

static int spawn_editor(const char *editor, char **argv) {
        g_autoptr(GError) error = NULL;
        void (*old_int)(int), (*old_quit)(int);
        gboolean ok;
        int status = 0;

        old_int = signal(SIGINT, SIG_IGN);
        old_quit = signal(SIGQUIT, SIG_IGN);
        ok = g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN,
                          editor_child_setup, NULL, NULL, NULL, &status, &error);
        (void) signal(SIGINT, old_int);
        (void) signal(SIGQUIT, old_quit);

        if (!ok)
                return log_error_errno(-ENOEXEC, "failed to run editor '%s': %s", editor,
                                       error->message);
        if (!g_spawn_check_wait_status(status, &error))
                return log_error_errno(-EIO, "editor '%s' failed: %s", editor, error->message);
        return 0;
}

/* $VISUAL, else $EDITOR, else vi; split into words (no shell), the file last. */
static int run_editor(const char *file) {
        const char *editor = editor_command();
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = NULL;
        int argc;

        if (!g_shell_parse_argv(editor, &argc, &argv, &error))
                return log_error_errno(-EINVAL, "cannot parse the editor command '%s': %s",
                                       editor, error->message);

        argv = g_renew(char *, argv, argc + 2);
        argv[argc] = g_strdup(file);
        argv[argc + 1] = NULL;

        return spawn_editor(editor, argv);
}

/* Equal but for trailing white space (editors like to add a newline). */
static bool xml_equal(const char *a, const char *b) {
        g_autofree char *x = g_strchomp(g_strdup(a));
        g_autofree char *y = g_strchomp(g_strdup(b));

        return streq(x, y);
}

static char *hypervisor_of(const char *domain_path) {
        const char *p = strstr(domain_path, "/domain/");

        return p ? g_strndup(domain_path, p - domain_path) : NULL;
}

static int define_edited(Context *ctx, const Domain *dom, const char *xml, char **ret_name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *hv = hypervisor_of(dom->path);
        const char *path;
        int r;

        if (!hv) {
                const char *p;

                r = hypervisor_path(ctx, &p);
                if (r < 0)
                        return r;
                hv = g_strdup(p);
        }

        r = bus_call_error(ctx, hv, IFACE_HYPERVISOR, "DefineXML", CALL_TIMEOUT_DEFAULT,
                           &error, &reply, "st", xml, UINT64_C(0));
        if (r < 0)
                return log_bus_error(&error, r);

        r = sd_bus_message_read(reply, "o", &path);
        *ret_name = r < 0 ? g_strdup(dom->name) : domain_name_quiet(ctx, path);
        return 0;
}

static void print_retry_help(void) {
        printf("y - yes, start editor again\n"
               "n - no, throw away my changes\n"
               "i - try to define the changed XML again, without editing\n"
               "f - force, try to define the changed XML again\n"
               "? - print this help\n");
}

/* virsh's question after a failed define: 'y' edit again, 'i' define again,
 * 'n' give up. */
static int ask_retry(void) {
        for (;;) {
                g_autofree char *line = NULL;
                size_t n = 0;

                printf("Failed. Try again? [y,n,i,f,?]: ");
                fflush(stdout);
                if (getline(&line, &n, stdin) < 0)
                        return 'n';

                switch (g_strstrip(line)[0]) {
                case 'y':
                        return 'y';
                case 'n':
                        return 'n';
                case 'i':
                case 'f':
                        return 'i';
                default:
                        print_retry_help();
                }
        }
}

static int edit_loop(Context *ctx, const Domain *dom, const char *file, const char *orig) {
        bool edit = true;
        int r, answer;

        for (;;) {
                g_autofree char *edited = NULL, *name = NULL;

                if (edit) {
                        r = run_editor(file);
                        if (r < 0)
                                return r;
                }

                r = read_text_file(file, &edited);
                if (r < 0)
                        return r;
                if (xml_equal(orig, edited)) {
                        printf("Domain '%s' XML configuration not changed.\n", dom->name);
                        return 0;
                }

                r = define_edited(ctx, dom, edited, &name);
                if (r >= 0) {
                        printf("Domain '%s' XML configuration edited.\n", name);
                        return 0;
                }

                if (!isatty(STDIN_FILENO))
                        return r;
                answer = ask_retry();
                if (answer == 'n')
                        return r;
                edit = answer == 'y';
        }
}

int verb_edit(Context *ctx, const Cmd *cmd) {
        _cleanup_(domain_done) Domain dom = {};
        _cleanup_(unlink_and_freep) char *file = NULL;
        g_autofree char *xml = NULL;
        int r;

        r = domain_lookup(ctx, cmd_str(cmd, "domain"), &dom);
        if (r < 0)
                return r;

        r = bus_call_string(ctx, dom.path, IFACE_DOMAIN, "GetXMLDesc", CALL_TIMEOUT_DEFAULT,
                            &xml, "t", XML_INACTIVE | XML_SECURE);
        if (r < 0)
                return r;

        r = write_temp_file(xml, &file);
        if (r < 0)
                return r;

        return edit_loop(ctx, &dom, file, xml);
}
