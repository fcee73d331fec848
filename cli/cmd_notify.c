/* hutchctl notify render TICKET: the Block Kit message the ticket's Slack message has
 * (or would get) in bot mode, rendered by notify's own code from the same document
 * (services/notify/slack_store.c, blocks.c), as JSON to paste into Slack's Block Kit
 * Builder. Nothing is posted. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/ids.h"
#include "services/notify/blocks.h"
#include "services/notify/slack_store.h"

int cmd_notify_render(cli *c)
{
    const char *id = c->args[0];
    if (!ids_is_uuid(id)) {
        cli_error("not a ticket id: \"%s\"", id);
        return CLI_USAGE;
    }
    pg *db = cli_db(c);
    if (db == NULL)
        return CLI_FAIL;
    char *text = NULL;
    int64_t seq = 0;
    if (slack_store_doc(db, id, &text, &seq) != PG_OK) {
        cli_error("cannot read ticket %s: %s", id, pg_last_error(db));
        return CLI_FAIL;
    }
    if (text == NULL) {
        cli_error("ticket %s not found", id);
        return CLI_FAIL;
    }
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    free(text);
    slack_ticket_view v;
    json_t *msg = doc && slack_view_from_json(doc, &v) == 0 ? slack_render_ticket(&v) : NULL;
    int rc = CLI_FAIL;
    if (msg == NULL) {
        cli_error("cannot render ticket %s", id);
    } else {
        output_json(stdout, msg);
        rc = CLI_OK;
    }
    json_decref(msg);
    json_decref(doc);
    return rc;
}
