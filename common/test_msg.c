/* Unit tests for msg.c: Meta filling (derived and random ids, trace propagation)
 * and pack/unpack round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/ids.h"
#include "common/msg.h"

static void test_meta(void **state)
{
    msg_meta_buf a, b, c;
    msg_meta_init(&a, "01890a5d-ac96-774b-bcce-b302099a8057", "hutch-policy", 1700000000000, "event-1");
    msg_meta_init(&b, "01890a5d-ac96-774b-bcce-b302099a8057", "hutch-policy", 1700000000000, "event-1");
    assert_string_equal(a.meta.id, b.meta.id);
    assert_ptr_equal(a.meta.id, a.id);
    assert_string_equal(a.meta.trace_id, "01890a5d-ac96-774b-bcce-b302099a8057");
    assert_string_equal(a.meta.producer, "hutch-policy");
    assert_int_equal(a.meta.schema_version, MSG_SCHEMA_VERSION);
    assert_int_equal(a.meta.created_unix_ms, 1700000000000);

    msg_meta_init(&c, NULL, "hutch-ingest", 0, NULL);
    assert_true(ids_is_uuid(c.meta.id));
    assert_true(ids_is_uuid(c.meta.trace_id));
    assert_string_not_equal(c.meta.id, c.meta.trace_id);
    assert_true(c.meta.created_unix_ms > 1700000000000);
}

static void test_roundtrip(void **state)
{
    msg_meta_buf mb;
    msg_meta_init(&mb, NULL, "hutch-policy", 0, "seed");
    Hutch__V1__Alert alert = HUTCH__V1__ALERT__INIT;
    alert.meta = &mb.meta;
    alert.alert_id = "01890a5d-ac96-774b-bcce-b302099a8057";
    alert.title = "Recon:EC2/PortProbeUnprotectedPort";
    alert.payload_json = "{\"a\":1}";
    char *tags[] = {"aws", "guardduty"};
    alert.n_tags = 2;
    alert.tags = tags;
    Hutch__V1__Indicator ind = HUTCH__V1__INDICATOR__INIT;
    ind.type = "ipv4";
    ind.value = "198.51.100.7";
    ind.path = "detail.remoteIp";
    Hutch__V1__Indicator *inds[] = {&ind};
    alert.n_indicators = 1;
    alert.indicators = inds;
    alert.risk_score = 0.5;

    size_t len = 0;
    uint8_t *buf = msg_pack(&alert.base, &len);
    assert_non_null(buf);
    assert_true(len > 0);
    Hutch__V1__Alert *back = hutch__v1__alert__unpack(NULL, len, buf);
    assert_non_null(back);
    assert_string_equal(back->meta->id, mb.id);
    assert_string_equal(back->meta->producer, "hutch-policy");
    assert_string_equal(back->title, alert.title);
    assert_int_equal(back->n_tags, 2);
    assert_string_equal(back->tags[1], "guardduty");
    assert_int_equal(back->n_indicators, 1);
    assert_string_equal(back->indicators[0]->value, "198.51.100.7");
    assert_true(back->risk_score == 0.5);
    hutch__v1__alert__free_unpacked(back, NULL);
    free(buf);
}

static void test_empty_message(void **state)
{
    Hutch__V1__DeadLetter dl = HUTCH__V1__DEAD_LETTER__INIT;
    size_t len = 99;
    uint8_t *buf = msg_pack(&dl.base, &len);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    Hutch__V1__DeadLetter *back = hutch__v1__dead_letter__unpack(NULL, len, buf);
    assert_non_null(back);
    hutch__v1__dead_letter__free_unpacked(back, NULL);
    free(buf);
    assert_null(msg_pack(NULL, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
