package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// podsGVR lists the pods of a workload when explaining why it is not ready.
var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// maxPodHints bounds how many pods a RolloutError describes per workload.
const maxPodHints = 3

// RolloutError reports the workloads whose rollout did not finish, with
// their last status and a few of their pods that are not ready.
type RolloutError struct {
	Namespace string
	Workloads []WorkloadStatus
	// Err is the context's cause when the wait ran out of time, or wraps
	// ErrRolloutFailed when a workload can no longer progress.
	Err error
	// Waited is how long the wait lasted when it timed out.
	Waited time.Duration
}

// WorkloadStatus is the last seen rollout status of one workload.
type WorkloadStatus struct {
	// Ref is "deployment/<name>", "statefulset/<name>" or
	// "daemonset/<name>".
	Ref    string
	Status string
	// Pods describes up to three of its pods that are not ready: those of
	// the current revision when they could be told apart (NewPods).
	Pods    []string `json:",omitempty"`
	NewPods bool     `json:",omitempty"`
}

// Error says what is wrong first: for each workload, its new pods that
// are not ready and why, then its rollout status, then why the wait
// stopped (a deadline is said in words, never as the context's error).
func (e *RolloutError) Error() string {
	parts := make([]string, len(e.Workloads))
	for i, w := range e.Workloads {
		switch {
		case len(w.Pods) > 0:
			parts[i] = fmt.Sprintf("%s in namespace %s: %s not ready: %s (rollout status: %s)", w.Ref, e.Namespace, podCount(w), strings.Join(w.Pods, "; "), w.Status)
		default:
			parts[i] = fmt.Sprintf("%s in namespace %s: %s", w.Ref, e.Namespace, w.Status)
		}
	}
	msg := strings.Join(parts, "; ")
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) && e.Waited > 0:
		return fmt.Sprintf("%s; still not ready after %s, when the wait timed out", msg, e.Waited)
	case errors.Is(e.Err, context.DeadlineExceeded):
		return msg + "; still not ready when the wait timed out"
	case errors.Is(e.Err, ErrRolloutFailed):
		return msg + ": " + ErrRolloutFailed.Error()
	case e.Err != nil:
		return msg + "; stopped waiting: " + e.Err.Error()
	}
	return msg
}

// podCount names the pods described: "pod" or "3 new pods".
func podCount(w WorkloadStatus) string {
	n := len(w.Pods)
	more := ""
	if n > 0 && w.Pods[n-1] == "…" {
		n--
		more = "more than "
	}
	what := "pods"
	if w.NewPods {
		what = "new pods"
	}
	if n == 1 && more == "" {
		what = strings.TrimSuffix(what, "s")
	}
	return fmt.Sprintf("%s%d %s", more, n, what)
}

// Unwrap returns Err.
func (e *RolloutError) Unwrap() error { return e.Err }

// workload is one Deployment, StatefulSet or DaemonSet being waited for.
type workload struct {
	ref    string
	name   string
	ri     dynamic.ResourceInterface
	live   *unstructured.Unstructured
	status string
	done   bool
}

