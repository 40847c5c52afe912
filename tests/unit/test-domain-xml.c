/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for service/domain-xml.c */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "domain-xml.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must point at tests/data"
#endif

/* <domain> with the required parts around `body` */
#define DOM(body) "<domain type='test'><name>t</name><memory>1024</memory>" body "</domain>"
#define DEVICES(body) DOM("<devices>" body "</devices>")
#define DISK(body) DEVICES("<disk type='file' device='disk'>" body "</disk>")
#define UUID_RE "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

/* ---- helpers --------------------------------------------------------------- */

static char *read_sample(const char *name) {
        g_autofree char *path = g_build_filename(TEST_DATA_DIR, name, NULL);
        g_autoptr(GError) error = NULL;
        char *contents = NULL;

        if (!g_file_get_contents(path, &contents, NULL, &error))
                fail_msg("cannot read %s: %s", path, error->message);
        return contents;
}

static DomainDef *parse_ok(const char *xml) {
        g_autoptr(GError) error = NULL;
        DomainDef *def = domain_def_parse(xml, &error);

        if (!def)
                fail_msg("parse failed: %s\nXML: %s", error->message, xml);
        assert_null(error);
        return def;
}

static DomainDef *parse_sample(const char *name) {
        g_autofree char *xml = read_sample(name);

        return parse_ok(xml);
}

/* Refused with DOMAIN_XML_ERROR_INVALID and a message containing `expected`. */
static void check_invalid(const char *xml, const char *expected) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DomainDef) def = domain_def_parse(xml, &error);

        if (def)
                fail_msg("accepted, expected '%s'\nXML: %s", expected, xml);
        assert_non_null(error);
        assert_true(g_error_matches(error, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_INVALID));
        if (!strstr(error->message, expected))
                fail_msg("message '%s' lacks '%s'\nXML: %s", error->message, expected, xml);
}

static void assert_matches(const char *pattern, const char *s) {
        if (!g_regex_match_simple(pattern, s, G_REGEX_MULTILINE, 0))
                fail_msg("'%s' does not match /%s/", s, pattern);
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle))
                fail_msg("'%s' not found in:\n%s", needle, haystack);
}

static void assert_not_contains(const char *haystack, const char *needle) {
        if (strstr(haystack, needle))
                fail_msg("'%s' unexpectedly found in:\n%s", needle, haystack);
}

/* `a` appears before `b` in s */
static void assert_order(const char *s, const char *a, const char *b) {
        const char *pa = strstr(s, a), *pb = strstr(s, b);

        if (!pa || !pb || pa > pb)
                fail_msg("'%s' should come before '%s' in:\n%s", a, b, s);
}

static unsigned count_occurrences(const char *s, const char *needle) {
        unsigned n = 0;

        for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
                n++;
        return n;
}

/* ---- defaults and round trip ------------------------------------------------- */

static void test_minimal(void **state) {
        g_autoptr(DomainDef) def = parse_sample("minimal.xml");

        assert_string_equal(def->name, "minimal");
        assert_string_equal(def->type, "test");
        assert_matches(UUID_RE, def->uuid);
        assert_int_equal(def->memory_kib, 131072);
        assert_int_equal(def->current_kib, 131072);
        assert_int_equal(def->vcpus, 1);
        assert_null(def->os_type);
        assert_int_equal(def->on_poweroff, LIFECYCLE_DESTROY);
        assert_int_equal(def->on_reboot, LIFECYCLE_RESTART);
        assert_int_equal(def->on_crash, LIFECYCLE_DESTROY);
        assert_non_null(def->disk_sources);
        assert_null(def->disk_sources[0]);

        /* the defaults are written out, in libvirt's order */
        assert_contains(def->xml, def->uuid);
        assert_contains(def->xml, "<memory unit=\"KiB\">131072</memory>");
        assert_contains(def->xml, "<currentMemory unit=\"KiB\">131072</currentMemory>");
        assert_contains(def->xml, "<vcpu>1</vcpu>");
        assert_contains(def->xml, "<on_poweroff>destroy</on_poweroff>");
        assert_contains(def->xml, "<on_reboot>restart</on_reboot>");
        assert_contains(def->xml, "<on_crash>destroy</on_crash>");
        assert_order(def->xml, "<name>", "<uuid>");
        assert_order(def->xml, "<uuid>", "<memory");
        assert_order(def->xml, "<memory", "<currentMemory");
        assert_order(def->xml, "<currentMemory", "<vcpu>");
        assert_order(def->xml, "<vcpu>", "<on_poweroff>");
        assert_order(def->xml, "<on_poweroff>", "<on_reboot>");
        assert_order(def->xml, "<on_reboot>", "<on_crash>");
        /* formatted with two-space indentation, no declaration */
        assert_true(g_str_has_prefix(def->xml, "<domain type=\"test\">\n  <name>minimal</name>\n"));
        assert_not_contains(def->xml, "<?xml");
}

static void test_round_trip_unknown(void **state) {
        static const char xml[] =
                "<domain type='kvm' future='yes'>"
                "<name>rt</name>"
                "<metadata><x:foo xmlns:x='urn:x'/></metadata>"
                "<memory unit='KiB' dumpCore='on'>4096</memory>"
                "<!-- keep me -->"
                "<devices><disk type='file' device='disk' shiny='very'>"
                "<source file='/a.img' startupPolicy='optional'/><target dev='vda'/><wibble/>"
                "</disk><gizmo kind='x'>text</gizmo></devices>"
                "<unknown-top><child a='1'/></unknown-top>"
                "</domain>";
        g_autoptr(DomainDef) def = parse_ok(xml);
        g_autoptr(DomainDef) again = NULL;
        g_autofree char *out = domain_def_format(def, -1, DOMAIN_XML_SECURE);

        for (const char *const *s = (const char *const[]) {
                     "future=\"yes\"", "<x:foo xmlns:x=\"urn:x\"/>", "dumpCore=\"on\"", "<!-- keep me -->",
                     "shiny=\"very\"", "startupPolicy=\"optional\"", "<wibble/>",
                     "<gizmo kind=\"x\">text</gizmo>", "<unknown-top>", "<child a=\"1\"/>", NULL };
             *s; s++) {
                assert_contains(def->xml, *s);
                assert_contains(out, *s);
        }

        /* normalized XML is a fixed point */
        again = parse_ok(def->xml);
        assert_string_equal(again->xml, def->xml);
        assert_string_equal(again->uuid, def->uuid);
}

