/* The database schema (docs/ARCHITECTURE.md, "Tables"). Every table a service writes is
 * here, so one look tells what Hutch stores. Ids are UUID text made by the
 * services (UUIDv7), so rows sort by time. */
#include "common/migrations.h"

static const char m001_init[] =
    "CREATE TABLE events ("
    "  event_id uuid PRIMARY KEY,"
    "  schema text NOT NULL,"
    "  source text NOT NULL,"
    "  trace_id text NOT NULL,"
    "  payload jsonb NOT NULL,"
    "  received_at timestamptz NOT NULL,"
    "  status text NOT NULL DEFAULT 'received',"        /* received | accepted | ignored | dead */
    "  policy_package text,"                            /* which policy decided */
    "  alert_count int NOT NULL DEFAULT 0,"
    "  reason text,"                                    /* why ignored / dead-lettered */
    "  decided_at timestamptz);"
    "CREATE INDEX events_received_at ON events (received_at DESC);"
    "CREATE TABLE alerts ("
    "  alert_id uuid PRIMARY KEY,"
    "  event_id uuid NOT NULL,"
    "  trace_id text NOT NULL,"
    "  schema text NOT NULL,"
    "  title text NOT NULL,"
    "  description text NOT NULL DEFAULT '',"
    "  namespace text NOT NULL DEFAULT '',"
    "  source text NOT NULL DEFAULT '',"
    "  channel text NOT NULL DEFAULT '',"
    "  tags text[] NOT NULL DEFAULT '{}',"
    "  attributes jsonb NOT NULL DEFAULT '[]',"
    "  payload jsonb NOT NULL,"
    "  policy_package text NOT NULL DEFAULT '',"
    "  risk_score double precision,"
    "  fingerprint text,"
    "  ticket_id uuid,"
    "  severity text,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  enriched_at timestamptz,"
    "  clustered_at timestamptz,"
    "  triaged_at timestamptz);"
    "CREATE INDEX alerts_created_at ON alerts (created_at DESC);"
    "CREATE INDEX alerts_event_id ON alerts (event_id);"
    "CREATE INDEX alerts_ticket_id ON alerts (ticket_id);"
    "CREATE TABLE indicators ("
    "  alert_id uuid NOT NULL REFERENCES alerts ON DELETE CASCADE,"
    "  type text NOT NULL,"
    "  value text NOT NULL,"
    "  path text NOT NULL,"
    "  PRIMARY KEY (alert_id, type, value, path));"
    "CREATE INDEX indicators_value ON indicators (type, value);"
    "CREATE TABLE tickets ("
    "  ticket_id uuid PRIMARY KEY,"
    "  title text NOT NULL,"
    "  summary text NOT NULL DEFAULT '',"
    "  status text NOT NULL DEFAULT 'open',"             /* open | acknowledged | resolved */
    "  severity text,"                                  /* highest of its alerts'; NULL until the agent triages one */
    "  namespace text NOT NULL DEFAULT '',"
    "  fingerprint text NOT NULL DEFAULT '',"
    "  alert_count int NOT NULL DEFAULT 0,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  last_alert_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX tickets_open_fingerprint ON tickets (fingerprint, last_alert_at) WHERE status <> 'resolved';"
    "CREATE INDEX tickets_open_namespace ON tickets (namespace, last_alert_at) WHERE status <> 'resolved' AND namespace <> '';"
    "CREATE TABLE ticket_alerts ("
    "  alert_id uuid PRIMARY KEY,"                      /* an alert is bound to one ticket */
    "  ticket_id uuid NOT NULL REFERENCES tickets ON DELETE CASCADE,"
    "  bound_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX ticket_alerts_ticket ON ticket_alerts (ticket_id);"
    "CREATE TABLE notifications ("
    "  request_id text PRIMARY KEY,"                    /* outbox key: one effect per request */
    "  ticket_id uuid NOT NULL,"
    "  alert_id uuid,"
    "  kind text NOT NULL,"                             /* new_ticket | alert_bound */
    "  target text NOT NULL,"                           /* log | slack-webhook | slack | pagerduty | webhook */
    "  channel text NOT NULL DEFAULT '',"
    "  message jsonb NOT NULL,"                         /* rendered Block Kit */
    "  status text NOT NULL DEFAULT 'pending',"         /* pending | sent | failed */
    "  attempts int NOT NULL DEFAULT 0,"
    "  last_error text,"
    "  slack_ts text,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  sent_at timestamptz);"
    "CREATE INDEX notifications_ticket ON notifications (ticket_id);"
    "CREATE TABLE processed_messages ("                 /* idempotent consumers */
    "  consumer text NOT NULL,"
    "  message_id text NOT NULL,"
    "  processed_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (consumer, message_id));"
    "CREATE TABLE intel_cache ("
    "  provider text NOT NULL, indicator_type text NOT NULL, value text NOT NULL,"
    "  response jsonb NOT NULL, fetched_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,"
    "  PRIMARY KEY (provider, indicator_type, value));"
    "CREATE TABLE embeddings ("
    "  alert_id uuid PRIMARY KEY, vector real[] NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE agent_sessions ("
    "  session_id uuid PRIMARY KEY, ticket_id uuid, created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE agent_messages ("
    "  message_id uuid PRIMARY KEY, session_id uuid NOT NULL REFERENCES agent_sessions ON DELETE CASCADE,"
    "  role text NOT NULL, content jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE action_runs ("
    "  run_id uuid PRIMARY KEY, alert_id uuid, action text NOT NULL, args jsonb NOT NULL DEFAULT '{}',"
    "  result jsonb, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE namespace_attributes ("
    "  namespace text NOT NULL, key text NOT NULL, value jsonb NOT NULL, expires_at timestamptz,"
    "  PRIMARY KEY (namespace, key));";

/* The payload is stored once, in events (an alert references its event). Severity is
 * decided once: by the policy (severity_source 'policy') or enrich's normaliser
 * ('enrich'); a policy's decision read back on redelivery is only its own. */
static const char m002_severity_payload_once[] =
    "ALTER TABLE alerts DROP COLUMN payload;"
    "ALTER TABLE alerts ADD COLUMN severity_score int, ADD COLUMN severity_source text;";

/* One indicators row per alert and distinct (type, value), the JSON paths it was found
 * at in an array (the same IP at five paths was five rows); no foreign key: enrich
 * writes indicators only for alerts that exist, in the statement that checks it, and
 * the per-row trigger was a third of the cost of the batch insert (make bench). */
static const char m003_indicators_per_value[] =
    "CREATE TABLE indicators_by_value ("
    "  alert_id uuid NOT NULL,"
    "  type text NOT NULL,"
    "  value text NOT NULL,"
    "  paths text[] NOT NULL,"
    "  PRIMARY KEY (alert_id, type, value));"
    "INSERT INTO indicators_by_value SELECT alert_id, type, value, array_agg(path ORDER BY path)"
    "  FROM indicators GROUP BY alert_id, type, value;"
    "DROP TABLE indicators;"
    "ALTER TABLE indicators_by_value RENAME TO indicators;"
    "ALTER INDEX indicators_by_value_pkey RENAME TO indicators_pkey;"
    "CREATE INDEX indicators_value ON indicators (type, value);";

/* Threat intel (services/enrich/intel_quota.h): one cache for every service, keyed by
 * (provider, kind, normalised value), with a single-flight claim; per-provider rate
 * limits shared by every instance. intel_quota_take is the rule of intel_bucket_take
 * (intel_quota.c) on the shared row: keep the two the same (test_intel runs one table
 * of cases through both). Times are Unix milliseconds so tests drive the clock.
 * Migration 1's intel_cache was a placeholder no program ever wrote: replaced. */
