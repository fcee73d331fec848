/* Unit tests for shape.c: a table of masking cases (each volatile token kind, what must
 * stay, precedence, whitespace, cuts, invalid UTF-8), the layout of an alert's shape text,
 * and its hash (stable, order-independent attributes, alerts of one kind alike). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/shape.h"

static const struct {
    const char *in, *want;
} cases[] = {
    /* addresses and ports */
    {"connection from 198.51.100.7 refused", "connection from <ipv4> refused"},
    {"probe on 10.0.0.12:22/tcp", "probe on <ipv4>:<port>/tcp"},
    {"net 10.1.0.0/16", "net <ipv4>/<num>"},
    {"Failed password for root from 203.0.113.45.", "Failed password for root from <ipv4>."},
    {"999.1.1.1 is no address", "<num> is no address"},
    {"v6 2001:db8::1 and ::1", "v6 <ipv6> and <ipv6>"},
    {"fe80::1ff:fe23:4567:890a%eth0", "<ipv6>%eth0"},
    {"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "<ipv6>"},
    {"::ffff:192.0.2.1 mapped", "<ipv6> mapped"},
    /* times */
    {"at 2026-01-01T00:00:00Z", "at <time>"},
    {"at 2026-01-01T12:34:56.789+09:00 then", "at <time> then"},
    {"on 2026-02-03 12:00", "on <time>"},
    {"Dec  2 02:55:02 host sshd[1234]:", "Dec <num> <time> host sshd[<num>]:"},
    /* ids */
    {"instance i-0abc123def4567890 stopped", "instance i-<hex> stopped"},
    {"finding 7ab9c1d2e3f4a5b6c7d8e9f0a1b2c3d4", "finding <hex>"},
    {"id 0x7fff5fbff8c8", "id <hex>"},
    {"req 123e4567-e89b-12d3-a456-426614174000 done", "req <uuid> done"},
    {"account 123456789012", "account <num>"},
    {"deadbeefcafe stays (no digit)", "deadbeefcafe stays (no digit)"},
    /* numbers, and what stays */
    {"900 probes on 10 hosts", "<num> probes on <num> hosts"},
    {"score 7.5 of 10", "score <num> of <num>"},
    {"EC2 ec2 log4j sha256 v1.2 x86_64", "EC2 ec2 log4j sha256 v1.2 x86_64"},
    {"CVE-2021-44228", "CVE-<num>-<num>"},
    {"ip-10-0-1-5.ec2.internal", "ip-<num>-<num>-<num>-<num>.ec2.internal"},
    {"Recon:EC2/PortProbeUnprotectedPort", "Recon:EC2/PortProbeUnprotectedPort"},
    {"key:value:other", "key:value:other"},
    /* whitespace */
    {"  a \t\n b  ", "a b"},
    {"", ""},
    {"Port  probe\non 10.0.0.1", "Port probe on <ipv4>"},
};

static void test_mask_table(void **state)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = shape_mask(cases[i].in, strlen(cases[i].in), 1000);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("mask(\"%s\") = \"%s\", want \"%s\"", cases[i].in, got, cases[i].want);
        free(got);
    }
}

static void test_mask_cut_and_utf8(void **state)
{
    char *got = shape_mask("héllo wörld 12", strlen("héllo wörld 12"), 2);
    assert_string_equal(got, "h"); /* not in the middle of é */
    free(got);
    got = shape_mask("abc\xff 1", 6, 100);
    assert_string_equal(got, "abc? <num>");
    free(got);
    got = shape_mask("10.0.0.1 tail", 13, 7); /* the cut is after masking */
    assert_string_equal(got, "<ipv4>");
    free(got);
}

static Hutch__V1__Attribute *attr(const char *k, const char *v)
{
    Hutch__V1__Attribute *a = malloc(sizeof *a);
    hutch__v1__attribute__init(a);
    a->key = (char *)k;
    a->value = (char *)v;
    return a;
}

static void probe(Hutch__V1__Alert *a, const char *ip, const char *port, const char *host, int reverse)
{
    static Hutch__V1__Attribute *attrs[3];
    hutch__v1__alert__init(a);
    a->schema = "guardduty";
    a->title = "Unprotected port on EC2 instance is being probed";
    a->description = (char *)host;
    Hutch__V1__Attribute *x = attr("remote_ip", ip), *y = attr("port", port),
                         *z = attr("instance", "i-0abc123def4567890");
    attrs[0] = reverse ? z : x;
    attrs[1] = y;
    attrs[2] = reverse ? x : z;
    a->attributes = attrs;
    a->n_attributes = 3;
}

static void free_attrs(Hutch__V1__Alert *a)
{
    for (size_t i = 0; i < a->n_attributes; i++)
        free(a->attributes[i]);
}

static void test_alert_shape(void **state)
{
    Hutch__V1__Alert a;
    probe(&a, "198.51.100.7", "22", "EC2 instance i-0abc123def4567890 is being probed on port 22 from 198.51.100.7.",
          0);
    char *s = shape_text(&a);
    assert_string_equal(s, "schema: guardduty\n"
                           "title: Unprotected port on EC2 instance is being probed\n"
                           "description: EC2 instance i-<hex> is being probed on port <num> from <ipv4>.\n"
                           "instance: i-<hex>\n"
                           "port: <num>\n"
                           "remote_ip: <ipv4>\n");
    char h1[SHAPE_HASH_LEN], h2[SHAPE_HASH_LEN];
    assert_int_equal(shape_hash(s, h1), 0);
    assert_int_equal(strlen(h1), 64);
    free_attrs(&a);
    /* another probe: other address, port, order of attributes: the same shape */
    probe(&a, "203.0.113.9", "3389", "EC2 instance i-0fff000aaa111bbb2 is being probed on port 3389 from 203.0.113.9.",
          1);
    char *t = shape_text(&a);
    assert_string_equal(s, t);
    assert_int_equal(shape_hash(t, h2), 0);
    assert_string_equal(h1, h2);
    free(t);
    free_attrs(&a);
    /* another kind: another hash */
    probe(&a, "203.0.113.9", "22", "Backup traffic to 10.0.0.5", 0);
    t = shape_text(&a);
    shape_hash(t, h2);
    assert_string_not_equal(h1, h2);
    free(t);
    free_attrs(&a);
    free(s);
    /* an empty alert: empty shape, still a hash */
    hutch__v1__alert__init(&a);
    s = shape_text(&a);
    assert_string_equal(s, "");
    assert_int_equal(shape_hash(s, h1), 0);
    free(s);
}

static void test_hash_is_versioned(void **state)
{
    char h[SHAPE_HASH_LEN];
    shape_hash("", h);
    /* sha256("shape-v1\n"): changes with SHAPE_VERSION, never silently */
    assert_string_equal(h, "3780a6b5af74aecf64e7f10c5711daa080054daf987a030960704c5f13ee9d49");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_table),
        cmocka_unit_test(test_mask_cut_and_utf8),
        cmocka_unit_test(test_alert_shape),
        cmocka_unit_test(test_hash_is_versioned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
