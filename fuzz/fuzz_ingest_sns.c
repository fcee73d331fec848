/* libFuzzer target: the SNS delivery path without the network: ingest_decode
 * (INGEST_KIND_SNS) and sns_verify with a certificate-host pattern that matches
 * nothing, so every input runs the parse, the canonical string, the version and URL
 * checks and the signature's base64, and stops before any fetch.
 *
 * Checked: sns_verify never accepts (no certificate can be had), and an accepted
 * decode gives engine-parseable JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rego/value.h"
#include "services/ingest/ingest.h"
#include "services/ingest/sns.h"

static sns_verifier *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    sns_options o = {.cert_hosts = "(?!)", .topics = "arn:aws:sns:us-east-1:1:t"};
    verifier = sns_verifier_new(&o, err, sizeof err);
    return verifier ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *payload = NULL;
    char err[256];
    ingest_status st = ingest_decode(INGEST_KIND_SNS, (const char *)data, size, &payload, err, sizeof err);
    if (st == INGEST_OK) {
        rv *v = rv_from_json_text(payload, strlen(payload), err, sizeof err);
        if (!v) __builtin_trap();
        rv_unref(v);
    }
    free(payload);
    json_t *msg = NULL;
    if (sns_verify(verifier, (const char *)data, size, &msg, err, sizeof err) == SNS_OK || msg) __builtin_trap();
    return 0;
}