static const char m004_intel[] =
    "DROP TABLE intel_cache;"
    "CREATE TABLE intel_cache ("
    "  provider text NOT NULL,"
    "  kind text NOT NULL,"
    "  value text NOT NULL,"
    "  verdict text,"                                   /* malicious | suspicious | harmless | unknown */
    "  score int,"
    "  summary text,"
    "  link text,"
    "  not_found boolean,"
    "  body jsonb,"                                     /* the provider's answer, for the agent */
    "  fetched_at timestamptz,"
    "  expires_at timestamptz,"                         /* NULL until a first verdict */
    "  claimed_by text,"                                /* single flight: who is asking now */
    "  claimed_until_ms bigint,"
    "  PRIMARY KEY (provider, kind, value));"
    "CREATE INDEX intel_cache_expires_at ON intel_cache (expires_at);"
    "CREATE TABLE intel_quota ("
    "  provider text PRIMARY KEY,"
    "  tokens double precision NOT NULL,"              /* minute bucket */
    "  refilled_ms bigint NOT NULL,"                    /* 0 = never used */
    "  day bigint NOT NULL,"                            /* UTC day number of day_used */
    "  day_used bigint NOT NULL,"
    "  cooldown_until_ms bigint NOT NULL DEFAULT 0);"
    "CREATE FUNCTION intel_quota_take(p text, per_minute float8, per_day bigint, now_ms bigint) RETURNS bigint"
    " LANGUAGE plpgsql AS $$"
    " DECLARE q intel_quota; w bigint;"
    " BEGIN"
    "  INSERT INTO intel_quota VALUES (p, 0, 0, 0, 0, 0) ON CONFLICT (provider) DO NOTHING;"
    "  SELECT * INTO q FROM intel_quota WHERE provider = p FOR UPDATE;"
    "  IF q.refilled_ms = 0 THEN"
    "    q.tokens := CASE WHEN per_minute > 0 THEN greatest(per_minute, 1) ELSE 0 END; q.refilled_ms := now_ms; q.day := now_ms / 86400000; q.day_used := 0;"
    "  END IF;"
    "  IF per_minute > 0 AND now_ms > q.refilled_ms THEN"
    "    q.tokens := least(greatest(per_minute, 1), q.tokens + (now_ms - q.refilled_ms)::float8 * per_minute / 60000.0::float8);"
    "  END IF;"
    "  IF now_ms > q.refilled_ms THEN q.refilled_ms := now_ms; END IF;"
    "  IF now_ms / 86400000 > q.day THEN q.day := now_ms / 86400000; q.day_used := 0; END IF;"
    "  IF q.cooldown_until_ms > now_ms THEN w := q.cooldown_until_ms - now_ms;"
    "  ELSIF per_day > 0 AND q.day_used >= per_day THEN w := (q.day + 1) * 86400000 - now_ms;"
    "  ELSIF per_minute > 0 AND q.tokens < 1.0::float8 - 1e-6::float8 THEN"
    "    w := greatest(1, ceil((1.0::float8 - q.tokens) * 60000.0::float8 / per_minute - 1e-6::float8)::bigint);"
    "  ELSE"
    "    w := 0;"
    "    IF per_minute > 0 THEN q.tokens := q.tokens - 1; END IF;"
    "    q.day_used := q.day_used + 1;"
    "  END IF;"
    "  UPDATE intel_quota SET tokens = q.tokens, refilled_ms = q.refilled_ms, day = q.day, day_used = q.day_used"
    "   WHERE provider = p;"
    "  RETURN w;"
    " END $$;";

/* The ticket lifecycle (common/ticket.h): open | resolved | archived ('acknowledged'
 * was never set by a program: it becomes open), the conclusion and reason of a
 * resolve, an assignee, a finding, where a merged ticket went, and the history of
 * every change, which is also the outbox of hutch.tickets.events (published_at NULL =
 * not relayed yet). tickets.history_seq is the last seq of the ticket's history: an
 * UPDATE takes the next one, so two writers of one ticket queue on its row.
 * severity_raised: the floor a person or the agent raised the severity to (severity =
 * the highest of it and the alerts'). ticket_alerts.merged_from: the ticket an alert
 * came from by a merge (unmerge sends it back). alerts.declined_at: the alert left its
 * ticket by a decline and is never bound automatically again. embeddings: the model
 * and dimensions of each vector (L2-normalised real[]). */
static const char m005_ticket_lifecycle[] =
    "UPDATE tickets SET status = 'open' WHERE status = 'acknowledged';"
    "ALTER TABLE tickets"
    "  ADD COLUMN description text NOT NULL DEFAULT '',"
    "  ADD COLUMN conclusion text,"                      /* intended | unaffected | false_positive | true_positive | escalated */
    "  ADD COLUMN reason text,"
    "  ADD COLUMN assignee text NOT NULL DEFAULT '',"   /* '' = unassigned */
    "  ADD COLUMN finding jsonb,"                       /* {severity, summary, reason, recommendation} */
    "  ADD COLUMN merged_into uuid,"
    "  ADD COLUMN severity_raised text,"
    "  ADD COLUMN history_seq int NOT NULL DEFAULT 0,"
    "  ADD COLUMN resolved_at timestamptz,"
    "  ADD COLUMN archived_at timestamptz,"
    "  ADD CONSTRAINT tickets_status CHECK (status IN ('open', 'resolved', 'archived'));"
    "DROP INDEX tickets_open_fingerprint;"
    "DROP INDEX tickets_open_namespace;"
    "CREATE INDEX tickets_open_fingerprint ON tickets (fingerprint, last_alert_at) WHERE status = 'open';"
    "CREATE INDEX tickets_open_namespace ON tickets (namespace, last_alert_at) WHERE status = 'open' AND namespace <> '';"
    "CREATE INDEX tickets_status_activity ON tickets (status, updated_at DESC);"
    "ALTER TABLE ticket_alerts ADD COLUMN merged_from uuid;"
    "ALTER TABLE alerts ADD COLUMN declined_at timestamptz;"
    "CREATE TABLE ticket_history ("
    "  ticket_id uuid NOT NULL REFERENCES tickets ON DELETE CASCADE,"
    "  seq int NOT NULL,"                               /* 1, 2, ... per ticket */
    "  at timestamptz NOT NULL DEFAULT now(),"
    "  actor text NOT NULL,"                            /* user:NAME | slack:USERID | hutch-agent | hutch-cluster */
    "  kind text NOT NULL,"                             /* opened | bound | declined | resolved | ... (ticket.h) */
    "  detail jsonb NOT NULL DEFAULT '{}',"
    "  published_at timestamptz,"                       /* relayed to hutch.tickets.events */
    "  PRIMARY KEY (ticket_id, seq));"
    "CREATE INDEX ticket_history_unpublished ON ticket_history (at, ticket_id, seq) WHERE published_at IS NULL;"
    "ALTER TABLE embeddings ADD COLUMN model text NOT NULL DEFAULT '', ADD COLUMN dims int;"
    "UPDATE embeddings SET dims = cardinality(vector);";
