/* The ticket module's operations as the table slack_commands.c calls (see
 * slack_commands.h). */
#include "common/ticket.h"
#include "services/notify/slack_commands.h"

const slack_ticket_ops *slack_ticket_ops_default(void)
{
    static const slack_ticket_ops ops = {
        .assign = ticket_assign,
        .decline = ticket_decline,
        .reopen = ticket_reopen,
        .raise_severity = ticket_raise_severity,
        .resolve = ticket_resolve,
        .salvage = ticket_salvage,
        .edit = ticket_edit,
        .bind = ticket_bind,
    };
    return &ops;
}
