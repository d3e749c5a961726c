package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The JSON arrays a driver's GetDeploymentView aggregates in SQL, one
// object per row, in any order (DecodeViewLists sorts them by id: an
// aggregate's ORDER BY costs SQLite a temporary b-tree per list); times
// are microseconds since the Unix epoch and booleans 0 or 1, the same in
// every driver.
type (
	viewDecision struct {
		ID       int64  `json:"id"`
		Stage    string `json:"stage"`
		User     string `json:"user"`
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
		At       int64  `json:"at"`
	}
	viewNotification struct {
		ID            int64  `json:"id"`
		EventSeq      int64  `json:"eventSeq"`
		Event         string `json:"event"`
		CreatedAt     int64  `json:"createdAt"`
		Done          int    `json:"done"`
		Attempts      int    `json:"attempts"`
		NextAttemptAt int64  `json:"nextAttemptAt"`
	}
	viewAttempt struct {
		ID             int64  `json:"id"`
		NotificationID int64  `json:"notificationId"`
		Receiver       string `json:"receiver"`
		Sink           string `json:"sink"`
		Attempt        int    `json:"attempt"`
		At             int64  `json:"at"`
		Result         string `json:"result"`
		Detail         string `json:"detail"`
	}
)

// DecodeViewLists sets v's Decisions, Notifications and Attempts, of
// v.Deployment, from the JSON arrays of GetDeploymentView's statement,
// each in the order of its rows' ids: decisions of objects {id, stage,
// user, decision, reason, at}, notifications of {id, eventSeq, event,
// createdAt, done, attempts, nextAttemptAt} and attempts of {id,
// notificationId, receiver, sink, attempt, at, result, detail}. An empty
// array may also be empty text (SQL NULL).
func DecodeViewLists(v *DeploymentView, decisions, notifications, attempts []byte) error {
	id := v.Deployment.ID
	var ds []viewDecision
	var ns []viewNotification
	var as []viewAttempt
	for _, l := range []struct {
		what string
		text []byte
		into any
	}{{"decisions", decisions, &ds}, {"notifications", notifications, &ns}, {"notification attempts", attempts, &as}} {
		if len(l.text) == 0 {
			continue
		}
		if err := json.Unmarshal(l.text, l.into); err != nil {
			return fmt.Errorf("decode %s of deployment %d: %w", l.what, id, err)
		}
	}
	slices.SortFunc(ds, func(a, b viewDecision) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(ns, func(a, b viewNotification) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(as, func(a, b viewAttempt) int { return cmp.Compare(a.ID, b.ID) })
	v.Decisions = make([]Decision, len(ds))
	for i, d := range ds {
		v.Decisions[i] = Decision{DeploymentID: id, Stage: d.Stage, User: d.User, Decision: d.Decision, Reason: d.Reason, At: fromMicros(d.At)}
	}
	v.Notifications, v.Attempts = nil, nil
	for _, n := range ns {
		v.Notifications = append(v.Notifications, Notification{
			ID: n.ID, DeploymentID: id, EventSeq: n.EventSeq, Event: n.Event, CreatedAt: fromMicros(n.CreatedAt),
			Done: n.Done != 0, Attempts: n.Attempts, NextAttemptAt: fromMicros(n.NextAttemptAt),
		})
	}
	for _, a := range as {
		v.Attempts = append(v.Attempts, NotificationAttempt{
			NotificationID: a.NotificationID, Receiver: a.Receiver, Sink: a.Sink, Attempt: a.Attempt,
			At: fromMicros(a.At), Result: a.Result, Detail: a.Detail,
		})
	}
	return nil
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }
