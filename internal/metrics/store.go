package metrics

import (
	"context"
	"time"

	"fledge.dev/fledge/api/v1alpha1"

	"fledge.dev/fledge/internal/store"
)

// InstrumentStore returns s with the latency of its operations recorded
// in fledge_store_operation_duration_seconds. A Store method added later
// and not overridden here passes through unmeasured (the embedded Store).
func (m *Metrics) InstrumentStore(s store.Store) store.Store {
	return &instrumented{Store: s, m: m}
}

type instrumented struct {
	store.Store
	m *Metrics
}

// timed starts timing op; the returned function records it with the
// result its error points to.
func (i *instrumented) timed(op string) func(*error) {
	start := time.Now()
	return func(err *error) {
		result := "ok"
		if *err != nil {
			result = "error"
		}
		i.m.storeDuration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
	}
}

func (i *instrumented) PutResource(ctx context.Context, r store.Resource) (_ store.Resource, _ bool, err error) {
	defer i.timed("PutResource")(&err)
	return i.Store.PutResource(ctx, r)
}

func (i *instrumented) GetResource(ctx context.Context, kind, name string) (_ store.Resource, err error) {
	defer i.timed("GetResource")(&err)
	return i.Store.GetResource(ctx, kind, name)
}

func (i *instrumented) ListResources(ctx context.Context, kind string) (_ []store.Resource, err error) {
	defer i.timed("ListResources")(&err)
	return i.Store.ListResources(ctx, kind)
}

func (i *instrumented) DeleteResource(ctx context.Context, kind, name string) (err error) {
	defer i.timed("DeleteResource")(&err)
	return i.Store.DeleteResource(ctx, kind, name)
}

func (i *instrumented) CreateDeployment(ctx context.Context, d store.Deployment, events ...store.Event) (_ store.Deployment, err error) {
	defer i.timed("CreateDeployment")(&err)
	return i.Store.CreateDeployment(ctx, d, events...)
}

func (i *instrumented) GetDeployment(ctx context.Context, id int64) (_ store.Deployment, err error) {
	defer i.timed("GetDeployment")(&err)
	return i.Store.GetDeployment(ctx, id)
}

func (i *instrumented) ListDeployments(ctx context.Context, f store.DeploymentFilter) (_ []store.Deployment, err error) {
	defer i.timed("ListDeployments")(&err)
	return i.Store.ListDeployments(ctx, f)
}

func (i *instrumented) CountDeployments(ctx context.Context, f store.DeploymentFilter) (_ int, err error) {
	defer i.timed("CountDeployments")(&err)
	return i.Store.CountDeployments(ctx, f)
}

func (i *instrumented) UpdateDeployment(ctx context.Context, d store.Deployment, owner string, events ...store.Event) (_ store.Deployment, err error) {
	defer i.timed("UpdateDeployment")(&err)
	return i.Store.UpdateDeployment(ctx, d, owner, events...)
}

func (i *instrumented) RequestCancel(ctx context.Context, id int64) (err error) {
	defer i.timed("RequestCancel")(&err)
	return i.Store.RequestCancel(ctx, id)
}

func (i *instrumented) LiveDeployment(ctx context.Context, pipeline string) (_ store.Deployment, err error) {
	defer i.timed("LiveDeployment")(&err)
	return i.Store.LiveDeployment(ctx, pipeline)
}

func (i *instrumented) LiveDeploymentID(ctx context.Context, pipeline string) (_ int64, err error) {
	defer i.timed("LiveDeploymentID")(&err)
	return i.Store.LiveDeploymentID(ctx, pipeline)
}

func (i *instrumented) ClaimDeployment(ctx context.Context, owner string, ttl time.Duration) (_ store.Deployment, _ bool, err error) {
	defer i.timed("ClaimDeployment")(&err)
	return i.Store.ClaimDeployment(ctx, owner, ttl)
}

func (i *instrumented) RenewLease(ctx context.Context, id int64, owner string, ttl time.Duration) (err error) {
	defer i.timed("RenewLease")(&err)
	return i.Store.RenewLease(ctx, id, owner, ttl)
}

func (i *instrumented) ReleaseLease(ctx context.Context, id int64, owner string) (err error) {
	defer i.timed("ReleaseLease")(&err)
	return i.Store.ReleaseLease(ctx, id, owner)
}

func (i *instrumented) AppendEvents(ctx context.Context, events ...store.Event) (err error) {
	defer i.timed("AppendEvents")(&err)
	return i.Store.AppendEvents(ctx, events...)
}

func (i *instrumented) ListEvents(ctx context.Context, id int64, afterSeq int64) (_ []store.Event, err error) {
	defer i.timed("ListEvents")(&err)
	return i.Store.ListEvents(ctx, id, afterSeq)
}

