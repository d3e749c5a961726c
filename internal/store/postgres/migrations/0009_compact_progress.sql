-- Rollout progress (events of type RolloutProgress, one per change of a
-- workload's status) is for people watching a release. A finished
-- deployment keeps only the newest line of each workload (the message up
-- to its second ': ') in each stage; UpdateDeployment compacts a
-- deployment when it ends, and this does it once for those that ended
-- before.
DELETE FROM events
WHERE type = 'RolloutProgress'
    AND deployment_id IN (SELECT id FROM deployments WHERE finished)
    AND (deployment_id, seq) NOT IN (
        SELECT deployment_id, max(seq) FROM events WHERE type = 'RolloutProgress'
        GROUP BY deployment_id, stage, split_part(message, ': ', 1), split_part(message, ': ', 2));