// WaitRollout waits until every Deployment, StatefulSet and DaemonSet among
// objs has finished rolling out in ns, judged as `kubectl rollout status`
// does: the controller has observed the latest generation and the updated
// replicas are all available (ready, for a StatefulSet). progress, if not
// nil, receives a line such as "deployment/web: 2 of 3 updated replicas are
// available" whenever a workload's status changes. When ctx ends first, the
// *RolloutError names each workload not ready and its last status.
func (c *Client) WaitRollout(ctx context.Context, ns string, objs []*unstructured.Unstructured, progress func(msg string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	start := time.Now()
	var ws []*workload
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != appsv1.GroupName || !isWorkloadKind(gvk.Kind) {
			continue
		}
		ri, _, err := c.resource(ctx, ns, gvk)
		if err != nil {
			return fmt.Errorf("wait for rollout of %s/%s: %w", gvk.Kind, o.GetName(), err)
		}
		ws = append(ws, &workload{
			ref:    strings.ToLower(gvk.Kind) + "/" + o.GetName(),
			name:   o.GetName(),
			ri:     ri,
			status: "not read yet",
		})
	}
	// Each workload is watched, so a status change is seen as soon as the
	// controller writes it; the ticker is a fallback for a watch that is
	// broken (an API server restarting) and cannot be opened again at once.
	changed := make(chan struct{}, 1)
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	for _, w := range ws {
		go watchChanges(wctx, w.ri, w.name, changed)
	}
	t := time.NewTicker(rolloutFallbackPoll)
	defer t.Stop()
	for {
		pending := 0
		for _, w := range ws {
			if w.done {
				continue
			}
			live, err := getObject(ctx, w.ri, w.name)
			switch {
			case ctx.Err() != nil:
				return c.rolloutError(ctx, ns, ws, context.Cause(ctx), start)
			case apierrors.IsNotFound(err):
				w.live, w.status = nil, "not found"
			case err != nil:
				return fmt.Errorf("wait for rollout of %s in namespace %s: %w", w.ref, ns, err)
			default:
				w.live = live
				msg, done, failed := rolloutStatus(live)
				if failed {
					w.status = msg
					progress(w.ref + ": " + msg)
					return c.rolloutError(ctx, ns, []*workload{w}, ErrRolloutFailed, start)
				}
				if msg != w.status {
					progress(w.ref + ": " + msg)
				}
				w.status, w.done = msg, done
			}
			if !w.done {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return c.rolloutError(ctx, ns, ws, context.Cause(ctx), start)
		case <-changed:
		case <-t.C:
		}
	}
}

// rolloutFallbackPoll is how often WaitRollout reads the workloads even
// when their watches report nothing.
const rolloutFallbackPoll = 2 * time.Second

// watchChanges watches the object name of ri and signals changed (without
// blocking: one pending signal is enough) on every event, until ctx ends.
// A watch that fails or closes is opened again after a short pause.
func watchChanges(ctx context.Context, ri dynamic.ResourceInterface, name string, changed chan<- struct{}) {
	opts := metav1.ListOptions{}
	if name != "" {
		opts.FieldSelector = "metadata.name=" + name
	}
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		w, err := ri.Watch(ctx, opts)
		if err == nil {
			// A change between the caller's last read and the watch's
			// start would not be reported: read once more now.
			signal()
			for range w.ResultChan() {
				signal()
			}
			w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollInterval):
		}
		// Whatever happened while the watch was down is read now.
		signal()
	}
}

// isWorkloadKind reports whether kind is a workload of group apps whose
// rollout WaitRollout follows.
func isWorkloadKind(kind string) bool {
	return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet"
}

// rolloutError builds the error for the workloads not done, describing a
// few of their pods. It may be called after ctx ended, so it reads the pods
// with a short context of its own.
func (c *Client) rolloutError(ctx context.Context, ns string, ws []*workload, cause error, start time.Time) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e := &RolloutError{Namespace: ns, Err: cause}
	if dl, ok := ctx.Deadline(); ok && errors.Is(cause, context.DeadlineExceeded) {
		e.Waited = dl.Sub(start).Round(time.Second)
	}
	for _, w := range ws {
		if w.done {
			continue
		}
		pods, fresh := c.podHints(dctx, ns, w.live)
		e.Workloads = append(e.Workloads, WorkloadStatus{Ref: w.ref, Status: w.status, Pods: pods, NewPods: fresh})
	}
	return e
}

// podHints describes up to maxPodHints pods of a workload that are not
// ready, with their conditions. For a Deployment it describes only the
// pods of its current revision (newPods), when that revision's ReplicaSet
// can be found: old pods that wait for their replacements are not the
// problem. It is best effort: on any error it says nothing.
func (c *Client) podHints(ctx context.Context, ns string, live *unstructured.Unstructured) (hints []string, newPods bool) {
	if live == nil {
		return nil, false
	}
	raw, ok, _ := unstructured.NestedMap(live.Object, "spec", "selector")
	if !ok {
		return nil, false
	}
	var sel metav1.LabelSelector
	if runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &sel) != nil {
		return nil, false
	}
	selector, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		return nil, false
	}
	hash := ""
	if live.GetKind() == "Deployment" {
		hash = c.currentTemplateHash(ctx, ns, live, selector.String())
	}
	list, err := c.dyn.Resource(podsGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, false
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].GetName() < list.Items[j].GetName() })
	for _, item := range list.Items {
		var pod corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(item.Object, &pod) != nil || podReady(&pod) {
			continue
		}
		if hash != "" && pod.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash {
			continue
		}
		if len(hints) == maxPodHints {
			hints = append(hints, "…")
			break
		}
		hints = append(hints, "pod/"+pod.Name+": "+podProblem(&pod))
	}
	return hints, hash != ""
}

