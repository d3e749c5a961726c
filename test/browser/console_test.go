package browser

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

const image = "registry.example.com/webpage:"

// The walkthrough of seed-walkthrough.md through the console only: start
// runs from the pipeline page, watch them reach approval live, approve,
// reject with a reason, then roll back from the history after reading the
// diff. The cluster is checked with client-go after each step.
func TestConsoleWalkthrough(t *testing.T) {
	f := fixture{
		Pipeline: "webpage-canary", Environment: "local", Artifact: "webpage-manifest",
		CanaryNS: "console-canary", ProdNS: "console-prod", DefaultTag: "1.0",
	}
	store, admin := newStore(t)
	s := startServer(t, store, admin)
	s.apply(f)
	alice := s.createToken("alice", "deployer", "approver")
	bob := s.createToken("bob", "deployer", "approver")
	carol := s.createToken("carol", "viewer")
	b := newBrowser(t, s.url)

	// The real server serves the console with its security headers.
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET /: %s, CSP %q, X-Content-Type-Options %q", resp.Status, csp, resp.Header.Get("X-Content-Type-Options"))
	}

	// Without a token the console shows a sign-in card in plain words, not
	// a failed page; a refused token is said plainly, next to the field.
	b.open("/", "sign-in")
	card := b.text("main .signin-card")
	if !strings.Contains(card, "Sign in to Fledge") || !strings.Contains(card, "fledge token create") || strings.Contains(card, "401") || b.text("main .error") != "" {
		t.Fatalf("without a token the page should be the sign-in card, shows:\n%s", b.text("main"))
	}
	if lab := eval[string](b, `document.querySelector('.signin input[name="remember"]').nextElementSibling.textContent`); lab != "Remember on this device" {
		t.Fatalf("the remember checkbox should sit right before its label, next is %q", lab)
	}
	b.shot("00-sign-in")
	b.click(`.signin button[type="submit"]`)
	if e := b.text(".signin .field-error"); !strings.Contains(e, "Paste your API token") {
		t.Fatalf("an empty token should be refused before any request, shows %q", e)
	}
	b.typeInto(`.signin input[name="token"]`, "not-a-token")
	b.click(`.signin button[type="submit"]`)
	b.waitJS("token refused", 10*time.Second, `!document.querySelector('.signin .field-error').hidden && document.querySelector('.signin .field-error').textContent.includes('not accepted')`)
	b.shot("00-sign-in-refused")

	// Pipelines: the stage graph with its settings.
	b.typeInto(`.signin input[name="token"]`, alice)
	b.click(`.signin button[type="submit"]`)
	b.waitJS("signed in as alice", 15*time.Second, `(document.querySelector('#identity .who') || {}).textContent === 'alice' && document.documentElement.dataset.ready === 'pipelines'`)
	// The footer names the server's build, from GET /api/v1/version.
	b.waitJS("the footer's version", 10*time.Second, `(document.getElementById('build') || {}).textContent.startsWith('Fledge ')`)
	if foot := b.text("#build"); !strings.Contains(foot, runtime.Version()) {
		t.Fatalf("footer %q lacks the Go version %s", foot, runtime.Version())
	}
	card = fmt.Sprintf(`[data-pipeline=%q]`, f.Pipeline)
	stages := b.text(card + " .stages")
	for _, want := range []string{"Canary deployment", "canary-deploy-stage", f.CanaryNS, "webpage-ingress", "Shift traffic", "25% of requests", "Approval", "24h", "Production release", f.ProdNS} {
		if !strings.Contains(stages, want) {
			t.Fatalf("pipelines page: stage graph lacks %q:\n%s", want, stages)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('`+card+` .stages > li').length`); n != 4 {
		t.Fatalf("pipelines page: %d stages drawn, want 4", n)
	}
	b.shot("01-pipelines")

	// First release, 2.0: started from the pipeline page, as alice.
	b.click(card + " h2 a")
	b.waitReady("pipeline")
	if v := eval[string](b, `document.querySelector('#run input[name="IMAGE_TAG"]').value`); v != "1.0" {
		t.Fatalf("run form: IMAGE_TAG is %q, want the pipeline's default 1.0", v)
	}
	if n := eval[int](b, `document.querySelectorAll('#run input[name="user"]').length`); n != 0 {
		t.Fatalf("signed in with a token, the run form must not ask for a name")
	}
	b.typeInto(`#run input[name="IMAGE_TAG"]`, "2.0")
	b.shot("02-pipeline-run-form")
	d1 := startRun(b)
	waitApproval(t, b, d1)
	// A first release: production has no Ingress for the canary to split
	// with, so the weight stays at 0 and the page says where to look.
	if got := b.text(".page-head .weight-value"); got != "0%" {
		t.Fatalf("deployment page: canary weight in the header %q, want 0%% (no production yet)", got)
	}
	if why := b.text(".page-head .weight-reason"); !strings.Contains(why, "The canary takes no requests (the shift traffic stage says why)") {
		t.Fatalf("the weight should say why it is 0%%: %q", why)
	}
	if n := eval[int](b, `document.querySelectorAll('.timeline li[data-type="WeightKept"]').length`); n == 0 {
		t.Fatalf("the timeline should show the weight kept at 0:\n%s", b.text(".timeline"))
	}
	objects := b.text(fmt.Sprintf(`.ns-group[data-namespace=%q]`, f.CanaryNS))
	for _, want := range []string{"deployment/webpage-deployment", "service/webpage-service", "ingress/webpage-ingress"} {
		if !strings.Contains(objects, want) {
			t.Fatalf("objects applied to %s lack %s:\n%s", f.CanaryNS, want, objects)
		}
	}
	b.waitJS("manifests", 10*time.Second, `!!document.querySelector('.manifests ul')`)
	if m := b.text(".manifests ul"); !strings.Contains(m, "deployment/webpage-deployment") || !strings.Contains(m, "ingress/webpage-ingress") {
		t.Fatalf("manifests list: %q", m)
	}
	if who := b.text("#identity .who"); who != "alice" {
		t.Fatalf("the header should name the token's owner, says %q", who)
	}
	if by := s.deployment(d1).TriggeredBy; by != "alice" {
		t.Fatalf("deployment %d triggered by %q, want alice", d1, by)
	}
	checkTimeline(t, b)
	// Approving says what it does, shows the diff against production
	// (nothing there yet: all objects are new) and needs a confirmation.
	if eff := b.text(".attention .effect"); !strings.Contains(eff, "Promote IMAGE_TAG=2.0 to "+f.ProdNS+", its first release there") {
		t.Fatalf("the approval box should say what approving does, says %q", eff)
	}
	b.waitJS("diff against production", 30*time.Second, `!!document.querySelector('.approval-diff .changed')`)
	b.shot("03-deployment-waiting-for-approval")

	b.typeInto(".approval-form textarea", "blue looks good")
	b.click(".approval-form button.approve")
	b.waitJS("confirmation", 5*time.Second, `!document.querySelector('.approval-form .confirm').hidden`)
	if q := b.text(".approval-form .confirm-q"); !strings.Contains(q, "Promote IMAGE_TAG=2.0 to "+f.ProdNS) {
		t.Fatalf("the confirmation should repeat what approving does, says %q", q)
	}
	time.Sleep(500 * time.Millisecond)
	if st := s.deployment(d1).Status; st != v1alpha1.StatusWaitingForApproval || len(s.deployment(d1).Decisions) != 0 {
		t.Fatalf("a click on Approve without the confirmation changed deployment %d: %s", d1, st)
	}
	b.shot("03-deployment-approve-confirmation")
	b.click(".approval-form button.confirm-approve")
	waitStatus(b, "Succeeded", 90*time.Second)
	sameDocument(t, b)
	decisions := b.text(".decision-list")
	if !strings.Contains(decisions, "Approved by alice") || !strings.Contains(decisions, "blue looks good") {
		t.Fatalf("the approver should be shown after approval:\n%s", decisions)
	}
	if got, why := b.text(".weight-value"), b.text(".weight-reason"); got != "0%" || !strings.Contains(why, "Released") {
		t.Fatalf("after release the canary weight shows %q (%q), want 0%% and why", got, why)
	}
	waitImage(t, f.ProdNS, image+"2.0")
	b.shot("04-deployment-succeeded")

	// Second release, 2.1, approved by bob after signing in as him.
	b.open("/pipelines/"+f.Pipeline, "pipeline")
	b.typeInto(`#run input[name="IMAGE_TAG"]`, "2.1")
	d2 := startRun(b)
	waitApproval(t, b, d2)
	if got := b.text(".page-head .weight-value"); got != "25%" {
		t.Fatalf("deployment page: canary weight in the header %q, want 25%%", got)
	}
	if why := b.text(".page-head .weight-reason"); !strings.Contains(why, "25% of requests go to the canary in "+f.CanaryNS) || !strings.Contains(why, "redirect-to-canary: always") {
		t.Fatalf("the weight should say why it is 25%%: %q", why)
	}
	// The waiting deployment names what production runs, and approving it
	// would replace 2.0 by 2.1: the diff says so.
	if facts := b.text(".page-head .facts"); !strings.Contains(facts, "Production runs") || !strings.Contains(facts, "#1 (2.0)") {
		t.Fatalf("the waiting deployment should name the live version:\n%s", facts)
	}
	if eff := b.text(".attention .effect"); !strings.Contains(eff, "Promote IMAGE_TAG=2.1 to "+f.ProdNS+", replacing #1 (2.0)") {
		t.Fatalf("the approval box should say what approving replaces, says %q", eff)
	}
	b.waitJS("diff against production", 30*time.Second, `!!document.querySelector('.approval-diff pre.diff')`)
	del := eval[string](b, `[...document.querySelectorAll('.approval-diff .diff .del')].map(e => e.textContent).join('\n')`)
	add := eval[string](b, `[...document.querySelectorAll('.approval-diff .diff .add')].map(e => e.textContent).join('\n')`)
	if !strings.Contains(del, image+"2.0") || !strings.Contains(add, image+"2.1") {
		t.Fatalf("the approval diff should remove 2.0 and add 2.1:\nremoved:\n%s\nadded:\n%s", del, add)
	}
	// The pipelines page says, at a glance, what production runs and what
	// waits where, and the graph marks the stage it waits at.
	b.open("/pipelines", "pipelines")
	ov := b.text(card + " .overview")
	if !strings.Contains(ov, "Production #1 (2.0)") || !strings.Contains(ov, "canary #2 (2.1) at 25%, waiting for approval") {
		t.Fatalf("the pipeline overview should name production and the waiting deployment: %q", ov)
	}
	if href := eval[string](b, `document.querySelector('`+card+` .overview .ov-active a').getAttribute('href')`); href != fmt.Sprintf("/deployments/%d", d2) {
		t.Fatalf("the waiting deployment should link to its page, links %q", href)
	}
	if cur := eval[string](b, `(document.querySelector('`+card+` .stage.current') || {dataset: {}}).dataset.stage || ''`); cur != "approval-stage" {
		t.Fatalf("the pipeline graph should highlight the approval stage, highlights %q", cur)
	}
	b.shot("01-pipelines-waiting")
	b.click(card + " h2 a")
	b.waitReady("pipeline")
	if ov := b.text(".page-head .overview"); !strings.Contains(ov, "canary #2 (2.1)") {
		t.Fatalf("the pipeline page should name the waiting deployment: %q", ov)
	}
	if n := eval[int](b, `[...document.querySelectorAll('table.data tbody td[data-label="Deployment"]')].filter(td => td.textContent.includes('`+f.Pipeline+`')).length`); n != 0 {
		t.Fatalf("the pipeline's own page repeats its name in %d rows", n)
	}
	b.shot("02-pipeline-waiting")
	b.open(fmt.Sprintf("/deployments/%d", d2), "deployment")
	b.signIn(bob, "bob", "deployment")
	b.waitJS("approve button", 10*time.Second, `!!document.querySelector('.approval-form button.approve')`)
	// The diff arrives after the page: wait for it, so that the button
	// does not move under the click.
	b.waitJS("diff against production", 30*time.Second, `!!document.querySelector('.approval-diff .changed')`)
	b.click(".approval-form button.approve")
	b.click(".approval-form button.confirm-approve")
	waitStatus(b, "Succeeded", 90*time.Second)
	waitImage(t, f.ProdNS, image+"2.1")

	// Third release, 2.2, rejected: first without a reason (the API's
	// error is shown with its field), then with one.
	b.open("/pipelines/"+f.Pipeline, "pipeline")
	b.typeInto(`#run input[name="IMAGE_TAG"]`, "2.2")
	d3 := startRun(b)
	waitApproval(t, b, d3)
	// carol may look but not decide: the API's 403 is shown.
	b.signIn(carol, "carol", "deployment")
	b.typeInto(".approval-form textarea", "not my call")
	b.click(".approval-form button.reject")
	b.waitJS("forbidden error", 10*time.Second, `!!document.querySelector('.approval-form .error')`)
	if e := b.text(".approval-form .error"); !strings.Contains(e, "Could not reject") || !strings.Contains(e, "does not allow this") || !strings.Contains(e, "lacks role approver") || strings.Contains(e, "HTTP") {
		t.Fatalf("a viewer's rejection should be refused in plain words, shows %q", e)
	}
	b.signIn(bob, "bob", "deployment")
	// A rejection without a reason is stopped before any request. The
	// page may still render the form again once after signing in (its
	// reads arrive), which clears what the last click showed: the click
	// is repeated until the field's error shows, a few times at most.
	errText := ""
	for try := 0; try < 5 && !strings.Contains(errText, "Say why you reject"); try++ {
		b.click(".approval-form button.reject")
		deadline := time.Now().Add(2 * time.Second)
		for errText = b.text(".approval-form .field-error"); errText == "" && time.Now().Before(deadline); errText = b.text(".approval-form .field-error") {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !strings.Contains(errText, "Say why you reject") {
		t.Fatalf("an empty reason should be refused in the form, got %q", errText)
	}
	if inv := eval[string](b, `document.querySelector('.approval-form textarea').getAttribute('aria-invalid') || ''`); inv != "true" {
		t.Fatalf("the reason field should be marked invalid, aria-invalid=%q", inv)
	}
	if st := s.deployment(d3).Status; st != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("a refused rejection changed deployment %d: %s", d3, st)
	}
	b.shot("05-reject-needs-reason")
	// The reason carries markup: the console must show it as text.
	const markup = `<img src=x onerror="window.__fledgeInjected=1">`
	b.typeInto(".approval-form textarea", "red is wrong "+markup)
	b.click(".approval-form button.reject")
	waitStatus(b, "Rejected", 90*time.Second)
	if res := b.text(".result"); !strings.Contains(res, "rejected by bob") || !strings.Contains(res, "red is wrong "+markup) {
		t.Fatalf("rejection result: %q", res)
	}
	if !strings.Contains(b.text(".decision-list"), markup) || eval[bool](b, `!!document.querySelector('main img') || window.__fledgeInjected === 1`) {
		t.Fatalf("an API string was turned into markup")
	}
	if img := productionImage(t, f.ProdNS); img != image+"2.1" {
		t.Fatalf("production must keep 2.1 after the rejection, runs %s", img)
	}
	// One word for one thing: the approval stage of a rejected deployment
	// says Rejected, as the header does.
	if st := eval[string](b, `document.querySelector('.stage[data-stage="approval-stage"]').dataset.status`); st != "Rejected" {
		t.Fatalf("the approval stage of a rejected deployment says %q, want Rejected", st)
	}
	b.shot("06-deployment-rejected")

	// The deployments list.
	b.open("/deployments", "deployments")
	rows := eval[int](b, `document.querySelectorAll('table.data tbody tr').length`)
	if rows != 3 {
		t.Fatalf("deployments page: %d rows, want 3", rows)
	}
	list := b.text("table.data")
	for _, want := range []string{"IMAGE_TAG=2.0", "IMAGE_TAG=2.2", "Rejected", "Succeeded", "alice"} {
		if !strings.Contains(list, want) {
			t.Fatalf("deployments page lacks %q:\n%s", want, list)
		}
	}
	b.shot("07-deployments")

	// History and rollback to #1 (2.0): the diff shows 2.1 going, 2.0 coming.
	b.open("/pipelines/"+f.Pipeline+"/history", "history")
	hist := b.text("table.history")
	for _, want := range []string{"#1", "#2", "#3", "Live", "alice", "bob", "IMAGE_TAG=2.0"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("history lacks %q:\n%s", want, hist)
		}
	}
	if live := eval[string](b, `document.querySelector('tr.is-live').dataset.id`); live != strconv.FormatInt(d2, 10) {
		t.Fatalf("history marks deployment %s live, want %d", live, d2)
	}
	b.click(fmt.Sprintf(`button[data-rollback="%d"]`, d1))
	b.waitJS("rollback preview", 30*time.Second, `!!document.querySelector('#preview pre.diff') || !!document.querySelector('#preview .error')`)
	if e := b.text("#preview .error"); e != "" {
		t.Fatalf("rollback preview failed: %s", e)
	}
	del = eval[string](b, `[...document.querySelectorAll('#preview .diff .del')].map(e => e.textContent).join('\n')`)
	add = eval[string](b, `[...document.querySelectorAll('#preview .diff .add')].map(e => e.textContent).join('\n')`)
	if !strings.Contains(del, image+"2.1") || !strings.Contains(add, image+"2.0") {
		t.Fatalf("the diff should remove 2.1 and add 2.0:\nremoved:\n%s\nadded:\n%s", del, add)
	}
	cmp := b.text("#preview .compare")
	if !strings.Contains(cmp, "IMAGE_TAG=2.1") || !strings.Contains(cmp, "IMAGE_TAG=2.0") || !strings.Contains(cmp, "alice") {
		t.Fatalf("the preview should compare live 2.1 with 2.0 approved by alice:\n%s", cmp)
	}
	if img := productionImage(t, f.ProdNS); img != image+"2.1" {
		t.Fatalf("a preview must not change production, runs %s", img)
	}
	b.shot("08-rollback-preview")
	const why = "2.1 breaks checkout"
	b.typeInto(`#preview textarea[name="reason"]`, why)
	b.click(fmt.Sprintf(`#preview button[data-confirm="%d"]`, d1))
	b.waitReady("deployment")
	rb := currentDeployment(t, b)
	waitStatus(b, "Succeeded", 90*time.Second)
	waitImage(t, f.ProdNS, image+"2.0")
	got := s.deployment(rb)
	if got.Kind != v1alpha1.KindRollback || got.RollbackTo != d1 || got.RollbackToNumber != 1 || got.TriggeredBy != "bob" || !got.Live || got.Reason != why {
		t.Fatalf("rollback deployment: %+v", got)
	}
	if facts := b.text(".page-head .facts"); !strings.Contains(facts, "Rollback to #1") || !strings.Contains(facts, why) {
		t.Fatalf("the rollback's page should say it rolls back to #1 and why:\n%s", facts)
	}
	var audit v1alpha1.AuditList
	s.api(http.MethodGet, "/api/v1/audit?action=rollback.create", "", nil, &audit)
	if len(audit.Items) == 0 || !strings.Contains(audit.Items[0].Detail, why) || audit.Items[0].Actor != "bob" {
		t.Fatalf("the audit log should record bob's rollback with its reason: %+v", audit.Items)
	}
	b.shot("09-rollback-succeeded")

	b.open("/pipelines/"+f.Pipeline+"/history", "history")
	if live := eval[string](b, `document.querySelector('tr.is-live').dataset.id`); live != strconv.FormatInt(rb, 10) {
		t.Fatalf("after the rollback, history marks %s live, want %d", live, rb)
	}
	b.shot("10-history")

	// A run cancelled at the approval stage leaves production alone.
	b.open("/pipelines/"+f.Pipeline, "pipeline")
	b.typeInto(`#run input[name="IMAGE_TAG"]`, "2.3")
	d5 := startRun(b)
	waitApproval(t, b, d5)
	b.click(".cancel-box button.secondary")
	b.click(".cancel-box button.danger")
	waitStatus(b, "Cancelled", 90*time.Second)
	if img := productionImage(t, f.ProdNS); img != image+"2.0" {
		t.Fatalf("production must keep 2.0 after a cancelled run, runs %s", img)
	}

	// An unknown deployment, and an unknown page: plain words and a way
	// back.
	b.open("/deployments/999999", "deployment")
	if e := b.text("main"); !strings.Contains(e, "Not found") || !strings.Contains(e, "Deployment 999999 not found.") || strings.Contains(e, "404") {
		t.Fatalf("unknown deployment: the page shows %q", e)
	}
	if n := eval[int](b, `document.querySelectorAll('main .way-back a[href="/deployments"], main .way-back a[href="/pipelines"]').length`); n != 2 {
		t.Fatalf("a missing deployment's page should offer a way back, has %d links", n)
	}
	b.shot("11-not-found")
	b.open("/no/such/page", "not-found")
	if e := b.text("main"); !strings.Contains(e, "no such page") || !strings.Contains(e, "See the pipelines") {
		t.Fatalf("unknown page: the page shows %q", e)
	}
	var st v1alpha1.Status
	s.api(http.MethodGet, "/api/v1/deployments/999999", "", nil, &st, 404)
}

// startRun submits the run form and returns the new deployment's id, read
// from the page the console went to.
func startRun(b *browser) int64 {
	b.t.Helper()
	b.click(`#run button[type="submit"]`)
	b.waitReady("deployment")
	return currentDeployment(b.t, b)
}

func currentDeployment(t *testing.T, b *browser) int64 {
	t.Helper()
	p := eval[string](b, `location.pathname`)
	id, err := strconv.ParseInt(strings.TrimPrefix(p, "/deployments/"), 10, 64)
	if err != nil {
		t.Fatalf("expected a deployment page, at %s", p)
	}
	return id
}

// waitApproval waits, without reloading, until the page shows the
// deployment waiting at the approval stage with the buttons.
func waitApproval(t *testing.T, b *browser, id int64) {
	t.Helper()
	_ = eval[bool](b, `window.__fledgeSameDocument = true`)
	waitStatus(b, "WaitingForApproval", 90*time.Second)
	b.waitJS("approve button", 10*time.Second, `!!document.querySelector('.approval-form button.approve') && !!document.querySelector('.approval-form button.reject')`)
	// The status comes from re-reading the deployment, the timeline from
	// the event stream: the event may arrive a poll later.
	b.waitJS("WaitingForApproval event", 10*time.Second, `!!document.querySelector('.timeline li[data-type="WaitingForApproval"]')`)
	sameDocument(t, b)
	st := eval[string](b, `document.querySelector('.stage[data-stage="approval-stage"]').dataset.status`)
	if st != "Waiting" {
		t.Fatalf("deployment %d: the approval stage is drawn %q, want Waiting", id, st)
	}
	// The shift traffic stage sets the weight, or keeps it at 0 on a first
	// release.
	for _, typ := range []string{"DeploymentCreated", "Applied", "WeightSet|WeightKept", "WaitingForApproval"} {
		sel := []string{}
		for _, one := range strings.Split(typ, "|") {
			sel = append(sel, fmt.Sprintf(".timeline li[data-type=%q]", one))
		}
		if n := eval[int](b, fmt.Sprintf(`document.querySelectorAll('%s').length`, strings.Join(sel, ", "))); n == 0 {
			t.Fatalf("deployment %d: the live timeline has no %s event:\n%s", id, typ, b.text(".timeline"))
		}
	}
	if live := eval[string](b, `document.querySelector('.timeline').getAttribute('aria-live')`); live != "polite" {
		t.Fatalf("the timeline should be an aria-live region, aria-live=%q", live)
	}
}

// checkTimeline checks the timeline reads as a story: events grouped by
// stage, rollout progress collapsed into one entry, and event names in
// words rather than CamelCase.
func checkTimeline(t *testing.T, b *browser) {
	t.Helper()
	groups := eval[[]string](b, `[...document.querySelectorAll('.timeline .tl-group')].map(g => g.dataset.stage)`)
	for _, want := range []string{"canary-deploy-stage", "shift-traffic-stage", "approval-stage"} {
		if !slices.Contains(groups, want) {
			t.Fatalf("the timeline has no group for %s: %v", want, groups)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('.timeline .tl-events > li[data-type="RolloutProgress"]').length`); n != 0 {
		t.Fatalf("%d rollout progress events shown flat; they should be collapsed", n)
	}
	names := eval[[]string](b, `[...document.querySelectorAll('.timeline .ev-type')].map(e => e.textContent)`)
	for _, n := range names {
		if strings.ContainsFunc(n, func(r rune) bool { return r == '_' }) || camel.MatchString(n) {
			t.Fatalf("event name %q is not in plain words (all: %v)", n, names)
		}
	}
}

// camel matches a CamelCase word like WeightSet.
var camel = regexp.MustCompile(`[a-z][A-Z]`)

// waitStatus waits until the deployment page shows status; for a final
// status, also until the live timeline has received the stream's end.
func waitStatus(b *browser, status string, timeout time.Duration) {
	b.t.Helper()
	b.waitJS("status "+status, timeout, fmt.Sprintf(`document.getElementById('main').dataset.status === %q`, status))
	if v1alpha1.DeploymentStatus(status).Final() {
		b.waitJS("end of the event stream", 15*time.Second, `document.querySelector('.live-state').textContent.includes('Ended')`)
		if n := eval[int](b, `document.querySelectorAll('.approval-form, .cancel-box').length`); n != 0 {
			b.t.Fatalf("a %s deployment still offers approval or cancel controls", status)
		}
	}
}

// sameDocument checks the page got there by itself: the marker set on the
// window before is still there, so nothing reloaded.
func sameDocument(t *testing.T, b *browser) {
	t.Helper()
	if !eval[bool](b, `window.__fledgeSameDocument === true`) {
		t.Fatalf("the page was reloaded; it should update live")
	}
}

// On a server started with --auth=none the console asks for a name once,
// sends it as X-Fledge-User and keeps it in localStorage.
func TestConsoleNameWithoutAuth(t *testing.T) {
	f := fixture{
		Pipeline: "webpage-noauth", Environment: "local", Artifact: "webpage-manifest",
		CanaryNS: "noauth-canary", ProdNS: "noauth-prod", DefaultTag: "3.0",
	}
	store := filepath.Join(t.TempDir(), "fledge.db")
	s := startServer(t, store, "", "--auth=none")
	s.apply(f)
	b := newBrowser(t, s.url)

	b.open("/pipelines/"+f.Pipeline, "pipeline")
	b.waitJS("name mode", 10*time.Second, `document.querySelector('#identity').textContent.includes('Set your name')`)
	b.typeInto(`#run input[name="user"]`, "dave")
	d := startRun(b)
	waitApproval(t, b, d)
	if who := b.text("#identity .who"); who != "dave" {
		t.Fatalf("the header should show the name typed in the run form, shows %q", who)
	}
	if by := s.deployment(d).TriggeredBy; by != "dave" {
		t.Fatalf("deployment %d triggered by %q, want dave", d, by)
	}
	// The name survives a reload: it is asked once.
	b.open(fmt.Sprintf("/deployments/%d", d), "deployment")
	if who := b.text("#identity .who"); who != "dave" || eval[string](b, `localStorage.getItem('fledge.user')`) != "dave" {
		t.Fatalf("after a reload the console should still know dave, header %q", who)
	}
	if n := eval[int](b, `document.querySelectorAll('.approval-form input[name="user"]').length`); n != 0 {
		t.Fatalf("the approval form must not ask for the name again")
	}
	b.waitJS("diff against production", 30*time.Second, `!!document.querySelector('.approval-diff .changed')`)
	b.click(".approval-form button.approve")
	b.click(".approval-form button.confirm-approve")
	waitStatus(b, "Succeeded", 90*time.Second)
	if dec := b.text(".decision-list"); !strings.Contains(dec, "Approved by dave") {
		t.Fatalf("decisions: %q", dec)
	}
	waitImage(t, f.ProdNS, image+"3.0")
	b.shot("13-no-auth-succeeded")
}
