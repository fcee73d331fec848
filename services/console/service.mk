# hutch-console: the web console (services/console/console.h). Links the policy
# decision code (the playground decides like hutch-policy) and the ticket module
# (every ticket change). Its static files are services/console/web/ (the default of
# HUTCH_CONSOLE_WEB_DIR is that directory of this tree).
PROGRAMS += $(BIN)/hutch-console
hutch_console_SRCS = services/console/main.c services/console/auth.c services/console/api.c \
	services/console/web.c services/console/actions.c services/console/chat.c services/console/dlq.c \
	services/console/guard.c $(POLICY_DECISION_SRCS)
hutch_console_PKGS = $(sort $(PKGS_service) $(PKGS_ticket) $(POLICY_DECISION_PKGS) $(PKGS_password))
hutch_console_REGO := yes
$(OBJ)/services/console/main.o: CFLAGS += -DHUTCH_CONSOLE_WEB_DEFAULT='"$(CURDIR)/services/console/web"'
UNIT_TESTS += $(BIN)/test_console
test_console_SRCS := services/console/test_console.c services/console/guard.c
test_console_PKGS := cmocka
