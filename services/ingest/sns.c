/* AWS SNS signature verification (see sns.h for the steps and their order).
 *
 * The certificate cache maps SigningCertURL to the public key of the certificate
 * found there; SNS signs with few certificates, rotated rarely, so a small cache
 * holds them all and a miss is rare. A URL is only ever fetched after it passed the
 * host pattern. The canonical string is built from jansson's parse of the body:
 * the unescaped field values, as SNS signs them. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "services/ingest/sns.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/ids.h"

typedef struct {
    char *url;
    EVP_PKEY *key;
    int64_t used_ms;
} cert_entry;

struct sns_verifier {
    pcre2_code *hosts;
    char *topics;
    char *ca_file;
    bool auto_confirm;
    fetch_options fo;
    pthread_mutex_t lock;
    cert_entry certs[SNS_CERT_CACHE];
};

sns_verifier *sns_verifier_new(const sns_options *o, char *err, size_t errlen)
{
    sns_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&v->lock, NULL);
    int ec;
    PCRE2_SIZE off;
    const char *pat = o->cert_hosts && *o->cert_hosts ? o->cert_hosts : SNS_DEFAULT_CERT_HOSTS;
    v->hosts = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
    if (!v->hosts) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "certificate host pattern: %s at offset %zu", (char *)msg, (size_t)off);
        sns_verifier_free(v);
        return NULL;
    }
    v->topics = strdup(o->topics ? o->topics : "");
    v->ca_file = o->fetch.ca_file ? strdup(o->fetch.ca_file) : NULL;
    v->fo = o->fetch;
    v->fo.ca_file = v->ca_file;
    v->auto_confirm = o->auto_confirm;
    if (!v->topics || (o->fetch.ca_file && !v->ca_file)) {
        snprintf(err, errlen, "out of memory");
        sns_verifier_free(v);
        return NULL;
    }
    return v;
}

void sns_verifier_free(sns_verifier *v)
{
    if (!v)
        return;
    for (int i = 0; i < SNS_CERT_CACHE; i++) {
        free(v->certs[i].url);
        EVP_PKEY_free(v->certs[i].key);
    }
    pcre2_code_free(v->hosts);
    free(v->topics);
    free(v->ca_file);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

static const char *const notification_fields[] = {"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type", NULL};
static const char *const confirmation_fields[] = {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                                  "TopicArn", "Type", NULL};

char *sns_canonical_string(const json_t *msg, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(msg, "Type"));
    const char *const *fields;
    if (type && strcmp(type, "Notification") == 0)
        fields = notification_fields;
    else if (type && (strcmp(type, "SubscriptionConfirmation") == 0 || strcmp(type, "UnsubscribeConfirmation") == 0))
        fields = confirmation_fields;
    else {
        snprintf(err, errlen, "unsupported SNS message type");
        return NULL;
    }
    size_t total = 1;
    for (int i = 0; fields[i]; i++) {
        const json_t *f = json_object_get(msg, fields[i]);
        bool optional = strcmp(fields[i], "Subject") == 0;
        if ((!f || json_is_null(f)) && optional)
            continue;
        if (!json_is_string(f)) {
            snprintf(err, errlen, "SNS %s without a \"%s\" string", type, fields[i]);
            return NULL;
        }
        total += strlen(fields[i]) + json_string_length(f) + 2;
    }
    char *out = malloc(total);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; fields[i]; i++) {
        const json_t *f = json_object_get(msg, fields[i]);
        if (!json_is_string(f))
            continue; /* the optional Subject */
        size_t kl = strlen(fields[i]), vl = json_string_length(f);
        memcpy(out + n, fields[i], kl);
        n += kl;
        out[n++] = '\n';
        memcpy(out + n, json_string_value(f), vl);
        n += vl;
        out[n++] = '\n';
    }
    out[n] = '\0';
    return out;
}

