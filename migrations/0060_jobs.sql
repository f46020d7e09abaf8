-- 0060_jobs.sql — job ownership, deadlines and the user who asked.
--
-- runtime/jobs.c sweeps the jobs table every 2 s on every instance:
--   * a QUEUED/RUNNING job past its deadline_at becomes TIMEOUT (error_code JOB_TIMEOUT) and the process
--     running it stops the work;
--   * a QUEUED/RUNNING job whose owning process is gone becomes FAILED (error_code JOB_INTERRUPTED). Jobs run
--     inside the process that accepted them (a backtest replays on that process's loop), so there is nothing
--     to hand a job to: it is failed, never re-queued, and the operator submits it again.
-- "Gone" is decided from the owner columns below: the owner is another process on the same host and PID
-- namespace (owner_node equal to ours) whose pid no longer exists — or is our own pid, reused — or its owner
-- has not refreshed last_heartbeat_at (every sweep, 2 s) for 30 s, wherever it ran. An instance never fails a
-- job whose owner still heartbeats it, so several instances on one database leave each other's jobs alone.
--
-- Every job gets a deadline at creation: backtest.c sets it from GATEHOUSE_JOB_DEADLINE_S (default 600 s) or
-- the request's deadline_s; the column default below covers any other writer (one hour).

ALTER TABLE jobs
    ADD COLUMN owner_instance text NULL,  -- the scheduler instance id (uuid) of the process running the job
    ADD COLUMN owner_host     text NULL,  -- its host name (for people; liveness uses node + pid)
    ADD COLUMN owner_node     text NULL,  -- '<boot id>/<pid namespace>': where owner_pid names a process
    ADD COLUMN owner_pid      integer NULL,
    -- the signed-in user whose request created the job; NULL for jobs the runtime started by itself
    ADD COLUMN user_id        uuid NULL REFERENCES users (id) ON DELETE SET NULL;

ALTER TABLE jobs ALTER COLUMN deadline_at SET DEFAULT gh_now() + interval '1 hour';

-- Jobs still open from before this migration get the same backstop.
UPDATE jobs SET deadline_at = created_at + interval '1 hour'
 WHERE deadline_at IS NULL AND state IN ('QUEUED', 'RUNNING');

-- The sweep's heartbeat and recovery scans: only open jobs.
CREATE INDEX jobs_active_owner_idx ON jobs (owner_instance) WHERE state IN ('QUEUED', 'RUNNING');