/* The agent's LLM work (services/agent/jobs.h): one agent_jobs row per ticket, the
 * queue and the memory of the last analysis (alert count and severity it saw, so a
 * ticket is analysed again only when it grew by a factor or its severity rose);
 * `result` holds an analysis between the model's answer and its application through
 * the ticket module, so a restart applies it instead of asking again. Sessions get
 * their kind, outcome and token usage (the per-hour budget sums them), messages an
 * order. agent_approvals: risky tool calls waiting for a person (one row per ticket,
 * tool and arguments). agent_requests: the questions of hutch.agent.requests until
 * their answer was sent (as a NotifyRequest "agent_answer"). */
static const char m008_agent_llm[] =
    "CREATE TABLE agent_jobs ("
    "  ticket_id uuid PRIMARY KEY,"
    "  state text NOT NULL DEFAULT 'pending',"          /* pending | running | idle */
    "  reason text NOT NULL,"                           /* new_ticket | grew | severity_rose */
    "  requested_at timestamptz NOT NULL DEFAULT now(),"
    "  started_at timestamptz,"
    "  lease_until timestamptz,"                        /* a running job past it is taken again */
    "  attempts int NOT NULL DEFAULT 0,"                /* starts of the current request */
    "  run_alert_count int NOT NULL DEFAULT 0,"
    "  run_severity text,"
    "  done_alert_count int NOT NULL DEFAULT 0,"
    "  done_severity text,"
    "  last_done_at timestamptz,"
    "  runs int NOT NULL DEFAULT 0,"
    "  result jsonb,"                                   /* answered, not yet applied */
    "  last_error text,"
    "  CONSTRAINT agent_jobs_state CHECK (state IN ('pending', 'running', 'idle')));"
    "CREATE INDEX agent_jobs_ready ON agent_jobs (requested_at) WHERE state <> 'idle';"
    "ALTER TABLE agent_sessions"
    "  ADD COLUMN kind text NOT NULL DEFAULT 'triage',"  /* triage | chat */
    "  ADD COLUMN status text NOT NULL DEFAULT 'running',"/* running | answered | failed | interrupted */
    "  ADD COLUMN reason text,"                         /* the loop's end: answer, iterations, budget, ... */
    "  ADD COLUMN provider text NOT NULL DEFAULT '',"
    "  ADD COLUMN model text NOT NULL DEFAULT '',"
    "  ADD COLUMN model_calls int NOT NULL DEFAULT 0,"
    "  ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0,"
    "  ADD COLUMN ended_at timestamptz;"
    "CREATE INDEX agent_sessions_ticket ON agent_sessions (ticket_id, created_at);"
    "CREATE INDEX agent_sessions_created ON agent_sessions (created_at);"
    "ALTER TABLE agent_messages ADD COLUMN seq int NOT NULL DEFAULT 0;"
    "CREATE INDEX agent_messages_session ON agent_messages (session_id, seq);"
    "CREATE TABLE agent_approvals ("
    "  approval_id uuid PRIMARY KEY,"
    "  ticket_id uuid NOT NULL,"
    "  session_id uuid,"
    "  tool text NOT NULL,"
    "  args jsonb NOT NULL,"
    "  status text NOT NULL DEFAULT 'pending',"         /* pending | granted | denied */
    "  requested_at timestamptz NOT NULL DEFAULT now(),"
    "  decided_by text,"
    "  decided_at timestamptz);"
    "CREATE UNIQUE INDEX agent_approvals_call ON agent_approvals (ticket_id, tool, md5(args::text));"
    "CREATE TABLE agent_requests ("                    /* hutch.agent.requests: questions about a ticket */
    "  request_id text PRIMARY KEY,"
    "  ticket_id uuid NOT NULL,"
    "  requester text NOT NULL DEFAULT '',"
    "  question text NOT NULL,"
    "  trace_id text NOT NULL DEFAULT '',"
    "  state text NOT NULL DEFAULT 'pending',"          /* pending | running | answered */
    "  lease_until timestamptz,"
    "  attempts int NOT NULL DEFAULT 0,"
    "  answer text,"
    "  session_id uuid,"
    "  requested_at timestamptz NOT NULL DEFAULT now(),"
    "  answered_at timestamptz);"
    "CREATE INDEX agent_requests_ready ON agent_requests (requested_at) WHERE state <> 'answered';";