// currentTemplateHash returns the pod-template-hash of the Deployment's
// ReplicaSet of its current revision, or "" when it cannot be told.
func (c *Client) currentTemplateHash(ctx context.Context, ns string, d *unstructured.Unstructured, selector string) string {
	rev := d.GetAnnotations()[revisionAnnotation]
	if rev == "" {
		return ""
	}
	list, err := c.dyn.Resource(replicaSetsGVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	for _, rs := range list.Items {
		owned := false
		for _, ref := range rs.GetOwnerReferences() {
			owned = owned || ref.UID == d.GetUID()
		}
		if owned && rs.GetAnnotations()[revisionAnnotation] == rev {
			return rs.GetLabels()[appsv1.DefaultDeploymentUniqueLabelKey]
		}
	}
	return ""
}

// revisionAnnotation is the revision the Deployment controller gives a
// Deployment and its ReplicaSets.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// rolloutStatus judges a workload like `kubectl rollout status`: a message,
// whether the rollout is done, and whether it has failed for good.
func rolloutStatus(live *unstructured.Unstructured) (msg string, done, failed bool) {
	switch live.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &d); err != nil {
			return "unreadable status: " + err.Error(), false, false
		}
		return deploymentStatus(&d)
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &s); err != nil {
			return "unreadable status: " + err.Error(), false, false
		}
		msg, done := statefulSetStatus(&s)
		return msg, done, false
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &d); err != nil {
			return "unreadable status: " + err.Error(), false, false
		}
		msg, done := daemonSetStatus(&d)
		return msg, done, false
	}
	return "not a workload", true, false
}

// deploymentStatus follows kubectl's DeploymentStatusViewer.
func deploymentStatus(d *appsv1.Deployment) (string, bool, bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the spec update to be observed", false, false
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
			return fmt.Sprintf("exceeded its progress deadline (%d of %d updated replicas are available)", d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false, true
		}
	}
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	switch st := d.Status; {
	case st.UpdatedReplicas < desired:
		return fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, desired), false, false
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas), false, false
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas), false, false
	}
	return fmt.Sprintf("successfully rolled out (%d of %d updated replicas are available)", d.Status.AvailableReplicas, desired), true, false
}

// statefulSetStatus follows kubectl's StatefulSetStatusViewer; with the
// OnDelete strategy, where kubectl gives up, it waits for ready replicas.
func statefulSetStatus(s *appsv1.StatefulSet) (string, bool) {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "waiting for the spec update to be observed", false
	}
	desired := int32(1)
	if s.Spec.Replicas != nil {
		desired = *s.Spec.Replicas
	}
	if s.Status.ReadyReplicas < desired {
		return fmt.Sprintf("%d of %d replicas are ready", s.Status.ReadyReplicas, desired), false
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return fmt.Sprintf("%d of %d replicas are ready (OnDelete strategy: pods change only when deleted)", s.Status.ReadyReplicas, desired), true
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		want := desired - *ru.Partition
		if s.Status.UpdatedReplicas < want {
			return fmt.Sprintf("partitioned rollout: %d out of %d new pods have been updated", s.Status.UpdatedReplicas, want), false
		}
		return fmt.Sprintf("partitioned rollout complete: %d new pods have been updated", s.Status.UpdatedReplicas), true
	}
	if s.Status.UpdateRevision != s.Status.CurrentRevision {
		return fmt.Sprintf("%d of %d pods updated to revision %s", s.Status.UpdatedReplicas, desired, s.Status.UpdateRevision), false
	}
	return fmt.Sprintf("successfully rolled out (%d pods at revision %s)", s.Status.CurrentReplicas, s.Status.CurrentRevision), true
}

// daemonSetStatus follows kubectl's DaemonSetStatusViewer; with the OnDelete
// strategy, where kubectl gives up, it waits for available pods.
func daemonSetStatus(d *appsv1.DaemonSet) (string, bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the spec update to be observed", false
	}
	st := d.Status
	if d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return fmt.Sprintf("%d out of %d new pods have been updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d updated pods are available", st.NumberAvailable, st.DesiredNumberScheduled), false
	}
	return fmt.Sprintf("successfully rolled out (%d of %d pods are available)", st.NumberAvailable, st.DesiredNumberScheduled), true
}

// podReady reports whether the pod's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProblem says in a few words why a pod is not ready.
func podProblem(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return "not scheduled: " + truncate(firstNonEmpty(c.Message, c.Reason), 160)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" {
			return fmt.Sprintf("container %s: %s", cs.Name, truncate(strings.TrimSpace(w.Reason+" "+w.Message), 160))
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s: %s (exit code %d)", cs.Name, firstNonEmpty(t.Reason, "Error"), t.ExitCode)
		}
	}
	phase := string(p.Status.Phase)
	if phase == "" {
		phase = string(corev1.PodPending)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Message != "" {
			return phase + ", not ready: " + truncate(c.Message, 160)
		}
	}
	return phase + ", not ready"
}

// firstNonEmpty returns the first of its arguments that is not empty.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
