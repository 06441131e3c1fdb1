-- piivault on PostgreSQL: roles and schema. Run once, as a superuser:
--   psql -v ON_ERROR_STOP=1 -f deploy/postgres/roles.sql
-- then give each LOGIN role a password from your secret store:
--   ALTER ROLE piivault_app PASSWORD '...';
-- Why these roles: deploy/audit-grants.md. The application never owns a table, so it
-- can neither drop nor disable the audit log's append-only triggers.
CREATE ROLE piivault_owner NOLOGIN;                      -- owns every table
CREATE ROLE piivault_migrate LOGIN IN ROLE piivault_owner; -- runs `piivault db upgrade`, `keys bootstrap`
CREATE ROLE piivault_app LOGIN;                          -- API workers, jobs runner, extract worker
CREATE ROLE piivault_sequencer LOGIN;                    -- `piivault audit sequence --loop`
CREATE ROLE piivault_auditor LOGIN;                      -- `piivault audit verify`, read-only
CREATE SCHEMA piivault AUTHORIZATION piivault_owner;
REVOKE ALL ON SCHEMA piivault FROM PUBLIC;
GRANT USAGE ON SCHEMA piivault TO piivault_app, piivault_sequencer, piivault_auditor;
ALTER ROLE piivault_migrate SET role = piivault_owner;   -- what it creates belongs to the owner
ALTER ROLE piivault_migrate SET search_path = piivault;
ALTER ROLE piivault_app SET search_path = piivault;
ALTER ROLE piivault_sequencer SET search_path = piivault;
ALTER ROLE piivault_auditor SET search_path = piivault;
