/* The topic constants and hutch_topics[], both made from the one list in topics.h. */
#include "common/topics.h"

#include <stddef.h>

#define HUTCH_TOPIC_DEFINE(ident, name) const char ident[] = name;
HUTCH_TOPICS(HUTCH_TOPIC_DEFINE)

#define HUTCH_TOPIC_ENTRY(ident, name) ident,
const char *const hutch_topics[] = {HUTCH_TOPICS(HUTCH_TOPIC_ENTRY) NULL};
