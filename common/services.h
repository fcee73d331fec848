/* The services of the pipeline, listed once, in pipeline order, each with the default
 * of its HTTP port setting HUTCH_<NAME>_PORT (/healthz, /readyz, /metrics and the
 * service's own routes).
 *
 * service.c makes each service's port setting from this list. scripts/lib.sh (and
 * through it stack.sh and the bench scripts), scripts/services.py (the e2e harness,
 * bench drivers) read the X(...) lines of this file, so keep one entry per line in
 * that form: X(name, port). */
#ifndef HUTCH_SERVICES_H
#define HUTCH_SERVICES_H

#define HUTCH_SERVICES(X) \
    X(ingest, 8081)       \
    X(policy, 8082)       \
    X(enrich, 8083)       \
    X(cluster, 8084)      \
    X(agent, 8085)        \
    X(notify, 8086)

/* Processes outside the alert path, with the default of their port setting (one line:
 * the scripts above read only the pipeline's list; scripts/stack.sh starts these
 * itself). */
#define HUTCH_SIDE_SERVICES(X) X(console, 8090)

#endif