/* Slack bot mode (services/notify/slack_store.h): one message per ticket. A change of
 * the ticket raises change_seq in the transaction that consumed it; the edit is due
 * while shown_seq < change_seq, and shown_seq takes the seq that was rendered only
 * after chat.update succeeded, so a crash loses no edit and a burst is one edit. */
static const char m010_slack[] =
    "CREATE TABLE slack_messages ("
    "  ticket_id uuid PRIMARY KEY,"
    "  channel text NOT NULL,"                          /* where it is (or will be) posted */
    "  ts text,"                                        /* NULL until chat.postMessage answered */
    "  publish text NOT NULL DEFAULT 'alert',"          /* alert | notice */
    "  note text,"                                      /* e.g. the channel fallback */
    "  change_seq bigint NOT NULL DEFAULT 0,"
    "  shown_seq bigint NOT NULL DEFAULT 0,"
    "  changed_at timestamptz,"                         /* first change not yet shown */
    "  edited_at timestamptz,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX slack_messages_due ON slack_messages (changed_at) WHERE change_seq > shown_seq;"
    "CREATE INDEX slack_messages_thread ON slack_messages (channel, ts);";

/* The web console (services/console): its accounts and sessions, and the orderings
 * of its ticket list (keyset pages over 100k tickets read an index, not a sort).
 * password_hash is common/password.h's "scrypt$N$r$p$salt$hash"; a session is known
 * by the SHA-256 of its cookie (a stolen table gives no usable cookie). */
static const char m011_console[] =
    "CREATE TABLE console_users ("
    "  name text PRIMARY KEY,"
    "  role text NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),"
    "  password_hash text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE console_sessions ("
    "  token_sha256 text PRIMARY KEY,"
    "  name text NOT NULL REFERENCES console_users ON DELETE CASCADE,"
    "  csrf text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz NOT NULL);"
    "CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);"
    "CREATE INDEX tickets_last_alert_at_id ON tickets (last_alert_at DESC, ticket_id DESC);"
    "CREATE INDEX tickets_created_at_id ON tickets (created_at DESC, ticket_id DESC);"
    "CREATE INDEX events_status_received_at ON events (status, received_at DESC);";

/* Threat intel in the pipeline (services/enrich/intel_store.h): one row per
 * (alert, provider, kind, value) that the intel policy asked about, with its state:
 * pending (the lookup worker owes it a verdict: the durable queue, resumed at start),
 * done (intel_cache holds the verdict) or error (given up: error says why). The
 * verdict itself lives once in intel_cache. indicator is the alert's indicator value
 * the lookup came from (hutchctl alert show lists verdicts under it). risk_base is the
 * risk score before verdicts, so the score can be recomputed when they arrive. */
static const char m006_intel_alerts[] =
    "CREATE TABLE alert_intel ("
    "  alert_id uuid NOT NULL,"
    "  provider text NOT NULL,"
    "  kind text NOT NULL,"
    "  value text NOT NULL,"
    "  indicator text NOT NULL,"
    "  state text NOT NULL,"                            /* pending | done | error */
    "  attempts int NOT NULL DEFAULT 0,"
    "  next_attempt_ms bigint NOT NULL DEFAULT 0,"
    "  error text,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (alert_id, provider, kind, value));"
    "CREATE INDEX alert_intel_pending ON alert_intel (next_attempt_ms) WHERE state = 'pending';"
    "CREATE INDEX alert_intel_key ON alert_intel (provider, kind, value) WHERE state = 'pending';"
    "ALTER TABLE alerts ADD COLUMN risk_base double precision;";

/* Binding by actor and shape (services/cluster/bind.h, store.c). shape_embeddings is the
 * embedding cache: one vector per (shape hash, embedder name) -- a storm of one shape
 * costs one model call -- with the shape text, so a new embedder re-embeds lazily.
 * embeddings gets the embedder and size of each alert's vector (migration 5 adds the
 * same two columns: IF NOT EXISTS) and its shape hash. ticket_actors and ticket_shapes
 * are what a ticket is about (actor keys) and looks like (shape hashes): the candidate
 * query and the similarity read them. ticket_storms counts a storm ticket (kind, actor,
 * the title cluster wrote last, the alert whose arrival crossed the notification level);
 * ticket_storm_targets its distinct targets (hosts probed, accounts tried). */
