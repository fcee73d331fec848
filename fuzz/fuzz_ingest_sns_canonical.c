/* libFuzzer target: the SNS canonical-string builder (sns_canonical_string) on any
 * JSON object.
 *
 * Checked: a built string is exactly the "Key\nvalue\n" pairs of its type, in
 * order, ending with the Type pair, and its length is the sum of the parts (values
 * may hold newlines: the format does not escape them, as SNS does not). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingest/sns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *m = json_loadb((const char *)data, size, 0, NULL);
    if (!m) return 0;
    char err[256];
    char *c = sns_canonical_string(m, err, sizeof err);
    if (c) {
        const char *type = json_string_value(json_object_get(m, "Type"));
        if (!type) __builtin_trap();
        size_t tl = strlen(type), cl = strlen(c);
        if (cl < tl + 6 || memcmp(c + cl - tl - 1, type, tl) != 0 || memcmp(c + cl - tl - 6, "Type\n", 5) != 0)
            __builtin_trap();
        size_t want = 0;
        const char *keys[] = {"Message", "MessageId", "Subject", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"};
        bool notif = strcmp(type, "Notification") == 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const json_t *v = json_object_get(m, keys[i]);
            bool in = notif ? strcmp(keys[i], "SubscribeURL") && strcmp(keys[i], "Token")
                            : strcmp(keys[i], "Subject") != 0;
            if (in && json_is_string(v)) want += strlen(keys[i]) + json_string_length(v) + 2;
        }
        if (want != cl) __builtin_trap();
        free(c);
    }
    json_decref(m);
    return 0;
}