static void test_samples_fixed_point(void **state) {
        static const char *const samples[] = { "minimal.xml", "test-full.xml", "kvm-full.xml",
                                               "xen-pv-pygrub.xml" };

        for (size_t i = 0; i < G_N_ELEMENTS(samples); i++) {
                g_autoptr(DomainDef) def = parse_sample(samples[i]);
                g_autoptr(DomainDef) again = parse_ok(def->xml);

                assert_string_equal(again->xml, def->xml);
                assert_string_equal(again->uuid, def->uuid);
                assert_string_equal(again->name, def->name);
                assert_int_equal(again->memory_kib, def->memory_kib);
                assert_int_equal(again->current_kib, def->current_kib);
        }
}

static void test_utf8_kept(void **state) {
        g_autoptr(DomainDef) def = parse_ok("<domain type='test'><name>caf\xc3\xa9-\xe6\x97\xa5</name>"
                                            "<memory>1</memory></domain>");

        assert_string_equal(def->name, "caf\xc3\xa9-\xe6\x97\xa5");
        assert_contains(def->xml, "<name>caf\xc3\xa9-\xe6\x97\xa5</name>");
}

/* ---- uuid ---------------------------------------------------------------------- */

static void test_uuid_generation(void **state) {
        g_autoptr(DomainDef) a = parse_sample("minimal.xml");
        g_autoptr(DomainDef) b = parse_sample("minimal.xml");
        g_autofree char *element = g_strdup_printf("<uuid>%s</uuid>", a->uuid);

        assert_matches(UUID_RE, a->uuid);
        assert_matches(UUID_RE, b->uuid);
        assert_string_not_equal(a->uuid, b->uuid);
        assert_contains(a->xml, element);
        assert_int_equal(count_occurrences(a->xml, "<uuid>"), 1);
}

static void test_uuid_normalization(void **state) {
        static const char *const forms[] = {
                "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
                "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0",
                "4dea22b31d52d8f32516782e98ab3fa0",
                "4DEA22B31d52D8F32516782E98AB3FA0",
                "  4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(forms); i++) {
                g_autofree char *xml = g_strdup_printf(DOM("<uuid>%s</uuid>"), forms[i]);
                g_autoptr(DomainDef) def = parse_ok(xml);

                assert_string_equal(def->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
                assert_contains(def->xml, "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>");
        }

        check_invalid(DOM("<uuid>1234</uuid>"), "<uuid>: '1234' is not a UUID");
        check_invalid(DOM("<uuid></uuid>"), "<uuid>: '' is not a UUID");
        check_invalid(DOM("<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa</uuid>"), "<uuid>");
        check_invalid(DOM("<uuid>4dea22b31-d52-d8f3-2516-782e98ab3fa0</uuid>"), "is not a UUID");
        check_invalid(DOM("<uuid>gdea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"), "is not a UUID");
        check_invalid(DOM("<uuid>4dea22b31d52d8f32516782e98ab3fa00</uuid>"), "is not a UUID");
        check_invalid(DOM("<uuid>00000000-0000-0000-0000-000000000000</uuid>"), "<uuid>: '00000000-0000-0000-0000-000000000000' is the nil UUID");
        check_invalid(DOM("<uuid>00000000000000000000000000000000</uuid>"), "nil UUID");
        check_invalid(DOM("<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
                          "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"),
                      "<domain>: more than one <uuid>");
}

/* ---- memory, vcpu, lifecycle --------------------------------------------------------- */

static void test_memory_units(void **state) {
        static const struct {
                const char *value, *unit;
                uint64_t kib;
        } cases[] = {
                { "1", "GiB", 1048576 },
                { "1", "G", 1048576 },
                { "512", "MB", 500000 },
                { "512", "MiB", 524288 },
                { "512", "M", 524288 },
                { "2048", NULL, 2048 },
                { "2048", "KiB", 2048 },
                { "2048", "k", 2048 },
                { "1000", "KB", 1000 * 1000 / 1024 + 1 }, /* 1000000 bytes, rounded up */
                { "1024", "b", 1 },
                { "1", "bytes", 1 },                       /* rounded up to 1 KiB */
                { "1025", "bytes", 2 },
                { "1", "GB", 976563 },
                { "1", "TiB", 1073741824 },
                { "1", "T", 1073741824 },
                { "2", "TB", 1953125000 },
                { "1", "PiB", UINT64_C(1099511627776) },
                { "1", "EiB", UINT64_C(1125899906842624) },
                { " 64 ", "MiB", 65536 },
                { "4", "gib", 4194304 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *unit = cases[i].unit ? g_strdup_printf(" unit='%s'", cases[i].unit)
                                                      : g_strdup("");
                g_autofree char *xml = g_strdup_printf("<domain type='test'><name>m</name>"
                                                       "<memory%s>%s</memory></domain>",
                                                       unit, cases[i].value);
                g_autofree char *expect = g_strdup_printf("<memory unit=\"KiB\">%" G_GUINT64_FORMAT "</memory>",
                                                          cases[i].kib);
                g_autoptr(DomainDef) def = parse_ok(xml);

                if (def->memory_kib != cases[i].kib)
                        fail_msg("%s %s: %" G_GUINT64_FORMAT " KiB, expected %" G_GUINT64_FORMAT,
                                 cases[i].value, cases[i].unit, def->memory_kib, cases[i].kib);
                assert_int_equal(def->current_kib, cases[i].kib);
                assert_contains(def->xml, expect);
        }
}

static void test_current_memory(void **state) {
        g_autoptr(DomainDef) def = NULL;

        def = parse_ok("<domain type='test'><name>c</name><memory unit='GiB'>2</memory>"
                       "<currentMemory unit='MiB'>1024</currentMemory></domain>");
        assert_int_equal(def->memory_kib, 2097152);
        assert_int_equal(def->current_kib, 1048576);
        assert_contains(def->xml, "<currentMemory unit=\"KiB\">1048576</currentMemory>");
        g_clear_pointer(&def, domain_def_free);

        /* equal is fine */
        def = parse_ok("<domain type='test'><name>c</name><memory unit='GiB'>1</memory>"
                       "<currentMemory unit='KiB'>1048576</currentMemory></domain>");
        assert_int_equal(def->current_kib, def->memory_kib);

        check_invalid("<domain type='test'><name>c</name><memory unit='GiB'>1</memory>"
                      "<currentMemory unit='GiB'>2</currentMemory></domain>",
                      "<currentMemory>: 2097152 KiB exceeds <memory> of 1048576 KiB");
        check_invalid("<domain type='test'><name>c</name><memory>1024</memory>"
                      "<currentMemory>1025</currentMemory></domain>",
                      "<currentMemory>");
        check_invalid(DOM("<currentMemory>abc</currentMemory>"), "<currentMemory>: 'abc' is not a number");
        check_invalid(DOM("<currentMemory>0</currentMemory>"), "<currentMemory>: must be greater than zero");
        check_invalid(DOM("<currentMemory unit='parsecs'>1</currentMemory>"),
                      "<currentMemory unit>: 'parsecs' is not a known unit");
}

static void test_vcpu(void **state) {
        g_autoptr(DomainDef) def = parse_ok(DOM("<vcpu placement='static' current='2'> 8 </vcpu>"));

        assert_int_equal(def->vcpus, 8);
        assert_contains(def->xml, "placement=\"static\"");
        assert_contains(def->xml, "current=\"2\"");
        assert_int_equal(count_occurrences(def->xml, "<vcpu"), 1);
}

static void test_lifecycle(void **state) {
        static const struct {
                const char *xml;
                LifecycleAction poweroff, reboot, crash;
        } cases[] = {
                { DOM(""), LIFECYCLE_DESTROY, LIFECYCLE_RESTART, LIFECYCLE_DESTROY },
                { DOM("<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot>"
                      "<on_crash>preserve</on_crash>"),
                  LIFECYCLE_RESTART, LIFECYCLE_DESTROY, LIFECYCLE_PRESERVE },
                { DOM("<on_crash>coredump-destroy</on_crash>"),
                  LIFECYCLE_DESTROY, LIFECYCLE_RESTART, LIFECYCLE_COREDUMP_DESTROY },
                { DOM("<on_reboot> rename-restart </on_reboot><on_crash>coredump-restart</on_crash>"),
                  LIFECYCLE_DESTROY, LIFECYCLE_RENAME_RESTART, LIFECYCLE_COREDUMP_RESTART },
                { DOM("<on_poweroff>preserve</on_poweroff><on_crash>rename-restart</on_crash>"),
                  LIFECYCLE_PRESERVE, LIFECYCLE_RESTART, LIFECYCLE_RENAME_RESTART },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(DomainDef) def = parse_ok(cases[i].xml);
                g_autofree char *p = g_strdup_printf("<on_poweroff>%s</on_poweroff>",
                                                     lifecycle_action_to_string(cases[i].poweroff));
                g_autofree char *r = g_strdup_printf("<on_reboot>%s</on_reboot>",
                                                     lifecycle_action_to_string(cases[i].reboot));
                g_autofree char *c = g_strdup_printf("<on_crash>%s</on_crash>",
                                                     lifecycle_action_to_string(cases[i].crash));

                assert_int_equal(def->on_poweroff, cases[i].poweroff);
                assert_int_equal(def->on_reboot, cases[i].reboot);
                assert_int_equal(def->on_crash, cases[i].crash);
                assert_contains(def->xml, p);
                assert_contains(def->xml, r);
                assert_contains(def->xml, c);
                assert_int_equal(count_occurrences(def->xml, "<on_crash>"), 1);
        }

        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_DESTROY), "destroy");
        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_RESTART), "restart");
        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_PRESERVE), "preserve");
        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_RENAME_RESTART), "rename-restart");
        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_COREDUMP_DESTROY), "coredump-destroy");
        assert_string_equal(lifecycle_action_to_string(LIFECYCLE_COREDUMP_RESTART), "coredump-restart");
        assert_null(lifecycle_action_to_string((LifecycleAction) 42));
}