static const char m007_bind[] =
    "CREATE TABLE shape_embeddings ("
    "  shape_hash text NOT NULL,"
    "  embedder text NOT NULL,"                         /* embedder_name(): provider:model[:dims] */
    "  dims int NOT NULL,"
    "  vector real[] NOT NULL,"                         /* L2-normalised */
    "  shape_text text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (shape_hash, embedder));"
    "ALTER TABLE embeddings ADD COLUMN IF NOT EXISTS model text, ADD COLUMN IF NOT EXISTS dims int,"
    "  ADD COLUMN shape_hash text;"
    "CREATE INDEX embeddings_created_at ON embeddings (created_at DESC);"
    "CREATE TABLE ticket_actors ("
    "  actor_key text NOT NULL,"                        /* ip:ADDR, user:NAME, resource:ID, container:ID, fp:FINGERPRINT */
    "  ticket_id uuid NOT NULL REFERENCES tickets ON DELETE CASCADE,"
    "  PRIMARY KEY (actor_key, ticket_id));"
    "CREATE INDEX ticket_actors_ticket ON ticket_actors (ticket_id);"
    "CREATE TABLE ticket_shapes ("
    "  ticket_id uuid NOT NULL REFERENCES tickets ON DELETE CASCADE,"
    "  shape_hash text NOT NULL,"
    "  PRIMARY KEY (ticket_id, shape_hash));"
    "CREATE TABLE ticket_storms ("
    "  ticket_id uuid PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,"
    "  kind text NOT NULL,"                             /* bind_storm_kinds: port_scan, ssh_brute_force */
    "  actor text NOT NULL,"
    "  title text NOT NULL DEFAULT '',"                 /* the title cluster wrote last (a person's edit wins) */
    "  severity text NOT NULL DEFAULT 'low',"
    "  notify_alert_id uuid);"                          /* the alert that crossed the notification level */
    "CREATE TABLE ticket_storm_targets ("
    "  ticket_id uuid NOT NULL REFERENCES ticket_storms ON DELETE CASCADE,"
    "  target text NOT NULL,"
    "  PRIMARY KEY (ticket_id, target));";

/* Action chains (services/agent/chain.h): one row per action an alert's chain ran,
 * written before the action runs ('started') and finished after ('done', 'failed');
 * a 'started' row found later means the agent died during the action: it becomes
 * 'interrupted' and the action is not repeated. (alert_id, action_id) is the key of
 * that rule. args and result are stored with secret_* members masked. */
static const char m009_action_runs[] =
    "ALTER TABLE action_runs ADD COLUMN action_id text, ADD COLUMN seq int, ADD COLUMN name text,"
    "  ADD COLUMN error text, ADD COLUMN duration_ms bigint, ADD COLUMN finished_at timestamptz;"
    "CREATE UNIQUE INDEX action_runs_alert_action ON action_runs (alert_id, action_id);";

/* Warren's enrich and triage policies in the agent (services/agent/triage.h):
 * triage_decisions records what the triage decided for each alert (publish, page,
 * the policy that decided, its output, the enrich results and the tasks skipped, what
 * was done to the ticket), so a discarded alert is never silently gone;
 * triage_enrich holds an alert whose enrich prompts run on the model, until their
 * results (or the deadline) send it back to triage (services/agent/enrich_runner.h). */
static const char m012_triage[] =
    "CREATE TABLE triage_decisions ("
    "  alert_id uuid PRIMARY KEY,"
    "  ticket_id uuid,"
    "  publish text NOT NULL," /* alert | notice | discard */
    "  page boolean NOT NULL DEFAULT false,"
    "  policy text NOT NULL DEFAULT '',"            /* data.triage (files), '' = the default */
    "  output jsonb,"                               /* the policy's output */
    "  enrich jsonb NOT NULL DEFAULT '[]',"         /* [{id, prompt, result}] */
    "  enrich_skipped jsonb NOT NULL DEFAULT '[]'," /* [{id, reason}] */
    "  ticket_action text NOT NULL DEFAULT '',"     /* '' | archived | declined */
    "  decided_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX triage_decisions_ticket ON triage_decisions (ticket_id);"
    "CREATE TABLE triage_enrich ("
    "  alert_id uuid PRIMARY KEY,"
    "  ticket_id uuid NOT NULL,"
    "  alert bytea NOT NULL,"                  /* the clustered Alert as consumed */
    "  tasks jsonb NOT NULL,"                  /* [{id, prompt, format}] */
    "  results jsonb NOT NULL DEFAULT '[]',"   /* [{id, prompt, result}] so far */
    "  skipped jsonb NOT NULL DEFAULT '[]',"   /* [{id, reason}] */
    "  state text NOT NULL DEFAULT 'pending'," /* pending | running | done */
    "  deadline timestamptz NOT NULL,"
    "  lease_until timestamptz,"
    "  attempts int NOT NULL DEFAULT 0,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  done_at timestamptz,"
    "  CONSTRAINT triage_enrich_state CHECK (state IN ('pending', 'running', 'done')));"
    "CREATE INDEX triage_enrich_ready ON triage_enrich (created_at) WHERE state <> 'done';";

