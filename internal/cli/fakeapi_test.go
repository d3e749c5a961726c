package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// testNow is the clock of every CLI test, so that ages are stable.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time {
	t := testNow.Add(-d)
	return &t
}

const testPipeline = "webpage-canary-deployment-pipeline"

// fakeAPI is an HTTP API server with canned answers, following
// api/openapi.yaml. It records every request that changes something.
type fakeAPI struct {
	mu          sync.Mutex
	url         string
	resources   map[string][]any // by plural
	deployments []v1alpha1.Deployment
	events      map[int64][]v1alpha1.Event
	// applyActions and applyErrors answer PUTs by "Kind/name".
	applyActions map[string]v1alpha1.ApplyAction
	applyErrors  map[string]v1alpha1.Status
	// holdWatch keeps the event stream open after the events, as the
	// server does while a deployment waits for approval.
	holdWatch bool
	// moveOn, when set, plays the executor after a decision: it changes
	// the stored deployment after the answer was made.
	moveOn func(f *fakeAPI, d *v1alpha1.Deployment)
	// paused, when set, makes resume succeed at the deployment's current
	// stage (a pause's gate), after which the deployment shows its stage
	// moved on, as a server that answers after the executor went on does.
	paused   bool
	preview  v1alpha1.RollbackPreview
	changes  []string
	requests int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		resources:    cannedResources(),
		deployments:  cannedDeployments(),
		events:       map[int64][]v1alpha1.Event{46: cannedEvents(46)},
		applyActions: map[string]v1alpha1.ApplyAction{},
		applyErrors:  map[string]v1alpha1.Status{},
	}
	live := int64(45)
	f.preview = v1alpha1.RollbackPreview{
		Target:  f.deployment(42),
		Live:    &live,
		Changed: 1,
		Diff: `--- live: Deployment ns-canary-prod/webpage-deployment
+++ deployment 42
@@ -21,1 +21,1 @@
-          image: registry.example.com/webpage:2.1
+          image: registry.example.com/webpage:2.0
`,
	}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeAPI) deployment(id int64) v1alpha1.Deployment {
	for _, d := range f.deployments {
		if d.ID == id {
			return d
		}
	}
	return v1alpha1.Deployment{}
}

// setDeployment replaces or adds a deployment, newest first.
func (f *fakeAPI) setDeployment(d v1alpha1.Deployment) {
	for i := range f.deployments {
		if f.deployments[i].ID == d.ID {
			f.deployments[i] = d
			return
		}
	}
	f.deployments = append([]v1alpha1.Deployment{d}, f.deployments...)
}

func writeStatus(w http.ResponseWriter, code int, format string, args ...any) {
	writeTestJSON(w, code, v1alpha1.Status{Code: code, Reason: http.StatusText(code), Message: fmt.Sprintf(format, args...)})
}

func writeTestJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	lock := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(v1alpha1.UserHeader) != "tester" {
				writeStatus(w, http.StatusBadRequest, "no user header")
				return
			}
			f.mu.Lock()
			f.requests++
			if r.Method != http.MethodGet {
				b, _ := io.ReadAll(r.Body)
				f.changes = append(f.changes, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
				r.Body = io.NopCloser(strings.NewReader(string(b)))
			}
			f.mu.Unlock()
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/{plural}", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		items, ok := f.resources[r.PathValue("plural")]
		if !ok {
			writeStatus(w, 404, "no such collection")
			return
		}
		writeTestJSON(w, 200, map[string]any{"items": nonNil(items)})
	}))
	mux.HandleFunc("GET /api/v1/{plural}/{name}", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, it := range f.resources[r.PathValue("plural")] {
			if nameOf(it) == r.PathValue("name") {
				writeTestJSON(w, 200, it)
				return
			}
		}
		writeStatus(w, 404, "%s %q not found", strings.TrimSuffix(r.PathValue("plural"), "s"), r.PathValue("name"))
	}))
	mux.HandleFunc("PUT /api/v1/{plural}/{name}", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var obj struct {
			v1alpha1.TypeMeta
			Metadata v1alpha1.ObjectMeta `json:"metadata"`
		}
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil || v1alpha1.Plural(obj.Kind) != r.PathValue("plural") || obj.Metadata.Name != r.PathValue("name") {
			writeStatus(w, 400, "body does not match the path: %v", err)
			return
		}
		key := obj.Kind + "/" + obj.Metadata.Name
		if st, ok := f.applyErrors[key]; ok {
			writeTestJSON(w, st.Code, st)
			return
		}
		action, ok := f.applyActions[key]
		if !ok {
			action = v1alpha1.ActionCreated
		}
		code := 200
		if action == v1alpha1.ActionCreated {
			code = 201
		}
		writeTestJSON(w, code, v1alpha1.ApplyResponse{Kind: obj.Kind, Name: obj.Metadata.Name, Action: action, Generation: 1})
	}))
	mux.HandleFunc("DELETE /api/v1/{plural}/{name}", lock(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "local" {
			writeStatus(w, 409, "environment %q is used by pipeline %q", "local", testPipeline)
			return
		}
		w.WriteHeader(200)
	}))
	mux.HandleFunc("POST /api/v1/pipelines/{name}/runs", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.PathValue("name") != testPipeline {
			writeStatus(w, 404, "pipeline %q not found", r.PathValue("name"))
			return
		}
		var req v1alpha1.RunRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Parameters["IMAGE_TAG"] == "" {
			writeTestJSON(w, 422, v1alpha1.Status{
				Code: 422, Reason: "Invalid", Message: "cannot run pipeline " + testPipeline,
				Details: []v1alpha1.FieldError{{Field: "parameters.IMAGE_TAG", Message: "is required (no default)"}},
			})
			return
		}
		d := f.deployment(47)
		if d.ID == 0 {
			d = v1alpha1.Deployment{
				ID: 47, Pipeline: testPipeline, Number: 7, Kind: v1alpha1.KindRelease, Status: v1alpha1.StatusQueued,
				TriggeredBy: "tester", CreatedAt: testNow, Stages: cannedStages(v1alpha1.StagePending, v1alpha1.StagePending, v1alpha1.StagePending),
			}
		}
		d.Parameters = req.Parameters
		if f.deployment(47).ID != 0 {
			f.setDeployment(d)
		}
		writeTestJSON(w, 201, d)
	}))
	mux.HandleFunc("POST /api/v1/pipelines/{name}/rollback", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var req v1alpha1.RollbackRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if f.deployment(req.To).ID == 0 {
			writeStatus(w, 404, "deployment %d not found", req.To)
			return
		}
		if req.DryRun {
			writeTestJSON(w, 200, f.preview)
			return
		}
		writeTestJSON(w, 201, v1alpha1.Deployment{
			ID: 48, Pipeline: testPipeline, Number: 8, Kind: v1alpha1.KindRollback,
			RollbackTo: req.To, Status: v1alpha1.StatusQueued, CreatedAt: testNow,
		})
	}))
	mux.HandleFunc("GET /api/v1/deployments", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		q := r.URL.Query()
		var items []v1alpha1.Deployment
		for _, d := range f.deployments {
			if p := q.Get("pipeline"); p != "" && d.Pipeline != p {
				continue
			}
			if s := q.Get("status"); s != "" && !slices.Contains(strings.Split(s, ","), string(d.Status)) {
				continue
			}
			items = append(items, d)
		}
		out := v1alpha1.DeploymentList{Items: nonNil(items), Total: len(items)}
		if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && l < len(items) {
			out.Items = items[:l]
			out.NextBefore = items[l-1].ID
		}
		writeTestJSON(w, 200, out)
	}))
	mux.HandleFunc("GET /api/v1/deployments/{id}", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		ref, err := v1alpha1.ParseDeploymentRef(r.PathValue("id"))
		if err != nil {
			writeStatus(w, 400, "%v", err)
			return
		}
		d := f.deployment(ref.ID)
		for _, x := range f.deployments {
			if ref.Pipeline != "" && x.Pipeline == ref.Pipeline && x.Number == ref.Number {
				d = x
			}
		}
		if d.ID == 0 {
			writeStatus(w, 404, "deployment %s not found", ref)
			return
		}
		writeTestJSON(w, 200, d)
	}))
	mux.HandleFunc("GET /api/v1/deployments/{id}/measurements", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || f.deployment(id).ID == 0 {
			writeStatus(w, 404, "deployment %s not found", r.PathValue("id"))
			return
		}
		writeTestJSON(w, 200, v1alpha1.MeasurementList{Items: nonNil(cannedMeasurements(id))})
	}))
	mux.HandleFunc("GET /api/v1/deployments/{id}/events", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if f.deployment(id).ID == 0 {
			f.mu.Unlock()
			writeStatus(w, 404, "deployment %d not found", id)
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		var evs []v1alpha1.Event
		for _, e := range f.events[id] {
			if e.Seq > after {
				evs = append(evs, e)
			}
		}
		final := f.deployment(id)
		hold := f.holdWatch
		f.mu.Unlock()
		if r.URL.Query().Get("watch") != "true" {
			writeTestJSON(w, 200, v1alpha1.EventList{Items: nonNil(evs)})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range evs {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, b)
		}
		w.(http.Flusher).Flush()
		if hold {
			<-r.Context().Done()
			return
		}
		b, _ := json.Marshal(final)
		fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
	}))
	mux.HandleFunc("POST /api/v1/deployments/{id}/{verb}", lock(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		d := f.deployment(id)
		if d.ID == 0 {
			writeStatus(w, 404, "deployment %d not found", id)
			return
		}
		switch verb := r.PathValue("verb"); verb {
		case "approve", "reject":
			if d.Status != v1alpha1.StatusWaitingForApproval {
				writeStatus(w, 409, "deployment %d is %s, not waiting for approval", id, d.Status)
				return
			}
			// Like the server: the decision is recorded, and the answer
			// shows the deployment before the executor moves on.
			kind := v1alpha1.DecisionApprove
			if verb == "reject" {
				kind = v1alpha1.DecisionReject
			}
			d.Decisions = append(slices.Clone(d.Decisions), v1alpha1.Decision{Stage: d.CurrentStage, User: "tester", Decision: kind, At: testNow})
			f.setDeployment(d)
			if f.moveOn != nil {
				moved := d
				f.moveOn(f, &moved)
				f.setDeployment(moved)
			}
		case "cancel":
			if d.Status.Final() {
				writeStatus(w, 409, "deployment %d has ended (%s)", id, d.Status)
				return
			}
			d.CancelRequested = true
		case "promote":
			d.Decisions = append(slices.Clone(d.Decisions), v1alpha1.Decision{Stage: v1alpha1.PromoteGate, User: "tester", Decision: v1alpha1.DecisionPromote, At: testNow})
		case "resume":
			if f.paused {
				d.Decisions = append(slices.Clone(d.Decisions), v1alpha1.Decision{Stage: d.CurrentStage, User: "tester", Decision: v1alpha1.DecisionApprove, At: testNow})
				d.Status, d.CurrentStage = v1alpha1.StatusRunning, "progressive"
				break
			}
			// Like the server for a deployment waiting at an approval
			// stage, not at a pause.
			writeStatus(w, 409, "deployment %d waits for approval at %s, not at a pause: use fledge approve or fledge reject", id, d.CurrentStage)
			return
		case "retry":
			if d.Status != v1alpha1.StatusFailed && d.Status != v1alpha1.StatusRejected && d.Status != v1alpha1.StatusCancelled {
				writeStatus(w, 409, "deployment %d is %s: only a failed, cancelled or rejected deployment can be retried", id, d.Status)
				return
			}
			n := v1alpha1.Deployment{
				ID: 47, Pipeline: d.Pipeline, Number: 7, Kind: v1alpha1.KindRelease, Status: v1alpha1.StatusQueued,
				Parameters: d.Parameters, TriggeredBy: "tester", CreatedAt: testNow,
			}
			writeTestJSON(w, 201, n)
			return
		default:
			writeStatus(w, 404, "no such action")
			return
		}
		writeTestJSON(w, 200, d)
	}))
	return mux
}

