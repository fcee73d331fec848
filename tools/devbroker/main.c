/* hutch-devbroker: a Kafka broker for fast component tests and machines without
 * Java, built on librdkafka's mock cluster (rdkafka_mock.h). It speaks the Kafka
 * protocol on loopback (consumer groups and idempotent producers included) but keeps
 * at most ~5 MB / 100k message sets per partition and nothing across restarts.
 *
 * Usage: hutch-devbroker [--partitions N] [--brokers N]
 *   Prints its bootstrap address ("127.0.0.1:PORT[,...]") as the first line of
 *   stdout, creates every Hutch topic (common/topics.h) with N partitions (default 8),
 *   then runs until SIGTERM or SIGINT. Diagnostics go to stderr.
 *
 * The mock cluster lives inside a producer handle (rd_kafka_mock_cluster_new needs
 * one); the handle is never used to produce. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/topics.h"

static volatile sig_atomic_t devbroker_stop;

static void devbroker_on_signal(int sig)
{
    (void)sig;
    devbroker_stop = 1;
}

static int devbroker_parse_int(const char *s, int min, int max, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = (int)v;
    return 0;
}

static void devbroker_usage(FILE *f)
{
    fprintf(f, "usage: hutch-devbroker [--partitions N] [--brokers N]\n"
               "  Kafka mock cluster on loopback (librdkafka); prints the bootstrap address\n"
               "  on stdout line 1, creates the Hutch topics, runs until SIGTERM.\n");
}

int main(int argc, char **argv)
{
    int partitions = 8, brokers = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            devbroker_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            if (devbroker_parse_int(argv[++i], 1, 1024, &partitions) != 0) {
                fprintf(stderr, "hutch-devbroker: bad --partitions '%s'\n", argv[i]);
                return 64;
            }
        } else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            if (devbroker_parse_int(argv[++i], 1, 16, &brokers) != 0) {
                fprintf(stderr, "hutch-devbroker: bad --brokers '%s'\n", argv[i]);
                return 64;
            }
        } else {
            devbroker_usage(stderr);
            return 64;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = devbroker_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* No real bootstrap: the handle only hosts the mock cluster. */
    if (rd_kafka_conf_set(conf, "client.id", "hutch-devbroker", errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "hutch-devbroker: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "hutch-devbroker: rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "hutch-devbroker: could not create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    int ntopics = 0;
    for (; hutch_topics[ntopics]; ntopics++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, hutch_topics[ntopics], partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            fprintf(stderr, "hutch-devbroker: topic %s: %s\n", hutch_topics[ntopics], rd_kafka_err2str(err));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    fprintf(stderr, "hutch-devbroker: %s, %d topics x %d partitions, pid %ld\n", rd_kafka_mock_cluster_bootstraps(mc),
            ntopics, partitions, (long)getpid());

    while (!devbroker_stop) rd_kafka_poll(rk, 200);

    fprintf(stderr, "hutch-devbroker: stopping\n");
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