/* Chat (services/agent/chat.h): a question's Slack thread, kept to send the answer
 * there; who asked a chat session and for which question, and how many phases a
 * planned answer ran; a turn's plan phase and task (NULL outside a plan), so a planned
 * answer replays phase by phase. */
static const char m013_chat[] =
    "ALTER TABLE agent_requests ADD COLUMN reply_channel text NOT NULL DEFAULT '',"
    "  ADD COLUMN reply_thread_ts text NOT NULL DEFAULT '';"
    "ALTER TABLE agent_sessions ADD COLUMN requester text NOT NULL DEFAULT '', ADD COLUMN request_id text,"
    "  ADD COLUMN phases int NOT NULL DEFAULT 0;"
    "ALTER TABLE agent_messages ADD COLUMN phase int, ADD COLUMN task text;";

/* The console's DLQ page and dashboard. dead_letters: the DeadLetters of hutch.dlq as
 * the console's DLQ consumer (group hutch-console-dlq) stored them, one row per
 * dlq_id (DeadLetter.meta.id), with who replayed it to its source topic and when.
 * service_state: what a service reports of itself for the console, one row per
 * service and instance (host name), e.g. hutch-policy's policy reload state. */
static const char m014_console_dlq[] = "CREATE TABLE dead_letters ("
                                       "  dlq_id uuid PRIMARY KEY,"
                                       "  dead_at timestamptz NOT NULL,"      /* DeadLetter.meta.created */
                                       "  consumer text NOT NULL DEFAULT ''," /* the service that gave up */
                                       "  reason text NOT NULL DEFAULT '',"
                                       "  source_topic text NOT NULL DEFAULT '',"
                                       "  source_partition int NOT NULL DEFAULT -1,"
                                       "  source_offset bigint NOT NULL DEFAULT -1,"
                                       "  msg_key bytea,"          /* the key on hutch.dlq: the source message's */
                                       "  payload bytea NOT NULL," /* the source message's bytes */
                                       "  trace_id text NOT NULL DEFAULT '',"
                                       "  dlq_partition int NOT NULL DEFAULT -1,"
                                       "  dlq_offset bigint NOT NULL DEFAULT -1,"
                                       "  stored_at timestamptz NOT NULL DEFAULT now(),"
                                       "  replay_count int NOT NULL DEFAULT 0,"
                                       "  replayed_at timestamptz,"
                                       "  replayed_by text);"
                                       "CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at DESC, dlq_id DESC);"
                                       "CREATE TABLE service_state ("
                                       "  service text NOT NULL,"
                                       "  instance text NOT NULL,"
                                       "  state jsonb NOT NULL,"
                                       "  updated_at timestamptz NOT NULL DEFAULT now(),"
                                       "  PRIMARY KEY (service, instance));";

/* Slack bot mode's post attempts (services/notify/slack_store.h): a row is committed
 * (autocommit, on the bot's own connection) before each chat.postMessage of a ticket's
 * message and deleted in the transaction that records the message's ts. A row left
 * while slack_messages.ts is NULL means a post may have reached Slack: notify looks for
 * it (conversations.history, the message's metadata names the ticket) before posting. */
static const char m015_slack_post_attempts[] =
    "CREATE TABLE slack_post_attempts ("
    "  ticket_id uuid PRIMARY KEY,"
    "  channel text NOT NULL,"                             /* where the post went */
    "  note text,"                                         /* the post's note (channel fallback) */
    "  attempted_at timestamptz NOT NULL DEFAULT now());"; /* the first attempt */

/* Threat intel's queue by lookup, not by alert (services/enrich/intel_store.h): the
 * worker's queue was alert_intel's pending rows, one per alert and lookup, so every
 * round grouped and sorted all of them; behind a provider's quota (VirusTotal's free
 * tier: 4 a minute) the backlog grows without end and a round took seconds of the
 * database per worker. intel_queue holds one row per (provider, kind, value) some
 * alert waits for, with its attempts and when it is due; intel_queue_hold when a
 * provider may be asked again (its bucket empty, a 429), one row per provider instead
 * of a write to each of its waiting keys. alert_intel stays the record per alert. */