func (i *instrumented) AddDecision(ctx context.Context, d store.Decision, need int, e store.Event) (err error) {
	defer i.timed("AddDecision")(&err)
	return i.Store.AddDecision(ctx, d, need, e)
}

func (i *instrumented) ListDecisions(ctx context.Context, id int64) (_ []store.Decision, err error) {
	defer i.timed("ListDecisions")(&err)
	return i.Store.ListDecisions(ctx, id)
}

func (i *instrumented) GetDeploymentView(ctx context.Context, id, knownVersion int64) (_ store.DeploymentView, err error) {
	defer i.timed("GetDeploymentView")(&err)
	return i.Store.GetDeploymentView(ctx, id, knownVersion)
}

func (i *instrumented) ListMeasurements(ctx context.Context, id int64) (_ []v1alpha1.Measurement, err error) {
	defer i.timed("ListMeasurements")(&err)
	return i.Store.ListMeasurements(ctx, id)
}

func (i *instrumented) ListDecisionsOf(ctx context.Context, ids []int64) (_ map[int64][]store.Decision, err error) {
	defer i.timed("ListDecisionsOf")(&err)
	return i.Store.ListDecisionsOf(ctx, ids)
}

func (i *instrumented) CreateToken(ctx context.Context, t store.Token) (err error) {
	defer i.timed("CreateToken")(&err)
	return i.Store.CreateToken(ctx, t)
}

func (i *instrumented) TokenByHash(ctx context.Context, hash []byte) (_ store.Token, err error) {
	defer i.timed("TokenByHash")(&err)
	return i.Store.TokenByHash(ctx, hash)
}

func (i *instrumented) ListTokens(ctx context.Context) (_ []store.Token, err error) {
	defer i.timed("ListTokens")(&err)
	return i.Store.ListTokens(ctx)
}

func (i *instrumented) DeleteToken(ctx context.Context, name string) (err error) {
	defer i.timed("DeleteToken")(&err)
	return i.Store.DeleteToken(ctx, name)
}

func (i *instrumented) AppendAudit(ctx context.Context, e store.AuditEntry) (_ store.AuditEntry, err error) {
	defer i.timed("AppendAudit")(&err)
	return i.Store.AppendAudit(ctx, e)
}

func (i *instrumented) ListAudit(ctx context.Context, f store.AuditFilter) (_ []store.AuditEntry, err error) {
	defer i.timed("ListAudit")(&err)
	return i.Store.ListAudit(ctx, f)
}

func (i *instrumented) PutSecret(ctx context.Context, s store.Secret) (_ bool, err error) {
	defer i.timed("PutSecret")(&err)
	return i.Store.PutSecret(ctx, s)
}

func (i *instrumented) GetSecret(ctx context.Context, name string) (_ store.Secret, err error) {
	defer i.timed("GetSecret")(&err)
	return i.Store.GetSecret(ctx, name)
}

func (i *instrumented) ListSecrets(ctx context.Context) (_ []store.Secret, err error) {
	defer i.timed("ListSecrets")(&err)
	return i.Store.ListSecrets(ctx)
}

func (i *instrumented) DeleteSecret(ctx context.Context, name string) (err error) {
	defer i.timed("DeleteSecret")(&err)
	return i.Store.DeleteSecret(ctx, name)
}

func (i *instrumented) RecordDelivery(ctx context.Context, key string, at time.Time) (err error) {
	defer i.timed("RecordDelivery")(&err)
	return i.Store.RecordDelivery(ctx, key, at)
}

func (i *instrumented) Ping(ctx context.Context) (err error) {
	defer i.timed("Ping")(&err)
	return i.Store.Ping(ctx)
}

func (i *instrumented) ClaimNotifications(ctx context.Context, owner string, ttl time.Duration, limit int) (_ []store.Notification, err error) {
	defer i.timed("ClaimNotifications")(&err)
	return i.Store.ClaimNotifications(ctx, owner, ttl, limit)
}

func (i *instrumented) FinishNotification(ctx context.Context, id int64, owner string, attempts []store.NotificationAttempt, done bool, next time.Time) (err error) {
	defer i.timed("FinishNotification")(&err)
	return i.Store.FinishNotification(ctx, id, owner, attempts, done, next)
}

func (i *instrumented) ListNotifications(ctx context.Context, deploymentID int64) (_ []store.Notification, _ []store.NotificationAttempt, err error) {
	defer i.timed("ListNotifications")(&err)
	return i.Store.ListNotifications(ctx, deploymentID)
}

func (i *instrumented) PendingNotifications(ctx context.Context) (_ int, err error) {
	defer i.timed("PendingNotifications")(&err)
	return i.Store.PendingNotifications(ctx)
}

func (i *instrumented) TokensRevision(ctx context.Context) (_ int64, err error) {
	defer i.timed("TokensRevision")(&err)
	return i.Store.TokensRevision(ctx)
}
