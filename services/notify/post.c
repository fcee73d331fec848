/* HTTP POST with libcurl (see post.h). A fresh easy handle per call: notifications
 * are few, and this keeps no connection state across a database or network outage. */
#include "services/notify/post.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int notify_post_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void notify_post_cleanup(void)
{
    curl_global_cleanup();
}

/* Keeps the start of the body, discards the rest (but reads it all). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    notify_post_result *res = ud;
    size_t n = size * nmemb;
    size_t have = strlen(res->body);
    size_t room = sizeof res->body - 1 - have;
    size_t take = n < room ? n : room;
    memcpy(res->body + have, data, take);
    res->body[have + take] = '\0';
    return n;
}

void notify_post_setopt(CURL *curl, const char *url, struct curl_slist *headers, const char *body, long timeout_ms)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hutch-notify");
}

int notify_post_json(const char *url, const char *json_body, long timeout_ms, notify_post_result *res)
{
    memset(res, 0, sizeof *res);
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(res->error, sizeof res->error, "cannot create a curl handle");
        return -1;
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = headers ? curl_slist_append(headers, "Expect:") : NULL; /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = "";
    notify_post_setopt(curl, url, headers, json_body, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode rc = headers ? curl_easy_perform(curl) : CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
        res->answered = res->status > 0;
    }
    if (!res->answered)
        /* curl_easy_strerror, not errbuf: errbuf may quote the host of a secret URL */
        snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc == CURLE_OK ? CURLE_GOT_NOTHING : rc));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return res->answered ? 0 : -1;
}