static const char m016_intel_queue[] =
    "CREATE TABLE intel_queue ("
    "  provider text NOT NULL,"
    "  kind text NOT NULL,"
    "  value text NOT NULL,"
    "  attempts int NOT NULL DEFAULT 0,"
    "  next_attempt_ms bigint NOT NULL DEFAULT 0,"
    "  queued_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (provider, kind, value));"
    "CREATE INDEX intel_queue_due ON intel_queue (provider, next_attempt_ms, queued_at);"
    "CREATE TABLE intel_queue_hold ("
    "  provider text PRIMARY KEY,"
    "  until_ms bigint NOT NULL);"
    "INSERT INTO intel_queue (provider, kind, value, attempts, next_attempt_ms, queued_at)"
    "  SELECT provider, kind, value, max(attempts), min(next_attempt_ms), min(updated_at)"
    "  FROM alert_intel WHERE state = 'pending' GROUP BY provider, kind, value;"
    "DROP INDEX alert_intel_pending;"
    "ALTER TABLE alert_intel DROP COLUMN attempts, DROP COLUMN next_attempt_ms;";

/* Threat intel's record by alert, not by lookup (services/enrich/intel_store.h):
 * alert_intel held one row per (alert, provider, kind, value), so a batch of 500
 * GuardDuty alerts (~26 lookups each under the default policy) inserted ~13,000 rows
 * and their index entries, over a second of Postgres per batch: enrich could not pass
 * ~500 alerts/s. alert_lookups holds one row per alert: its lookups in the policy's
 * order, each a small array [provider, kind, value, indicator, state] with the error
 * as a sixth element when state is error. intel_waiting lists, per (provider, kind,
 * value), the alerts whose lookup of it was pending when recorded: the resolve of a
 * key finds its alerts there (and deletes them) instead of in an index over every
 * lookup, and only misses pay for a row. updated_at is when the alert's lookups last
 * changed. alert_intel is now a view of the same columns, one row per lookup, for
 * the readers (hutchctl alert show, notify's ticket document, tests). */
static const char m017_alert_lookups[] =
    "CREATE TABLE alert_lookups ("
    "  alert_id uuid PRIMARY KEY,"
    "  lookups jsonb NOT NULL," /* [[provider, kind, value, indicator, state(, error)], ...] */
    "  updated_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE intel_waiting ("
    "  provider text NOT NULL,"
    "  kind text NOT NULL,"
    "  value text NOT NULL,"
    "  alert_id uuid NOT NULL,"
    "  PRIMARY KEY (provider, kind, value, alert_id));"
    "INSERT INTO alert_lookups (alert_id, lookups, updated_at)"
    "  SELECT alert_id, jsonb_agg(CASE WHEN error IS NULL"
    "    THEN jsonb_build_array(provider, kind, value, indicator, state)"
    "    ELSE jsonb_build_array(provider, kind, value, indicator, state, error) END"
    "    ORDER BY provider, kind, value), max(updated_at)"
    "  FROM alert_intel GROUP BY alert_id;"
    "INSERT INTO intel_waiting (provider, kind, value, alert_id)"
    "  SELECT provider, kind, value, alert_id FROM alert_intel WHERE state = 'pending';"
    "DROP TABLE alert_intel;"
    "CREATE VIEW alert_intel AS"
    "  SELECT l.alert_id, e->>0 AS provider, e->>1 AS kind, e->>2 AS value, e->>3 AS indicator,"
    "    e->>4 AS state, e->>5 AS error, l.updated_at"
    "  FROM alert_lookups l CROSS JOIN LATERAL jsonb_array_elements(l.lookups) AS x(e);";

/* An alert's vector is its shape's (services/cluster/store.c): the cluster wrote the
 * same 384 floats (1.5 KB) into embeddings for every alert of a shape, its largest
 * write per alert. Since shape_embeddings holds each shape's vector once, new rows
 * carry a vector only when shape_embeddings has none for their shape; readers take
 * coalesce(e.vector, s.vector) joined on (shape_hash, model = embedder, dims). */
static const char m018_embeddings_by_shape[] = "ALTER TABLE embeddings ALTER COLUMN vector DROP NOT NULL;";

const migration migrations[] = {
    {1, "init", m001_init},
    {2, "severity_payload_once", m002_severity_payload_once},
    {3, "indicators_per_value", m003_indicators_per_value},
    {4, "intel", m004_intel},
    {5, "ticket_lifecycle", m005_ticket_lifecycle},
    {6, "intel_alerts", m006_intel_alerts},
    {7, "bind", m007_bind},
    {8, "agent_llm", m008_agent_llm},
    {9, "action_runs", m009_action_runs},
    {10, "slack", m010_slack},
    {11, "console", m011_console},
    {12, "triage", m012_triage},
    {13, "chat", m013_chat},
    {14, "console_dlq", m014_console_dlq},
    {15, "slack_post_attempts", m015_slack_post_attempts},
    {16, "intel_queue", m016_intel_queue},
    {17, "alert_lookups", m017_alert_lookups},
    {18, "embeddings_by_shape", m018_embeddings_by_shape},
};
const int migrations_count = (int)(sizeof migrations / sizeof migrations[0]);
