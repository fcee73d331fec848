# hutch-notify: outbox, Slack Block Kit rendering and the Slack app (bot mode,
# signed callbacks or Socket Mode over libwebsockets, commands through the ticket
# module), PagerDuty, generic webhooks.
PROGRAMS += $(BIN)/hutch-notify
NOTIFY_RENDER_SRCS := services/notify/notify.c services/notify/blocks.c
hutch_notify_SRCS := services/notify/main.c $(NOTIFY_RENDER_SRCS) services/notify/post.c services/notify/store.c \
	services/notify/slack_callback.c services/notify/slack_api.c services/notify/slack_store.c \
	services/notify/slack_bot.c services/notify/slack_http.c services/notify/slack_commands.c services/notify/slack_ticket_ops.c \
	services/notify/slack_socket.c
hutch_notify_PKGS := $(sort $(PKGS_service) $(PKGS_ticket)) libcurl libcrypto libwebsockets
UNIT_TESTS += $(BIN)/test_notify
test_notify_SRCS := services/notify/test_notify.c $(NOTIFY_RENDER_SRCS) services/notify/post.c
test_notify_PKGS := cmocka jansson libcurl libevent libevent_pthreads $(PKGS_msg)
UNIT_TESTS += $(BIN)/test_slack
test_slack_SRCS := services/notify/test_slack.c $(NOTIFY_RENDER_SRCS) services/notify/slack_callback.c \
	services/notify/slack_api.c services/notify/post.c services/notify/slack_commands.c
test_slack_PKGS := cmocka jansson libevent libcrypto libcurl $(PKGS_msg)
