-- das-evidence: the Snowflake side of the evidence collector.
--
-- Creates a read-only role, a key-pair service user, an X-SMALL warehouse and a
-- resource monitor that caps its credits. The role sees SNOWFLAKE.ACCOUNT_USAGE
-- through three SNOWFLAKE database roles only: no IMPORTED PRIVILEGES on the
-- SNOWFLAKE database, no access to any data, no ownership of anything.
--
-- Run it once, as a user that holds ACCOUNTADMIN (each part switches to the
-- least role that can do it). It is idempotent: IF NOT EXISTS everywhere.
-- Before running, replace the one placeholder:
--   <RSA_PUBLIC_KEY>  the public key body of the collector's key pair, without the
--                     -----BEGIN/END PUBLIC KEY----- lines (docs/OPERATIONS.md, step 1)
--
-- What the collector reads (src/das_evidence/collectors/snowflake/), and which
-- SNOWFLAKE database role grants SELECT on it, following Snowflake's table
-- "Database role required to access ACCOUNT_USAGE views"
-- (https://docs.snowflake.com/en/sql-reference/snowflake-db-roles):
--
--   GOVERNANCE_VIEWER  ACCESS_HISTORY, QUERY_HISTORY, MASKING_POLICIES,
--                      ROW_ACCESS_POLICIES, POLICY_REFERENCES, TAG_REFERENCES,
--                      PASSWORD_POLICIES, SESSION_POLICIES, NETWORK_POLICIES
--   SECURITY_VIEWER    LOGIN_HISTORY, SESSIONS, USERS, ROLES,
--                      GRANTS_TO_ROLES, GRANTS_TO_USERS
--   OBJECT_VIEWER      TABLES, PROCEDURES
--
-- and, for the trust_center_findings stream, one SNOWFLAKE application role: Trust
-- Center's own docs say reading its findings takes TRUST_CENTER_VIEWER (or
-- TRUST_CENTER_ADMIN, which can also change scanners; not wanted). The database-role
-- table above does not list the view.
-- (https://docs.snowflake.com/en/user-guide/ui-trust-center, "Required roles")
--   TRUST_CENTER_VIEWER  TRUST_CENTER_FINDINGS
--
-- Snowflake moves views between these roles now and then; the checks at the end
-- select from every view as the collector role and fail on any it cannot see.
-- Only if one fails, grant the database role the docs now list for that view.
-- USAGE_VIEWER is not needed and not granted.
--
-- The policy-state snapshot also archives SHOW/DESCRIBE results (section 4b).
-- A SHOW lists only the objects the role holds a privilege on ("The command only
-- returns objects for which the current user's current role has been granted at
-- least one access privilege"; MANAGE GRANTS would show every object, and is far
-- too much for a collector). What each command needs:
--
--   SHOW PARAMETERS IN ACCOUNT   nothing: any role lists the account's parameters
--   SHOW WAREHOUSES              MONITOR on each warehouse (read-only: usage and
--                                queries, no use of the warehouse)
--   SHOW RESOURCE MONITORS       MONITOR on each resource monitor
--   SHOW TASKS IN ACCOUNT        MONITOR on the tasks (ALL / FUTURE TASKS IN DATABASE)
--   SHOW SECURITY INTEGRATIONS   USAGE on each security integration (grants no
--                                login and no data; only OWNERSHIP can alter it)
--   SHOW STAGES IN ACCOUNT       a privilege on each stage; every stage privilege
--                                (USAGE, READ) also reads the stage's files, so this
--                                script grants none: the snapshot's predicate says
--                                the result covers only stages the role can see
--   SHOW PARAMETERS ... IN USER  OWNERSHIP of the user (or a role above its owner);
--   DESCRIBE USER                not granted here: these two stay not_evidenced
--                                unless you choose to run them with such a role
--
-- The snapshot records a command the role cannot run as not_evidenced, naming
-- the privilege; `evidence doctor` lists what is missing.

-- 1. Role and service user ----------------------------------------------------
USE ROLE USERADMIN;

CREATE ROLE IF NOT EXISTS EVIDENCE_COLLECTOR_ROLE
  COMMENT = 'das-evidence: read ACCOUNT_USAGE audit history and policy state';

-- Custom roles roll up to SYSADMIN, as Snowflake recommends.
GRANT ROLE EVIDENCE_COLLECTOR_ROLE TO ROLE SYSADMIN;

-- TYPE = SERVICE: no password, no MFA prompts, key-pair authentication only.
-- DEFAULT_SECONDARY_ROLES = (): the session has this one role and nothing more.
CREATE USER IF NOT EXISTS EVIDENCE_COLLECTOR
  TYPE = SERVICE
  DEFAULT_ROLE = EVIDENCE_COLLECTOR_ROLE
  DEFAULT_WAREHOUSE = EVIDENCE_WH
  DEFAULT_SECONDARY_ROLES = ()
  RSA_PUBLIC_KEY = '<RSA_PUBLIC_KEY>'
  COMMENT = 'das-evidence collector (Kubernetes CronJob)';

GRANT ROLE EVIDENCE_COLLECTOR_ROLE TO USER EVIDENCE_COLLECTOR;

-- 2. Warehouse ----------------------------------------------------------------
USE ROLE SYSADMIN;

CREATE WAREHOUSE IF NOT EXISTS EVIDENCE_WH
  WAREHOUSE_SIZE = XSMALL
  AUTO_SUSPEND = 60
  AUTO_RESUME = TRUE
  INITIALLY_SUSPENDED = TRUE
  STATEMENT_TIMEOUT_IN_SECONDS = 3600
  COMMENT = 'das-evidence collector';

GRANT USAGE ON WAREHOUSE EVIDENCE_WH TO ROLE EVIDENCE_COLLECTOR_ROLE;

-- 3. Resource monitor (only ACCOUNTADMIN can create and assign one) ------------
-- A nightly run uses minutes of X-SMALL time (1 credit per hour). When the quota
-- is used up the warehouse suspends; nothing is lost: the next run after a reset
-- or a raised quota collects every window that is due.
USE ROLE ACCOUNTADMIN;

CREATE RESOURCE MONITOR IF NOT EXISTS EVIDENCE_RM
  WITH CREDIT_QUOTA = 30
  FREQUENCY = MONTHLY
  START_TIMESTAMP = IMMEDIATELY
  TRIGGERS ON 75 PERCENT DO NOTIFY
           ON 100 PERCENT DO SUSPEND
           ON 110 PERCENT DO SUSPEND_IMMEDIATE;

ALTER WAREHOUSE EVIDENCE_WH SET RESOURCE_MONITOR = EVIDENCE_RM;

-- 4. ACCOUNT_USAGE through SNOWFLAKE database roles (needs ACCOUNTADMIN) -------
GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE;
GRANT DATABASE ROLE SNOWFLAKE.SECURITY_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE;
GRANT DATABASE ROLE SNOWFLAKE.OBJECT_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE;

-- 4b. What SHOW lists: MONITOR on warehouses, resource monitors and tasks ------
-- The collector's own warehouse and monitor, here; repeat for each of yours:
GRANT MONITOR ON WAREHOUSE EVIDENCE_WH TO ROLE EVIDENCE_COLLECTOR_ROLE;
GRANT MONITOR ON RESOURCE MONITOR EVIDENCE_RM TO ROLE EVIDENCE_COLLECTOR_ROLE;
-- GRANT MONITOR ON WAREHOUSE <warehouse> TO ROLE EVIDENCE_COLLECTOR_ROLE;
-- GRANT MONITOR ON RESOURCE MONITOR <monitor> TO ROLE EVIDENCE_COLLECTOR_ROLE;
-- GRANT MONITOR ON ALL TASKS IN DATABASE <database> TO ROLE EVIDENCE_COLLECTOR_ROLE;
-- GRANT MONITOR ON FUTURE TASKS IN DATABASE <database> TO ROLE EVIDENCE_COLLECTOR_ROLE;
-- GRANT USAGE ON INTEGRATION <security integration> TO ROLE EVIDENCE_COLLECTOR_ROLE;

-- Trust Center findings (stream trust_center_findings, check trust-center-findings-open).
-- Without this grant that stream fails naming it and the check is not_evidenced; an
-- account that does not use Trust Center sets [streams.trust_center_findings]
-- enabled = false instead. If the SELECT check below still fails with the role granted,
-- Snowflake now lists the view under a database role: grant that one (the table above).
GRANT APPLICATION ROLE SNOWFLAKE.TRUST_CENTER_VIEWER TO ROLE EVIDENCE_COLLECTOR_ROLE;

-- Optional: allow the user to sign in only from the cluster's egress addresses.
-- CREATE NETWORK POLICY IF NOT EXISTS EVIDENCE_COLLECTOR_NP
--   ALLOWED_IP_LIST = ('<egress IP>/32');
-- ALTER USER EVIDENCE_COLLECTOR SET NETWORK_POLICY = EVIDENCE_COLLECTOR_NP;

-- 5. Checks: every view the collector reads, as the collector role ------------
-- Each statement fails with "does not exist or not authorized" if the role
-- cannot see the view; LIMIT 0 reads no rows.
USE ROLE EVIDENCE_COLLECTOR_ROLE;
USE WAREHOUSE EVIDENCE_WH;

SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.LOGIN_HISTORY LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.SESSIONS LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.TRUST_CENTER_FINDINGS LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_ROLES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.GRANTS_TO_USERS LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.USERS LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.ROLES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.MASKING_POLICIES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.ROW_ACCESS_POLICIES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.POLICY_REFERENCES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.TAG_REFERENCES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.NETWORK_POLICIES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.PASSWORD_POLICIES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.SESSION_POLICIES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.TABLES LIMIT 0;
SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.PROCEDURES LIMIT 0;

-- The SHOW commands of the snapshot: each should list what section 4b granted.
SHOW PARAMETERS IN ACCOUNT;
SHOW WAREHOUSES;
SHOW RESOURCE MONITORS;
SHOW TASKS IN ACCOUNT;
SHOW SECURITY INTEGRATIONS;
SHOW STAGES IN ACCOUNT;

-- And the role holds nothing else: expect the three database roles, the
-- TRUST_CENTER_VIEWER application role, USAGE and MONITOR on EVIDENCE_WH, MONITOR on
-- EVIDENCE_RM and the MONITOR/USAGE grants of 4b.
SHOW GRANTS TO ROLE EVIDENCE_COLLECTOR_ROLE;
