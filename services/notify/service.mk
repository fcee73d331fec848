# hutch-notify: outbox, Slack Block Kit rendering, PagerDuty, generic webhooks.
PROGRAMS += $(BIN)/hutch-notify
hutch_notify_SRCS := services/notify/main.c services/notify/notify.c services/notify/post.c services/notify/store.c
hutch_notify_PKGS := $(PKGS_service) libcurl
UNIT_TESTS += $(BIN)/test_notify
test_notify_SRCS := services/notify/test_notify.c services/notify/notify.c services/notify/post.c
test_notify_PKGS := cmocka jansson libcurl libevent libevent_pthreads $(PKGS_msg)