func nameOf(obj any) string {
	switch o := obj.(type) {
	case *v1alpha1.Environment:
		return o.Metadata.Name
	case *v1alpha1.Artifact:
		return o.Metadata.Name
	case *v1alpha1.Pipeline:
		return o.Metadata.Name
	}
	return ""
}

func cannedResources() map[string][]any {
	dur := func(d time.Duration) *v1alpha1.Duration { return &v1alpha1.Duration{Duration: d} }
	no := false
	tm := v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion}
	typeMeta := func(kind string) v1alpha1.TypeMeta { t := tm; t.Kind = kind; return t }
	return map[string][]any{
		"environments": {
			&v1alpha1.Environment{
				TypeMeta: typeMeta(v1alpha1.KindEnvironment),
				Metadata: v1alpha1.ObjectMeta{Name: "local", Description: "The local control plane", Generation: 1, CreatedAt: ago(72 * time.Hour), UpdatedAt: ago(72 * time.Hour)},
				Spec:     v1alpha1.EnvironmentSpec{Kubeconfig: &v1alpha1.KubeconfigSource{Path: "/etc/fledge/kubeconfig"}},
			},
			&v1alpha1.Environment{
				TypeMeta: typeMeta(v1alpha1.KindEnvironment),
				Metadata: v1alpha1.ObjectMeta{Name: "prod", Generation: 3, CreatedAt: ago(30 * 24 * time.Hour)},
				Spec:     v1alpha1.EnvironmentSpec{InCluster: true, CreateNamespaces: &no},
			},
		},
		"artifacts": {
			&v1alpha1.Artifact{
				TypeMeta: typeMeta(v1alpha1.KindArtifact),
				Metadata: v1alpha1.ObjectMeta{Name: "webpage-manifest", Description: "The web page's Deployment, Service and Ingress", Generation: 2, CreatedAt: ago(72 * time.Hour), UpdatedAt: ago(25 * time.Hour)},
				Spec: v1alpha1.ArtifactSpec{Manifests: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: webpage-deployment
spec:
  template:
    spec:
      containers:
        - name: webpage
          image: registry.example.com/webpage:${IMAGE_TAG}
---
apiVersion: v1
kind: Service
metadata:
  name: webpage-service
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: webpage-ingress
`},
			},
		},
		"pipelines": {
			&v1alpha1.Pipeline{
				TypeMeta: typeMeta(v1alpha1.KindPipeline),
				Metadata: v1alpha1.ObjectMeta{
					Name: testPipeline, Description: "Canary release of the web page through an NGINX ingress",
					Labels: map[string]string{"team": "web"}, Generation: 2, CreatedAt: ago(72 * time.Hour), UpdatedAt: ago(24 * time.Hour),
				},
				Spec: v1alpha1.PipelineSpec{
					Parameters: []v1alpha1.Parameter{
						{Name: "IMAGE_TAG", Description: "The image version the build produced"},
						{Name: "REPLICAS", Default: ptr("3")},
					},
					Stages: []v1alpha1.Stage{
						{Name: "canary-deploy-stage", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
							Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "ns-canary-stage", IngressName: "webpage-ingress",
						}},
						{Name: "shift-traffic-stage", ShiftTraffic: &v1alpha1.ShiftTrafficStage{RampLimitPercent: 25}},
						{Name: "approval-stage", Approval: &v1alpha1.ApprovalStage{Timeout: dur(4 * time.Hour)}},
						{Name: "switch-to-production-stage", ProductionRelease: &v1alpha1.ProductionReleaseStage{Namespace: "ns-canary-prod", RolloutTimeout: dur(90 * time.Second)}},
					},
				},
			},
			&v1alpha1.Pipeline{
				TypeMeta: typeMeta(v1alpha1.KindPipeline),
				Metadata: v1alpha1.ObjectMeta{Name: "webpage-progressive", Generation: 1, CreatedAt: ago(2 * time.Hour), UpdatedAt: ago(2 * time.Hour)},
				Spec: v1alpha1.PipelineSpec{
					Parameters: []v1alpha1.Parameter{{Name: "IMAGE_TAG"}},
					Stages: []v1alpha1.Stage{
						{Name: "canary", CanaryDeployment: &v1alpha1.CanaryDeploymentStage{
							Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "ns-canary-stage", IngressName: "webpage-ingress",
						}},
						{Name: "ramp", ShiftTraffic: &v1alpha1.ShiftTrafficStage{RampLimitPercent: 20, BatchCount: 2, BatchDelay: dur(time.Minute)}},
						{Name: "progressive", CanarySteps: &v1alpha1.CanaryStepsStage{
							BackgroundAnalysis: &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "traefik-nginx-latency-p99"}}},
							Steps: []v1alpha1.CanaryStep{
								{SetWeight: ptr(25)},
								{Analysis: &v1alpha1.AnalysisStep{
									Templates: []v1alpha1.AnalysisTemplateRef{{Name: "traefik-nginx-success-rate"}},
									Args:      []v1alpha1.AnalysisArg{{Name: "minSuccessRate", Value: "0.995"}},
								}},
								{Approval: &v1alpha1.ApprovalStage{ApprovalsRequired: 2, RequireDistinctFromTrigger: true}},
								{SetWeight: ptr(50)},
								{Pause: &v1alpha1.PauseStep{Duration: dur(10 * time.Minute)}},
								{Pause: &v1alpha1.PauseStep{}},
							},
						}},
						{Name: "production", ProductionRelease: &v1alpha1.ProductionReleaseStage{Namespace: "ns-canary-prod"}},
					},
				},
			},
			&v1alpha1.Pipeline{
				TypeMeta: typeMeta(v1alpha1.KindPipeline),
				Metadata: v1alpha1.ObjectMeta{Name: "webpage-bg-gateway", Generation: 1, CreatedAt: ago(time.Hour), UpdatedAt: ago(time.Hour)},
				Spec: v1alpha1.PipelineSpec{
					Parameters: []v1alpha1.Parameter{{Name: "IMAGE_TAG"}},
					Stages: []v1alpha1.Stage{
						{Name: "blue-green", BlueGreen: &v1alpha1.BlueGreenStage{
							Environment: "local", Artifacts: []string{"webpage-manifest"}, Namespace: "ns-bg-prod", HTTPRouteName: "webpage",
							PrePromotionAnalysis: &v1alpha1.AnalysisStep{Templates: []v1alpha1.AnalysisTemplateRef{{Name: "smoke"}}},
							Approval:             &v1alpha1.ApprovalStage{},
							PostPromotionAnalysis: &v1alpha1.AnalysisStep{
								Templates: []v1alpha1.AnalysisTemplateRef{{Name: "traefik-gateway-success-rate"}},
								Args:      []v1alpha1.AnalysisArg{{Name: "window", Value: "1m"}},
							},
							ScaleDownDelay: dur(10 * time.Minute),
						}},
					},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// cannedStages are the walkthrough's four stages in the given statuses;
// the stages not named are Pending.
func cannedStages(st ...v1alpha1.StageStatus) []v1alpha1.StageState {
	stages := []v1alpha1.StageState{
		{Name: "canary-deploy-stage", Type: v1alpha1.StageCanaryDeployment, Status: v1alpha1.StagePending},
		{Name: "shift-traffic-stage", Type: v1alpha1.StageShiftTraffic, Status: v1alpha1.StagePending},
		{Name: "approval-stage", Type: v1alpha1.StageApproval, Status: v1alpha1.StagePending},
		{Name: "switch-to-production-stage", Type: v1alpha1.StageProductionRelease, Status: v1alpha1.StagePending},
	}
	for i, s := range st {
		stages[i].Status = s
	}
	return stages
}

func cannedDeployments() []v1alpha1.Deployment {
	ok := v1alpha1.StageSucceeded
	waiting := cannedStages(ok, ok, v1alpha1.StageWaiting)
	waiting[0].StartedAt, waiting[0].EndedAt, waiting[0].Message = ago(5*time.Minute), ago(4*time.Minute), "3/3 pods of webpage-deployment ready in ns-canary-stage"
	waiting[1].StartedAt, waiting[1].EndedAt, waiting[1].Message = ago(4*time.Minute), ago(4*time.Minute), "canary weight 25%"
	waiting[2].StartedAt, waiting[2].Message = ago(4*time.Minute), "waiting for 1 approval"
	waiting[2].ApprovalsRequired = 1
	approve := func(user string, at time.Duration) v1alpha1.Decision {
		return v1alpha1.Decision{Stage: "approval-stage", User: user, Decision: v1alpha1.DecisionApprove, At: *ago(at)}
	}
	return []v1alpha1.Deployment{
		{
			ID: 46, Pipeline: testPipeline, Number: 6, Kind: v1alpha1.KindRelease, Parameters: map[string]string{"IMAGE_TAG": "2.3"},
			Status: v1alpha1.StatusWaitingForApproval, Message: "waiting for approval at approval-stage", TriggeredBy: "ci",
			CurrentStage: "approval-stage", Stages: waiting, CanaryWeight: 25, CreatedAt: *ago(5 * time.Minute), StartedAt: ago(5 * time.Minute),
			ApprovalDeadline: ago(-(3*time.Hour + 56*time.Minute)), PipelineGeneration: 2,
			Analyses: []v1alpha1.AnalysisRun{{
				Name: "progressive/step-2", Templates: []string{"traefik-nginx-success-rate"}, Phase: v1alpha1.AnalysisFailed,
				Message:   `metric traefik-nginx-success-rate/success-rate failed: value 0.91 does not meet successCondition "result >= double(args.minSuccessRate)"`,
				StartedAt: *ago(3 * time.Minute), EndedAt: ago(2 * time.Minute),
				Metrics: []v1alpha1.MetricProgress{{
					Template: "traefik-nginx-success-rate", Metric: "success-rate", Phase: v1alpha1.AnalysisFailed,
					Count: 2, Successful: 1, Failed: 1, Errors: 1,
				}},
			}},
		},
		{
			ID: 45, Pipeline: testPipeline, Number: 5, Kind: v1alpha1.KindRollback, RollbackTo: 43, Parameters: map[string]string{"IMAGE_TAG": "2.1"},
			Status: v1alpha1.StatusSucceeded, TriggeredBy: "bob", Live: true, Stages: []v1alpha1.StageState{{Name: "rollback", Type: v1alpha1.StageRollback, Status: ok}},
			CreatedAt: *ago(2 * time.Hour), StartedAt: ago(2 * time.Hour), EndedAt: ago(118 * time.Minute), ProductionAt: ago(118 * time.Minute), PipelineGeneration: 2,
		},
		{
			ID: 44, Pipeline: testPipeline, Number: 4, Kind: v1alpha1.KindRelease, Parameters: map[string]string{"IMAGE_TAG": "2.2"},
			Status: v1alpha1.StatusRejected, Message: "rejected by alice: checkout page renders red", TriggeredBy: "ci",
			Stages: cannedStages(ok, ok, v1alpha1.StageFailed, v1alpha1.StageSkipped), CreatedAt: *ago(5 * time.Hour), StartedAt: ago(5 * time.Hour), EndedAt: ago(4 * time.Hour),
			Decisions:          []v1alpha1.Decision{{Stage: "approval-stage", User: "alice", Decision: v1alpha1.DecisionReject, Reason: "checkout page renders red", At: *ago(4 * time.Hour)}},
			PipelineGeneration: 2,
			Traffic: &v1alpha1.TrafficRouting{
				Provider: v1alpha1.TrafficProviderNGINX, Ingress: "webpage-ingress",
				Layout: v1alpha1.IngressLayoutBesideProduction, LayoutReason: "environment local sets ingressLayout",
				TesterHeader: v1alpha1.TesterHeader{Name: "redirect-to-canary", Value: "always"},
			},
		},
		{
			ID: 43, Pipeline: testPipeline, Number: 3, Kind: v1alpha1.KindRelease, Parameters: map[string]string{"IMAGE_TAG": "2.1", "REPLICAS": "3"},
			Status: v1alpha1.StatusSucceeded, TriggeredBy: "ci", Stages: cannedStages(ok, ok, ok, ok),
			CreatedAt: *ago(25 * time.Hour), StartedAt: ago(25 * time.Hour), EndedAt: ago(23 * time.Hour), ProductionAt: ago(23 * time.Hour),
			Decisions: []v1alpha1.Decision{approve("alice", 23*time.Hour), approve("carol", 23*time.Hour)}, PipelineGeneration: 1,
		},
		{
			ID: 42, Pipeline: testPipeline, Number: 2, Kind: v1alpha1.KindRelease, Parameters: map[string]string{"IMAGE_TAG": "2.0"},
			Status: v1alpha1.StatusSucceeded, TriggeredBy: "ci", Stages: cannedStages(ok, ok, ok, ok),
			CreatedAt: *ago(72 * time.Hour), StartedAt: ago(72 * time.Hour), EndedAt: ago(71 * time.Hour), ProductionAt: ago(71 * time.Hour),
			Decisions: []v1alpha1.Decision{approve("alice", 71*time.Hour)}, PipelineGeneration: 1,
		},
		{
			ID: 41, Pipeline: testPipeline, Number: 1, Kind: v1alpha1.KindRelease, Parameters: map[string]string{"IMAGE_TAG": "1.9"},
			Status: v1alpha1.StatusFailed, Message: "rollout of webpage-deployment in ns-canary-stage timed out after 5m", TriggeredBy: "ci",
			Stages:    cannedStages(v1alpha1.StageFailed, v1alpha1.StageSkipped, v1alpha1.StageSkipped, v1alpha1.StageSkipped),
			CreatedAt: *ago(8 * 24 * time.Hour), StartedAt: ago(8 * 24 * time.Hour), EndedAt: ago(8*24*time.Hour - 5*time.Minute), PipelineGeneration: 1,
		},
	}
}

// cannedEvents is the log of a release up to the approval stage.
func cannedEvents(id int64) []v1alpha1.Event {
	ev := func(seq int64, at time.Duration, stage, typ, msg string) v1alpha1.Event {
		return v1alpha1.Event{DeploymentID: id, Seq: seq, Time: *ago(at), Stage: stage, Type: typ, Message: msg}
	}
	return []v1alpha1.Event{
		ev(1, 5*time.Minute, "", "DeploymentCreated", "Release deployment of "+testPipeline+" created, triggered by ci"),
		ev(2, 5*time.Minute, "canary-deploy-stage", "StageStarted", "stage canary-deploy-stage (canaryDeployment) started"),
		ev(3, 270*time.Second, "canary-deploy-stage", "RolloutProgress", "ns-canary-stage: deployment/webpage-deployment 3/3 ready"),
		ev(4, 4*time.Minute, "canary-deploy-stage", "StageSucceeded", "stage canary-deploy-stage succeeded"),
		ev(5, 4*time.Minute, "shift-traffic-stage", "TrafficShifted", "canary weight set to 25%"),
		ev(6, 4*time.Minute, "approval-stage", "StageStarted", "stage approval-stage (approval) started: waiting for 1 approval"),
	}
}

// cannedMeasurements are deployment 46's analysis: two good readings, a
// provider error and a failing one.
func cannedMeasurements(id int64) []v1alpha1.Measurement {
	if id != 46 {
		return nil
	}
	at := testNow.Add(-3 * time.Minute)
	m := func(i int, phase v1alpha1.AnalysisPhase, value, msg string) v1alpha1.Measurement {
		start := at.Add(time.Duration(i) * 30 * time.Second)
		return v1alpha1.Measurement{
			Analysis: "progressive/step-2", Template: "traefik-nginx-success-rate", Metric: "success-rate",
			Phase: phase, Value: value, Message: msg, StartedAt: start, FinishedAt: start.Add(40 * time.Millisecond),
		}
	}
	return []v1alpha1.Measurement{
		m(0, v1alpha1.AnalysisSuccessful, "0.998", `value 0.998 meets successCondition "result >= double(args.minSuccessRate)"`),
		m(1, v1alpha1.AnalysisError, "", "prometheus: GET http://127.0.0.1:9090/api/v1/query: connection refused"),
		m(2, v1alpha1.AnalysisFailed, "0.91", `value 0.91 does not meet successCondition "result >= double(args.minSuccessRate)"`),
	}
}