bool sns_url_allowed(const sns_verifier *v, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = false;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || strcmp(scheme, "https") != 0)
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    char authority[300];
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
        snprintf(authority, sizeof authority, "%s:%s", host, port);
    else
        snprintf(authority, sizeof authority, "%s", host);
    /* user:password@ in the URL would be sent to the host: an SNS URL never has it */
    char *user = NULL;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
        curl_free(user);
        goto out;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(v->hosts, NULL);
    ok = md && pcre2_match(v->hosts, (PCRE2_SPTR)authority, strlen(authority), 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static EVP_PKEY *key_from_pem(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = x ? X509_get_pubkey(x) : NULL;
    X509_free(x);
    BIO_free(b);
    return k;
}

/* A NEW reference to the key of the certificate at url (cached), or NULL with err. */
static EVP_PKEY *cert_key(sns_verifier *v, const char *url, char *err, size_t errlen)
{
    pthread_mutex_lock(&v->lock);
    int64_t now = ids_now_ms();
    EVP_PKEY *k = NULL;
    int slot = 0;
    for (int i = 0; i < SNS_CERT_CACHE; i++) {
        if (v->certs[i].url && strcmp(v->certs[i].url, url) == 0) {
            v->certs[i].used_ms = now;
            k = v->certs[i].key;
            break;
        }
        if (!v->certs[i].url || (v->certs[slot].url && v->certs[i].used_ms < v->certs[slot].used_ms))
            slot = i;
    }
    if (!k) {
        char *pem = NULL;
        size_t len = 0;
        char ferr[256];
        if (fetch_get(url, &v->fo, &pem, &len, ferr, sizeof ferr) != 0) {
            snprintf(err, errlen, "signing certificate not fetched: %s", ferr);
        } else if (!(k = key_from_pem(pem, len))) {
            snprintf(err, errlen, "signing certificate is not a PEM certificate");
        } else {
            char *copy = strdup(url);
            if (copy) {
                free(v->certs[slot].url);
                EVP_PKEY_free(v->certs[slot].key);
                v->certs[slot] = (cert_entry){copy, k, now};
            } else {
                EVP_PKEY_free(k);
                k = NULL;
                snprintf(err, errlen, "out of memory");
            }
        }
        free(pem);
    }
    if (k && EVP_PKEY_up_ref(k) != 1)
        k = NULL;
    pthread_mutex_unlock(&v->lock);
    return k;
}

static int verify_signature(EVP_PKEY *key, const EVP_MD *md, const char *text, const unsigned char *sig,
                            size_t sig_len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(c, sig, sig_len, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

/* Standard base64 (SNS signatures), whitespace not allowed. NEW or NULL. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n == 0 || n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    *out_len = (size_t)got - pad;
    return out;
}

sns_status sns_verify(sns_verifier *v, const char *body, size_t len, json_t **msg, char *err, size_t errlen)
{
    *msg = NULL;
    json_t *m = json_loadb(body, len, 0, NULL);
    if (!json_is_object(m)) {
        snprintf(err, errlen, "not an SNS message (want a JSON object)");
        json_decref(m);
        return SNS_UNVERIFIED;
    }
    sns_status st = SNS_UNVERIFIED;
    char *canon = NULL;
    unsigned char *sig = NULL;
    EVP_PKEY *key = NULL;
    if (!(canon = sns_canonical_string(m, err, errlen)))
        goto out;
    const char *version = json_string_value(json_object_get(m, "SignatureVersion"));
    const EVP_MD *md = NULL;
    if (version && strcmp(version, "1") == 0)
        md = EVP_sha1();
    else if (version && strcmp(version, "2") == 0)
        md = EVP_sha256();
    else {
        snprintf(err, errlen, "unsupported SignatureVersion (want 1 or 2)");
        goto out;
    }
    const char *url = json_string_value(json_object_get(m, "SigningCertURL"));
    if (!url || !sns_url_allowed(v, url)) {
        snprintf(err, errlen, "SigningCertURL is not an allowed SNS certificate host");
        goto out;
    }
    const json_t *sj = json_object_get(m, "Signature");
    size_t sig_len = 0;
    if (!json_is_string(sj) || !(sig = b64_decode(json_string_value(sj), json_string_length(sj), &sig_len))) {
        snprintf(err, errlen, "Signature is not base64");
        goto out;
    }
    if (!(key = cert_key(v, url, err, errlen)))
        goto out;
    if (verify_signature(key, md, canon, sig, sig_len) != 0) {
        snprintf(err, errlen, "SNS signature does not verify");
        goto out;
    }
    const char *topic = json_string_value(json_object_get(m, "TopicArn"));
    if (!config_list_has(v->topics, topic)) {
        snprintf(err, errlen, "TopicArn not allowed (HUTCH_INGEST_SNS_TOPICS)");
        st = SNS_FORBIDDEN;
        goto out;
    }
    st = SNS_OK;
    *msg = json_incref(m);
out:
    EVP_PKEY_free(key);
    free(sig);
    free(canon);
    json_decref(m);
    return st;
}

int sns_confirm(sns_verifier *v, const json_t *msg, char *err, size_t errlen)
{
    const char *type = json_string_value(json_object_get(msg, "Type"));
    if (!type || strcmp(type, "SubscriptionConfirmation") != 0 || !v->auto_confirm)
        return 0;
    const char *url = json_string_value(json_object_get(msg, "SubscribeURL"));
    if (!url || !sns_url_allowed(v, url)) {
        snprintf(err, errlen, "SubscribeURL is not an allowed SNS host");
        return -1;
    }
    char *body = NULL;
    size_t len = 0;
    char ferr[256];
    if (fetch_get(url, &v->fo, &body, &len, ferr, sizeof ferr) != 0) {
        snprintf(err, errlen, "confirmation GET failed: %s", ferr);
        return -1;
    }
    free(body);
    return 1;
}