/* ---- validation --------------------------------------------------------------------- */

static void test_validation_errors(void **state) {
        g_autofree char *long_name = g_strnfill(201, 'n');
        g_autofree char *max_name = g_strnfill(200, 'n');
        g_autofree char *long_xml = g_strdup_printf("<domain type='test'><name>%s</name>"
                                                    "<memory>1</memory></domain>", long_name);
        g_autofree char *max_xml = g_strdup_printf("<domain type='test'><name>%s</name>"
                                                   "<memory>1</memory></domain>", max_name);
        g_autoptr(DomainDef) max_def = NULL;
        static const struct {
                const char *xml, *message;
        } cases[] = {
                /* document and root */
                { "<domain type='test'><name>x</domain>", "malformed XML" },
                { "<domain type='test'>", "malformed XML" },
                { "just text", "malformed XML" },
                { "<domainsnapshot><name>x</name></domainsnapshot>",
                  "<domain>: expected as root element, found <domainsnapshot>" },
                { "<d:domain xmlns:d='urn:d' type='test'><name>x</name><memory>1</memory></d:domain>",
                  "<domain>: expected as root element" },
                { "<domain><name>x</name><memory>1</memory></domain>", "<domain>: missing type attribute" },
                { "<domain type=''><name>x</name><memory>1</memory></domain>", "<domain type>: must not be empty" },
                /* name */
                { "<domain type='test'><memory>1</memory></domain>", "<domain>: missing <name>" },
                { "<domain type='test'><name></name><memory>1</memory></domain>", "<name>: must not be empty" },
                { "<domain type='test'><name>a/b</name><memory>1</memory></domain>",
                  "<name>: 'a/b' must not contain '/'" },
                { "<domain type='test'><name>-x</name><memory>1</memory></domain>",
                  "<name>: '-x' must not start with '-'" },
                { "<domain type='test'><name>a&#9;b</name><memory>1</memory></domain>",
                  "<name>: must not contain control characters" },
                { "<domain type='test'><name>a\nb</name><memory>1</memory></domain>",
                  "<name>: must not contain control characters" },
                { "<domain type='test'><name>a&#x7f;b</name><memory>1</memory></domain>",
                  "<name>: must not contain control characters" },
                { "<domain type='test'><name>a</name><name>b</name><memory>1</memory></domain>",
                  "<domain>: more than one <name>" },
                /* memory */
                { "<domain type='test'><name>x</name></domain>", "<domain>: missing <memory>" },
                { "<domain type='test'><name>x</name><memory>12x</memory></domain>",
                  "<memory>: '12x' is not a number" },
                { "<domain type='test'><name>x</name><memory>-1</memory></domain>",
                  "<memory>: '-1' is not a number" },
                { "<domain type='test'><name>x</name><memory>1.5</memory></domain>",
                  "<memory>: '1.5' is not a number" },
                { "<domain type='test'><name>x</name><memory></memory></domain>",
                  "<memory>: '' is not a number" },
                { "<domain type='test'><name>x</name><memory>0</memory></domain>",
                  "<memory>: must be greater than zero" },
                { "<domain type='test'><name>x</name><memory unit='XB'>1</memory></domain>",
                  "<memory unit>: 'XB' is not a known unit" },
                { "<domain type='test'><name>x</name><memory>99999999999999999999</memory></domain>",
                  "<memory>: '99999999999999999999' is too large" },
                { "<domain type='test'><name>x</name><memory unit='EiB'>16</memory></domain>",
                  "<memory>: '16 EiB' is too large" },
                { "<domain type='test'><name>x</name><memory>18014398509481984</memory></domain>",
                  "<memory>: '18014398509481984 KiB' is too large" },
                /* vcpu */
                { DOM("<vcpu>0</vcpu>"), "<vcpu>: must be at least 1" },
                { DOM("<vcpu>two</vcpu>"), "<vcpu>: 'two' is not a number" },
                { DOM("<vcpu>4294967296</vcpu>"), "<vcpu>: '4294967296' is too large" },
                { DOM("<vcpu current='5'>4</vcpu>"), "<vcpu current>: '5' must be between 1 and <vcpu>" },
                { DOM("<vcpu current='0'>4</vcpu>"), "<vcpu current>: '0'" },
                { DOM("<vcpu current='x'>4</vcpu>"), "<vcpu current>: 'x' is not a number" },
                /* os */
                { DOM("<os><boot dev='hd'/></os>"), "<os>: missing <type>" },
                { DOM("<os><type> </type></os>"), "<os><type>: must not be empty" },
                { DOM("<os><type>hvm</type><type>xen</type></os>"), "<os>: more than one <type>" },
                { DOM("<os><type>hvm</type><boot dev='floppy'/></os>"),
                  "<os><boot dev>: 'floppy' is not one of hd, cdrom, network, fd" },
                { DOM("<os><type>hvm</type><boot/></os>"), "<os><boot>: missing dev attribute" },
                { DOM("<os><type>hvm</type></os><os><type>hvm</type></os>"), "<domain>: more than one <os>" },
                /* clock, lifecycle */
                { DOM("<clock offset='gmt'/>"),
                  "<clock offset>: 'gmt' is not one of utc, localtime, timezone, variable" },
                { DOM("<on_poweroff>coredump-destroy</on_poweroff>"),
                  "<on_poweroff>: 'coredump-destroy' is not one of destroy, restart, preserve, rename-restart" },
                { DOM("<on_reboot>coredump-restart</on_reboot>"), "<on_reboot>: 'coredump-restart' is not one of" },
                { DOM("<on_crash>explode</on_crash>"),
                  "<on_crash>: 'explode' is not one of destroy, restart, preserve, rename-restart, "
                  "coredump-destroy, coredump-restart" },
                { DOM("<on_poweroff></on_poweroff>"), "<on_poweroff>: '' is not one of" },
                /* disks */
                { DEVICES("<disk type='network'><target dev='vda'/></disk>"),
                  "<disk type>: 'network' is not one of file, block" },
                { DEVICES("<disk type='file' device='lun'><source file='/a'/><target dev='vda'/></disk>"),
                  "<disk device>: 'lun' is not one of disk, cdrom, floppy" },
                { DISK("<driver name='qemu' type='vmdk'/><source file='/a'/><target dev='vda'/>"),
                  "<disk><driver type>: 'vmdk' is not one of raw, qcow2" },
                { DISK("<source dev='/dev/sda'/><target dev='vda'/>"),
                  "<disk><source>: a type='file' disk takes file=, not dev=" },
                { DEVICES("<disk type='block'><source file='/a.img'/><target dev='vda'/></disk>"),
                  "<disk><source>: a type='block' disk takes dev=, not file=" },
                { DISK("<target dev='vda'/>"), "<disk>: missing <source>" },
                { DISK("<source/><target dev='vda'/>"), "<disk><source>: missing file attribute" },
                { DISK("<source file=''/><target dev='vda'/>"), "<disk><source file>: must not be empty" },
                { DISK("<source file='/a'/><source file='/b'/><target dev='vda'/>"),
                  "<disk>: more than one <source>" },
                { DISK("<source file='/a'/>"), "<disk>: missing <target>" },
                { DISK("<source file='/a'/><target bus='virtio'/>"), "<disk><target>: missing dev attribute" },
                { DISK("<source file='/a'/><target dev=''/>"), "<disk><target dev>: must not be empty" },
                { DISK("<source file='/a'/><target dev='vda' bus='floppy'/>"),
                  "<disk><target bus>: 'floppy' is not one of virtio, ide, sata, scsi, usb, xen, fdc" },
                { DEVICES("<disk type='file' device='disk'><source file='/a'/><target dev='vda'/></disk>"
                          "<disk type='file' device='cdrom'><target dev='vda'/></disk>"),
                  "<disk><target dev>: 'vda' is used by two disks" },
                /* interfaces */
                { DEVICES("<interface type='direct'/>"),
                  "<interface type>: 'direct' is not one of network, bridge, user" },
                { DEVICES("<interface type='network'/>"),
                  "<interface>: a type='network' interface needs <source network=...>" },
                { DEVICES("<interface type='bridge'><source network='default'/></interface>"),
                  "<interface><source>: missing bridge attribute" },
                { DEVICES("<interface type='network'><source network=''/></interface>"),
                  "<interface><source network>: must not be empty" },
                { DEVICES("<interface type='user'><mac address='zz:54:00:12:34:56'/></interface>"),
                  "<interface><mac address>: 'zz:54:00:12:34:56' is not a MAC address" },
                { DEVICES("<interface type='user'><mac address='52:54:00:12:34'/></interface>"),
                  "is not a MAC address" },
                { DEVICES("<interface type='user'><mac address='52:54:00:12:34:56:78'/></interface>"),
                  "is not a MAC address" },
                { DEVICES("<interface type='user'><mac address='525400123456'/></interface>"),
                  "is not a MAC address" },
                { DEVICES("<interface type='user'><mac address='52:54:00:123:4:56'/></interface>"),
                  "is not a MAC address" },
                { DEVICES("<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>"),
                  "<interface><mac address>: '01:00:5e:00:00:01' is a multicast address" },
                { DEVICES("<interface type='user'><mac/></interface>"),
                  "<interface><mac>: missing address attribute" },
                { DEVICES("<interface type='user'><model/></interface>"),
                  "<interface><model>: missing type attribute" },
                /* other devices */
                { DEVICES("<input bus='usb'/>"), "<input>: missing type attribute" },
                { DEVICES("<input type='joystick'/>"), "<input type>: 'joystick' is not one of" },
                { DEVICES("<input type='mouse' bus='serial'/>"), "<input bus>: 'serial' is not one of" },
                { DEVICES("<graphics port='5900'/>"), "<graphics>: missing type attribute" },
                { DEVICES("<graphics type='x11'/>"), "<graphics type>: 'x11' is not one of" },
                { DEVICES("<graphics type='vnc' port='abc'/>"), "<graphics port>: 'abc' is not a port number" },
                { DEVICES("<graphics type='vnc' port='70000'/>"), "<graphics port>: '70000' is not a port number" },
                { DEVICES("<graphics type='vnc' port='-2'/>"), "<graphics port>: '-2' is not a port number" },
                { DEVICES("<graphics type='vnc' port='- 1'/>"), "<graphics port>: '- 1' is not a port number" },
                { DEVICES("<graphics type='vnc' port=''/>"), "<graphics port>: '' is not a port number" },
                { DEVICES("<graphics type='vnc' autoport='maybe'/>"),
                  "<graphics autoport>: 'maybe' is not one of yes, no" },
                { DEVICES("<console type='telepathy'/>"), "<console type>: 'telepathy' is not one of" },
                { DEVICES("<serial type='carrier-pigeon'/>"), "<serial type>: 'carrier-pigeon' is not one of" },
                { DEVICES("<sound/>"), "<sound>: missing model attribute" },
                { DEVICES("<sound model='beeper'/>"), "<sound model>: 'beeper' is not one of" },
                { DEVICES("<video><model/></video>"), "<video><model>: missing type attribute" },
                { DEVICES("<video><model type='hologram'/></video>"),
                  "<video><model type>: 'hologram' is not one of" },
                { DEVICES("<emulator>/a</emulator><emulator>/b</emulator>"),
                  "<devices>: more than one <emulator>" },
                { DOM("<devices/><devices/>"), "<domain>: more than one <devices>" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_invalid(cases[i].xml, cases[i].message);

        check_invalid(long_xml, "<name>: longer than 200 characters");
        max_def = parse_ok(max_xml);
        assert_string_equal(max_def->name, max_name);

        check_invalid("", "empty XML document");
        check_invalid(NULL, "empty XML document");
}

/* Long values are quoted only in part, and the cut keeps the message valid UTF-8. */
static void test_error_message_quoting(void **state) {
        g_autoptr(GString) name = g_string_new(NULL);
        g_autofree char *xml = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(DomainDef) def = NULL;

        for (int i = 0; i < 300; i++)
                g_string_append(name, "\xc3\xa9");
        g_string_append(name, "/");
        xml = g_strdup_printf("<domain type='test'><name>%s</name><memory>1</memory></domain>", name->str);

        def = domain_def_parse(xml, &error);
        assert_null(def);
        assert_non_null(error);
        assert_true(g_utf8_validate(error->message, -1, NULL));
        assert_true(strlen(error->message) < 300);
        assert_contains(error->message, "<name>: '");
        assert_contains(error->message, "...' must not contain '/'");
}

/* ---- devices -------------------------------------------------------------------------- */

static void test_mac_generation(void **state) {
        g_autoptr(DomainDef) def = parse_ok(DEVICES("<interface type='network'><source network='default'/>"
                                                    "<model type='virtio'/></interface>"
                                                    "<interface type='bridge'><source bridge='br0'/></interface>"
                                                    "<interface type='user'/>"
                                                    "<interface/>"));
        g_autoptr(GRegex) re = g_regex_new("<mac address=\"(52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2})\"/>",
                                           0, 0, NULL);
        g_autoptr(GMatchInfo) match = NULL;
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(DomainDef) again = NULL;

        /* one MAC per interface, all distinct, each before the interface's other children */
        assert_int_equal(count_occurrences(def->xml, "<mac "), 4);
        for (g_regex_match(re, def->xml, 0, &match); g_match_info_matches(match); g_match_info_next(match, NULL)) {
                char *mac = g_match_info_fetch(match, 1);

                assert_false(g_hash_table_contains(seen, mac));
                g_hash_table_add(seen, mac);
        }
        assert_int_equal(g_hash_table_size(seen), 4);
        assert_matches("<interface type=\"network\">\\s*<mac address=\"52:54:00:", def->xml);
        assert_matches("<interface type=\"bridge\">\\s*<mac address=\"52:54:00:", def->xml);

        /* generated once: parsing the normalized XML keeps them */
        again = parse_ok(def->xml);
        assert_string_equal(again->xml, def->xml);
}

static void test_mac_normalization(void **state) {
        g_autoptr(DomainDef) def = parse_ok(DEVICES("<interface type='user'><mac address='52:54:00:AB:cD:eF'/></interface>"
                                                    "<interface type='user'><mac address='52:54:0:1:2:3'/></interface>"));

        assert_contains(def->xml, "<mac address=\"52:54:00:ab:cd:ef\"/>");
        assert_contains(def->xml, "<mac address=\"52:54:00:01:02:03\"/>");
        assert_int_equal(count_occurrences(def->xml, "<mac "), 2);
}

static void test_disks(void **state) {
        g_autoptr(DomainDef) def = parse_ok(DEVICES(
                "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
                "<disk device='disk'><source file='/b.img'/><target dev='vda'/></disk>"
                "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"
                "<disk type='block' device='cdrom'><source dev='/dev/sr0'/><target dev='hdd'/></disk>"
                "<disk type='file' device='floppy'><source file='/f.img'/><target dev='fda' bus='fdc'/></disk>"
                "<disk type='file' device='floppy'><source/><target dev='fdb' bus='fdc'/></disk>"));

        assert_int_equal(g_strv_length(def->disk_sources), 4);
        assert_string_equal(def->disk_sources[0], "/b.img");
        assert_string_equal(def->disk_sources[1], "/dev/sdb");
        assert_string_equal(def->disk_sources[2], "/dev/sr0");
        assert_string_equal(def->disk_sources[3], "/f.img");
        assert_null(def->disk_sources[4]);
}

/* ---- format --------------------------------------------------------------------------- */

static void test_secure_passwd(void **state) {
        g_autoptr(DomainDef) def = parse_ok(DEVICES("<graphics type='vnc' port='5901' autoport='no' passwd='s3cret'/>"
                                                    "<graphics type='vnc' port='-1' autoport='yes'/>"
                                                    "<graphics type='spice' passwd='other'/>"));
        g_autofree char *secure = domain_def_format(def, -1, DOMAIN_XML_SECURE);
        g_autofree char *plain = domain_def_format(def, -1, 0);
        g_autofree char *inactive = domain_def_format(def, -1, DOMAIN_XML_INACTIVE | DOMAIN_XML_MIGRATABLE);
        g_autofree char *live = domain_def_format(def, 4, DOMAIN_XML_INACTIVE);
        g_autofree char *live_secure = domain_def_format(def, 4, DOMAIN_XML_SECURE);

        /* the definition keeps the secret; only handing it out strips it */
        assert_contains(def->xml, "passwd=\"s3cret\"");
        assert_contains(secure, "passwd=\"s3cret\"");
        assert_contains(secure, "passwd=\"other\"");
        assert_contains(live_secure, "passwd=\"s3cret\"");
        assert_string_equal(secure, def->xml);

        assert_not_contains(plain, "passwd");
        assert_not_contains(inactive, "passwd");
        assert_not_contains(live, "passwd");
        assert_contains(plain, "<graphics type=\"vnc\" port=\"5901\" autoport=\"no\"/>");
        assert_contains(plain, "<graphics type=\"spice\"/>");
}

static void test_id_attribute(void **state) {
        g_autoptr(DomainDef) def = parse_ok("<domain type='test' id='12'><name>i</name><memory>1</memory></domain>");
        g_autofree char *inactive = domain_def_format(def, -1, DOMAIN_XML_SECURE);
        g_autofree char *live = domain_def_format(def, 3, DOMAIN_XML_SECURE);
        g_autofree char *zero = domain_def_format(def, 0, 0);
        g_autoptr(DomainDef) reparsed = NULL;
        g_autofree char *first_line = NULL;

        assert_not_contains(def->xml, "id=");
        assert_not_contains(inactive, "id=");
        first_line = g_strndup(live, strcspn(live, "\n"));
        assert_string_equal(first_line, "<domain type=\"test\" id=\"3\">");
        assert_contains(zero, " id=\"0\"");
        assert_int_equal(count_occurrences(live, "id=\""), 1);

        /* live XML fed back in drops the id again */
        reparsed = parse_ok(live);
        assert_not_contains(reparsed->xml, "id=");
        assert_string_equal(reparsed->xml, def->xml);
}

static void test_copy(void **state) {
        g_autoptr(DomainDef) def = parse_sample("kvm-full.xml");
        g_autoptr(DomainDef) copy = domain_def_copy(def);

        assert_non_null(copy);
        assert_ptr_not_equal(copy->name, def->name);
        assert_ptr_not_equal(copy->xml, def->xml);
        assert_ptr_not_equal(copy->disk_sources, def->disk_sources);
        assert_string_equal(copy->name, def->name);
        assert_string_equal(copy->uuid, def->uuid);
        assert_string_equal(copy->type, def->type);
        assert_string_equal(copy->os_type, def->os_type);
        assert_string_equal(copy->xml, def->xml);
        assert_int_equal(copy->memory_kib, def->memory_kib);
        assert_int_equal(copy->current_kib, def->current_kib);
        assert_int_equal(copy->vcpus, def->vcpus);
        assert_int_equal(copy->on_poweroff, def->on_poweroff);
        assert_int_equal(copy->on_reboot, def->on_reboot);
        assert_int_equal(copy->on_crash, def->on_crash);
        assert_true(g_strv_equal((const char *const *) copy->disk_sources,
                                 (const char *const *) def->disk_sources));
        assert_null(domain_def_copy(NULL));
        domain_def_free(NULL);
}

/* ---- hostile input ---------------------------------------------------------------------- */

/* Runs `f(arg)` with stderr redirected and returns what it wrote there. */
static char *capture_stderr(void (*f)(const char *arg), const char *arg) {
        g_autofree char *path = NULL;
        char *contents = NULL;
        int fd, saved;

        fd = g_file_open_tmp("test-domain-xml-XXXXXX", &path, NULL);
        assert_true(fd >= 0);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);

        f(arg);

        fflush(stderr);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        close(fd);
        assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        unlink(path);
        return contents;
}

static void parse_expect_failure(const char *xml) {
        g_autoptr(GError) error = NULL;
        g_autoptr(DomainDef) def = domain_def_parse(xml, &error);
        g_autoptr(GError) snap_error = NULL;
        g_autoptr(SnapshotRequest) snap = snapshot_request_parse(xml, &snap_error);

        assert_null(def);
        assert_non_null(error);
        assert_null(snap);
        assert_non_null(snap_error);
}

static void test_doctype_refused(void **state) {
        static const char *const docs[] = {
                /* XXE: a file */
                "<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
                "<domain type='test'><name>&xxe;</name><memory>1</memory></domain>",
                /* XXE: the network */
                "<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'http://127.0.0.1:9/x'>]>"
                "<domain type='test'><name>&xxe;</name><memory>1</memory></domain>",
                /* external DTD */
                "<!DOCTYPE domain SYSTEM 'file:///etc/passwd'>"
                "<domain type='test'><name>x</name><memory>1</memory></domain>",
                /* entity expansion bomb */
                "<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
                "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
                "<domain type='test'><name>&d;</name><memory>1</memory></domain>",
                /* a harmless one is refused all the same */
                "<!DOCTYPE domain><domain type='test'><name>x</name><memory>1</memory></domain>",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(docs); i++) {
                g_autofree char *out = NULL;

                check_invalid(docs[i], "<!DOCTYPE>: not allowed");
                out = capture_stderr(parse_expect_failure, docs[i]);
                assert_string_equal(out, "");
        }

        /* an entity reference without a DOCTYPE is simply malformed */
        check_invalid("<domain type='test'><name>&xxe;</name><memory>1</memory></domain>", "malformed XML");
}

static void test_malformed_quiet(void **state) {
        static const char *const docs[] = {
                "<domain type='test'><name>x</domain>",
                "<domain type='test'><name>x</name><memory>1</memory></domain><extra/>",
                "<domain type='test' type='kvm'><name>x</name></domain>",
                "<domain type='test'><name>\xff\xfe</name></domain>",
                "<domain type='test'><x:name>x</x:name></domain>",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(docs); i++) {
                g_autofree char *out = capture_stderr(parse_expect_failure, docs[i]);

                assert_string_equal(out, "");
                check_invalid(docs[i], "malformed XML: line 1: ");
        }
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static void check_snapshot_invalid(const char *xml, const char *expected) {
        g_autoptr(GError) error = NULL;
        g_autoptr(SnapshotRequest) r = snapshot_request_parse(xml, &error);

        if (r)
                fail_msg("accepted, expected '%s'\nXML: %s", expected, xml);
        assert_true(g_error_matches(error, DOMAIN_XML_ERROR, DOMAIN_XML_ERROR_INVALID));
        if (!strstr(error->message, expected))
                fail_msg("message '%s' lacks '%s'", error->message, expected);
}

static void test_snapshot_request(void **state) {
        g_autoptr(GError) error = NULL;
        g_autoptr(SnapshotRequest) full = NULL;
        g_autoptr(SnapshotRequest) empty = NULL;
        g_autoptr(SnapshotRequest) only_desc = NULL;

        full = snapshot_request_parse("<domainsnapshot>"
                                      "<name>before-upgrade</name>"
                                      "<description>state as of Monday</description>"
                                      "<memory snapshot='internal'/>"
                                      "<disks><disk name='vda' snapshot='internal'/></disks>"
                                      "<state>running</state><creationTime>1700000000</creationTime>"
                                      "<parent><name>older</name></parent>"
                                      "<domain type='test'><name>dom</name></domain>"
                                      "<inactiveDomain/><cookie><x/></cookie><future/>"
                                      "</domainsnapshot>",
                                      &error);
        assert_null(error);
        assert_non_null(full);
        assert_string_equal(full->name, "before-upgrade");
        assert_string_equal(full->description, "state as of Monday");

        empty = snapshot_request_parse("<domainsnapshot/>", &error);
        assert_null(error);
        assert_non_null(empty);
        assert_null(empty->name);
        assert_null(empty->description);

        only_desc = snapshot_request_parse("<domainsnapshot>\n  <description></description>\n</domainsnapshot>",
                                           &error);
        assert_null(error);
        assert_null(only_desc->name);
        assert_string_equal(only_desc->description, "");

        check_snapshot_invalid("<domainsnapshot><name>a/b</name></domainsnapshot>",
                               "<domainsnapshot><name>: 'a/b' must not contain '/'");
        check_snapshot_invalid("<domainsnapshot><name></name></domainsnapshot>",
                               "<domainsnapshot><name>: must not be empty");
        check_snapshot_invalid("<domainsnapshot><name>-x</name></domainsnapshot>", "must not start with '-'");
        check_snapshot_invalid("<domainsnapshot><name>a</name><name>b</name></domainsnapshot>",
                               "<domainsnapshot>: more than one <name>");
        check_snapshot_invalid("<snapshot><name>s</name></snapshot>",
                               "<domainsnapshot>: expected as root element, found <snapshot>");
        check_snapshot_invalid("<domain type='test'><name>s</name><memory>1</memory></domain>",
                               "found <domain>");
        check_snapshot_invalid("<domainsnapshot><name>s</name>", "malformed XML");
        check_snapshot_invalid("<!DOCTYPE domainsnapshot [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                               "<domainsnapshot><name>&x;</name></domainsnapshot>",
                               "<!DOCTYPE>: not allowed");
        check_snapshot_invalid("<domainsnapshot><memory snapshot='sometimes'/></domainsnapshot>",
                               "<domainsnapshot><memory snapshot>: 'sometimes' is not one of no, internal, external, manual");
        check_snapshot_invalid("<domainsnapshot><disks><disk snapshot='no'/></disks></domainsnapshot>",
                               "<domainsnapshot><disks><disk>: missing name attribute");
        check_snapshot_invalid("<domainsnapshot><disks><disk name='vda' snapshot='yes'/></disks></domainsnapshot>",
                               "<domainsnapshot><disks><disk snapshot>: 'yes' is not one of");
        check_snapshot_invalid("<domainsnapshot><memory/><memory/></domainsnapshot>",
                               "<domainsnapshot>: more than one <memory>");
        check_snapshot_invalid("", "empty XML document");
        snapshot_request_free(NULL);
}

/* ---- parse_scaled_size -------------------------------------------------------------------- */

static void test_parse_scaled_size(void **state) {
        static const struct {
                const char *value, *unit;
                uint64_t dflt;
                bool ok;
                uint64_t bytes;
        } cases[] = {
                { "1", NULL, 1024, true, 1024 },
                { "1", "", 1, true, 1 },
                { "3", NULL, 0, false, 0 },           /* no default unit */
                { "5", "b", 1024, true, 5 },
                { "5", "B", 1024, true, 5 },
                { "5", "byte", 1024, true, 5 },
                { "5", "bytes", 1024, true, 5 },
                { "5", "Bytes", 1024, true, 5 },
                { "1", "k", 1, true, 1024 },
                { "1", "K", 1, true, 1024 },
                { "1", "KiB", 1, true, 1024 },
                { "1", "kib", 1, true, 1024 },
                { "1", "KIB", 1, true, 1024 },
                { "1", "KB", 1, true, 1000 },
                { "1", "kB", 1, true, 1000 },
                { "1", "kb", 1, true, 1000 },
                { "1", "M", 1, true, UINT64_C(1) << 20 },
                { "1", "MiB", 1, true, UINT64_C(1) << 20 },
                { "1", "MB", 1, true, 1000000 },
                { "1", "G", 1, true, UINT64_C(1) << 30 },
                { "1", "GiB", 1, true, UINT64_C(1) << 30 },
                { "1", "GB", 1, true, 1000000000 },
                { "1", "T", 1, true, UINT64_C(1) << 40 },
                { "1", "TiB", 1, true, UINT64_C(1) << 40 },
                { "1", "TB", 1, true, UINT64_C(1000000000000) },
                { "1", "P", 1, true, UINT64_C(1) << 50 },
                { "1", "PiB", 1, true, UINT64_C(1) << 50 },
                { "1", "PB", 1, true, UINT64_C(1000000000000000) },
                { "1", "E", 1, true, UINT64_C(1) << 60 },
                { "1", "EiB", 1, true, UINT64_C(1) << 60 },
                { "1", "EB", 1, true, UINT64_C(1000000000000000000) },
                { "0", "EiB", 1, true, 0 },
                { " 42\n", "b", 1, true, 42 },
                /* unknown units */
                { "1", "x", 1, false, 0 },
                { "1", "Z", 1, false, 0 },
                { "1", "ZiB", 1, false, 0 },
                { "1", "Ki", 1, false, 0 },
                { "1", "KiBs", 1, false, 0 },
                { "1", "KBB", 1, false, 0 },
                { "1", "iB", 1, false, 0 },
                { "1", " KiB", 1, false, 0 },
                { "1", "bit", 1, false, 0 },
                /* overflow at the edges */
                { "15", "EiB", 1, true, UINT64_C(15) << 60 },
                { "16", "EiB", 1, false, 0 },
                { "18", "EB", 1, true, UINT64_C(18000000000000000000) },
                { "19", "EB", 1, false, 0 },
                { "18446744073709551615", "b", 1, true, UINT64_MAX },
                { "18446744073709551616", "b", 1, false, 0 },
                { "99999999999999999999999", NULL, 1, false, 0 },
                { "18446744073709551615", "k", 1, false, 0 },
                { "18014398509481983", "KiB", 1, true, UINT64_C(18014398509481983) * 1024 },
                { "18014398509481984", "KiB", 1, false, 0 },
                { "18014398509481984", NULL, 1024, false, 0 },
                { "18446744073709551", "KB", 1, true, UINT64_C(18446744073709551000) },
                { "18446744073709552", "KB", 1, false, 0 },
                /* not numbers */
                { "", NULL, 1, false, 0 },
                { " ", NULL, 1, false, 0 },
                { "-1", NULL, 1, false, 0 },
                { "+1", NULL, 1, false, 0 },
                { "1.5", "GiB", 1, false, 0 },
                { "0x10", NULL, 1, false, 0 },
                { "1 2", NULL, 1, false, 0 },
                { "1GiB", NULL, 1, false, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                uint64_t bytes = 0xdeadbeef;
                bool ok = parse_scaled_size(cases[i].value, cases[i].unit, cases[i].dflt, &bytes);

                if (ok != cases[i].ok)
                        fail_msg("'%s' '%s': %s, expected %s", cases[i].value, cases[i].unit ?: "(null)",
                                 ok ? "accepted" : "refused", cases[i].ok ? "accepted" : "refused");
                if (ok && bytes != cases[i].bytes)
                        fail_msg("'%s' '%s': %" G_GUINT64_FORMAT " bytes, expected %" G_GUINT64_FORMAT,
                                 cases[i].value, cases[i].unit ?: "(null)", bytes, cases[i].bytes);
                if (!ok)
                        assert_int_equal(bytes, 0xdeadbeef); /* untouched on failure */
        }

        assert_false(parse_scaled_size(NULL, "KiB", 1, &(uint64_t) { 0 }));
}

/* ---- the samples ---------------------------------------------------------------------------- */

static void test_kvm_full(void **state) {
        g_autoptr(DomainDef) def = parse_sample("kvm-full.xml");
        static const char *const sources[] = {
                "/var/lib/domaind/images/kvm-full.qcow2",
                "/dev/vg0/kvm-full-data",
                "/var/lib/domaind/images/install.iso",
                "/dev/sdz",
                NULL,
        };
        g_autofree char *plain = domain_def_format(def, -1, 0);

        assert_string_equal(def->name, "kvm-full");
        assert_string_equal(def->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
        assert_string_equal(def->type, "kvm");
        assert_int_equal(def->memory_kib, 2097152);
        assert_int_equal(def->current_kib, 1572864);
        assert_int_equal(def->vcpus, 4);
        assert_string_equal(def->os_type, "hvm");
        assert_int_equal(def->on_poweroff, LIFECYCLE_PRESERVE);
        assert_int_equal(def->on_reboot, LIFECYCLE_RENAME_RESTART);
        assert_int_equal(def->on_crash, LIFECYCLE_COREDUMP_RESTART);
        assert_non_null(def->disk_sources);
        assert_true(g_strv_equal((const char *const *) def->disk_sources, sources));

        /* the XML: normalized where domaind owns it, verbatim elsewhere */
        assert_true(g_str_has_prefix(def->xml, "<domain xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\" "
                                               "type=\"kvm\">\n"));
        assert_not_contains(def->xml, "id=\"7\"");
        assert_contains(def->xml, "<uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>");
        assert_contains(def->xml, "<memory unit=\"KiB\" dumpCore=\"off\">2097152</memory>");
        assert_contains(def->xml, "<currentMemory unit=\"KiB\">1572864</currentMemory>");
        assert_contains(def->xml, "<vcpu placement=\"static\" current=\"2\">4</vcpu>");
        assert_contains(def->xml, "<type arch=\"x86_64\" machine=\"pc-q35-7.2\">hvm</type>");
        assert_contains(def->xml, "<cmdline>console=ttyS0 root=/dev/vda1</cmdline>");
        assert_contains(def->xml, "<boot dev=\"fd\"/>");
        assert_contains(def->xml, "<cpu mode=\"host-passthrough\" check=\"none\"/>");
        assert_contains(def->xml, "<timer name=\"rtc\" tickpolicy=\"catchup\"/>");
        assert_contains(def->xml, "<on_crash>coredump-restart</on_crash>");
        assert_contains(def->xml, "<app:info xmlns:app=\"urn:example:app\" owner=\"qa\"/>");
        assert_contains(def->xml, "<!-- exercises every element domaind interprets, plus some it does not -->");
        assert_contains(def->xml, "<qemu:arg value=\"-no-user-config\"/>");
        assert_contains(def->xml, "<mac address=\"52:54:00:12:34:56\"/>");
        assert_contains(def->xml, "<mac address=\"52:54:00:ab:cd:ef\"/>");
        assert_matches("<interface type=\"bridge\">\\s*<mac address=\"52:54:00:[0-9a-f:]{8}\"/>\\s*"
                       "<source bridge=\"br0\"/>", def->xml);
        assert_contains(def->xml, "<memballoon model=\"virtio\"/>");
        assert_contains(def->xml, "passwd=\"s3cret\"");
        assert_not_contains(plain, "s3cret");
        assert_int_equal(count_occurrences(def->xml, "<on_poweroff>"), 1);
        assert_int_equal(count_occurrences(def->xml, "<disk "), 5);
        assert_int_equal(count_occurrences(def->xml, "<readonly/>"), 2);
}

static void test_test_full(void **state) {
        g_autoptr(DomainDef) def = parse_sample("test-full.xml");

        assert_string_equal(def->name, "test-full");
        assert_string_equal(def->uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f");
        assert_string_equal(def->type, "test");
        assert_int_equal(def->memory_kib, 8388608);
        assert_int_equal(def->current_kib, 2097152);
        assert_int_equal(def->vcpus, 2);
        assert_string_equal(def->os_type, "hvm");
        assert_int_equal(def->on_crash, LIFECYCLE_RESTART);
        assert_int_equal(g_strv_length(def->disk_sources), 1);
        assert_string_equal(def->disk_sources[0], "/guest/diskimage1");
        assert_contains(def->xml, "<mac address=\"aa:bb:cc:dd:ee:ff\"/>");
}

static void test_xen_pv_pygrub(void **state) {
        g_autoptr(DomainDef) def = parse_sample("xen-pv-pygrub.xml");

        assert_string_equal(def->name, "xen-pv-pygrub");
        assert_string_equal(def->type, "xen");
        assert_string_equal(def->os_type, "linux");
        assert_int_equal(def->memory_kib, 524288);
        assert_int_equal(def->current_kib, 524288);
        assert_int_equal(def->vcpus, 1);
        assert_int_equal(def->on_crash, LIFECYCLE_PRESERVE);
        assert_int_equal(g_strv_length(def->disk_sources), 1);
        assert_string_equal(def->disk_sources[0], "/var/lib/domaind/images/xen-pv-pygrub.img");
        assert_contains(def->xml, "<bootloader>/usr/lib/xen-4.17/bin/pygrub</bootloader>");
        assert_contains(def->xml, "<bootloader_args>-q</bootloader_args>");
        assert_contains(def->xml, "<target dev=\"xvda\" bus=\"xen\"/>");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_round_trip_unknown),
                cmocka_unit_test(test_samples_fixed_point),
                cmocka_unit_test(test_utf8_kept),
                cmocka_unit_test(test_uuid_generation),
                cmocka_unit_test(test_uuid_normalization),
                cmocka_unit_test(test_memory_units),
                cmocka_unit_test(test_current_memory),
                cmocka_unit_test(test_vcpu),
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_validation_errors),
                cmocka_unit_test(test_error_message_quoting),
                cmocka_unit_test(test_mac_generation),
                cmocka_unit_test(test_mac_normalization),
                cmocka_unit_test(test_disks),
                cmocka_unit_test(test_secure_passwd),
                cmocka_unit_test(test_id_attribute),
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_doctype_refused),
                cmocka_unit_test(test_malformed_quiet),
                cmocka_unit_test(test_snapshot_request),
                cmocka_unit_test(test_parse_scaled_size),
                cmocka_unit_test(test_kvm_full),
                cmocka_unit_test(test_test_full),
                cmocka_unit_test(test_xen_pv_pygrub),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
