# hutchctl: the operator CLI (cli/hutchctl.c is the command table).
PROGRAMS += $(BIN)/hutchctl
hutchctl_SRCS := cli/hutchctl.c cli/output.c cli/cmd_alert.c cli/cmd_ticket.c cli/cmd_event.c cli/cmd_policy.c
UNIT_TESTS += $(BIN)/test_cli_output
test_cli_output_SRCS := cli/test_cli_output.c cli/output.c
test_cli_output_LIBS := -lcmocka
