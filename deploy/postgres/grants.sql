-- piivault on PostgreSQL: privileges. Run after every `piivault db upgrade`, as piivault_migrate
-- (its role is piivault_owner):  psql -v ON_ERROR_STOP=1 -f deploy/postgres/grants.sql
-- The strict set-up of deploy/audit-grants.md: the application appends audit events to the
-- queue and nothing else of the log; the sequencer (its own role and process) integrates
-- them. Run the application with PIIVAULT_AUDIT_SEQUENCE_INLINE=false.
SET search_path = piivault;

-- Everything but the audit log: the application and the sequencer read and write rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA piivault TO piivault_app, piivault_sequencer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA piivault TO piivault_app, piivault_sequencer;
GRANT SELECT ON ALL TABLES IN SCHEMA piivault TO piivault_auditor;

-- The audit log: no UPDATE, DELETE or TRUNCATE for anyone but the owner (the triggers refuse
-- them too); the application only queues.
REVOKE ALL ON audit_events, audit_nodes, audit_checkpoints, audit_queue, audit_state
  FROM piivault_app, piivault_sequencer, piivault_auditor;
GRANT SELECT, INSERT ON audit_queue TO piivault_app;
GRANT SELECT ON audit_events, audit_nodes, audit_checkpoints, audit_state TO piivault_app;
GRANT SELECT, INSERT ON audit_events, audit_nodes, audit_checkpoints TO piivault_sequencer;
GRANT SELECT, INSERT, DELETE ON audit_queue TO piivault_sequencer;
GRANT SELECT, UPDATE ON audit_state TO piivault_sequencer;
GRANT SELECT ON audit_events, audit_nodes, audit_checkpoints, audit_queue, audit_state TO piivault_auditor;
-- Nobody but the owner gets TRUNCATE, TRIGGER or REFERENCES on any table.
REVOKE TRUNCATE, TRIGGER, REFERENCES ON ALL TABLES IN SCHEMA piivault
  FROM piivault_app, piivault_sequencer, piivault_auditor;
