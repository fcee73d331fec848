/* Ticket changes in a tree without the ticket module (common/ticket.c, which another
 * branch brings): every POST /api/tickets/ID/VERB answers 503 and says so; the
 * console's reads, sign-in and playground work without it. service.mk picks this
 * file only when common/ticket.c is absent; with it, actions.c. */
#include "services/console/console.h"

void actions_ticket(console *c, struct evhttp_request *req, const console_user *u, const char *ticket_id,
                    const char *verb, json_t *body)
{
    http_reply_error(req, 503, "ticket changes need the ticket module (common/ticket.c), which this build lacks");
}
