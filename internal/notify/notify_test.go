package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/sqlite"
	"fledge.dev/fledge/internal/webhook"
)

var testMessage = Message{
	DeliveryID: "7.team", Event: v1alpha1.NotifyApprovalNeeded, Pipeline: "web", DeploymentID: 12, Number: 3,
	Kind: "Release", Status: "WaitingForApproval", Parameters: map[string]string{"IMAGE_TAG": "2.1"},
	TriggeredBy: "ci", Stage: "approval-stage", Message: "waiting for 1 approval(s); times out at 2026-01-02T00:00:00Z <soon>",
	Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), URL: "http://fledge.example/deployments/12",
}

// receiver is a webhook endpoint that verifies each delivery's signature
// as docs/operations.md tells receivers to, and counts deliveries by id.
type receiver struct {
	t      *testing.T
	secret []byte
	// badSignatureExpected: a wrongly signed delivery is refused (401)
	// without failing the test.
	badSignatureExpected bool
	// fail, while positive, answers 503 to that many deliveries.
	mu   sync.Mutex
	fail int
	// got, when set, is told of each delivery as it arrives; the answer
	// then waits for hold.
	got    chan<- struct{}
	hold   time.Duration
	seen   map[string]int
	bodies []Message
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: []byte(secret), seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := webhook.VerifyGeneric(body, req.Header.Get(SignatureHeader), req.Header.Get(TimestampHeader), r.secret, time.Now()); err != nil {
		if !r.badSignatureExpected {
			r.t.Errorf("delivery with a bad signature: %v", err)
		}
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Errorf("delivery body: %v", err)
	}
	if id := req.Header.Get(DeliveryHeader); id != m.DeliveryID || req.Header.Get(EventHeader) != string(m.Event) {
		r.t.Errorf("headers %s=%q %s=%q, body names %q %q", DeliveryHeader, id, EventHeader, req.Header.Get(EventHeader), m.DeliveryID, m.Event)
	}
	r.mu.Lock()
	got, hold := r.got, r.hold
	r.mu.Unlock()
	if got != nil {
		got <- struct{}{}
		time.Sleep(hold)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	r.seen[m.DeliveryID]++
	r.bodies = append(r.bodies, m)
}

func (r *receiver) deliveries() (map[string]int, []Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]int{}
	for k, v := range r.seen {
		seen[k] = v
	}
	return seen, append([]Message(nil), r.bodies...)
}

func TestWebhookSinkSignsDeliveries(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, "a-signing-secret-of-32-bytes....")
	s := &WebhookSink{URL: r.srv.URL, Secret: []byte("a-signing-secret-of-32-bytes...."), Client: r.srv.Client()}
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	seen, bodies := r.deliveries()
	if seen["7.team"] != 1 || bodies[0].URL != testMessage.URL || bodies[0].Parameters["IMAGE_TAG"] != "2.1" {
		t.Fatalf("deliveries %v %+v", seen, bodies)
	}
	wrong := &WebhookSink{URL: r.srv.URL, Secret: []byte("another-secret-of-32-bytes......"), Client: r.srv.Client()}
	r.badSignatureExpected = true
	err := wrong.Send(context.Background(), testMessage)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrongly signed delivery: %v, want the receiver's 401", err)
	}
}

// checkSlackPayload checks an incoming-webhook body against Slack's Block
// Kit reference: a text fallback, at most 50 blocks, and for the blocks
// used their required fields, text object types and length limits.
func checkSlackPayload(t *testing.T, body []byte) {
	t.Helper()
	var p struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("Slack payload: %v", err)
	}
	if p.Text == "" || len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		t.Fatalf("Slack payload: text %q and %d blocks; want a fallback text and 1-50 blocks", p.Text, len(p.Blocks))
	}
	text := func(where string, v any, typ string, max int) {
		o, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: not a text object: %v", where, v)
			return
		}
		s, _ := o["text"].(string)
		if o["type"] != typ || s == "" || len([]rune(s)) > max {
			t.Errorf("%s: want a %s text object of 1-%d characters, got %v", where, typ, max, o)
		}
		for k := range o {
			if k != "type" && k != "text" && k != "emoji" {
				t.Errorf("%s: unknown text object field %q", where, k)
			}
		}
	}
	for i, b := range p.Blocks {
		switch b["type"] {
		case "header":
			text("header", b["text"], "plain_text", 150)
		case "section":
			text("section", b["text"], "mrkdwn", 3000)
			fields, _ := b["fields"].([]any)
			if len(fields) > 10 {
				t.Errorf("section: %d fields, at most 10", len(fields))
			}
			for _, f := range fields {
				text("section field", f, "mrkdwn", 2000)
			}
		case "actions":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				t.Errorf("actions: %d elements, want 1-25", len(els))
			}
			for _, e := range els {
				btn := e.(map[string]any)
				u, _ := btn["url"].(string)
				if btn["type"] != "button" || u == "" || len(u) > 3000 {
					t.Errorf("actions: want buttons with a url of at most 3000 characters, got %v", btn)
				}
				text("button", btn["text"], "plain_text", 75)
			}
		default:
			t.Errorf("block %d: unexpected type %v", i, b["type"])
		}
	}
}

func TestSlackSink(t *testing.T) {
	t.Parallel()
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/services/T0/B0/secret" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s", r.URL.Path, r.Header.Get("Content-Type"))
		}
		got, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	s := &SlackSink{URL: srv.URL + "/services/T0/B0/secret", Client: srv.Client()}
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	checkSlackPayload(t, got)
	for _, want := range []string{`"web #3: approval needed"`, `Approve or reject`, testMessage.URL, `IMAGE_TAG=2.1`, `*Triggered by*\nci`, `&lt;soon&gt;`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("Slack payload lacks %s:\n%s", want, got)
		}
	}
	long := testMessage
	long.Message = strings.Repeat("x", 5000)
	long.Pipeline = strings.Repeat("p", 200)
	b, _ := json.Marshal(SlackPayload(long))
	checkSlackPayload(t, b)

	// A failed post names the host, never the URL's secret path.
	s.URL = srv.URL + "/missing/secret-path"
	srv.Config.Handler = http.NotFoundHandler()
	err := s.Send(context.Background(), testMessage)
	if err == nil || strings.Contains(err.Error(), "secret-path") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("failed post: %v; want a 404 that does not show the URL's path", err)
	}
}

// smtpServer is an SMTP server on loopback that offers STARTTLS with a
// certificate for 127.0.0.1, requires PLAIN auth over TLS, and keeps the
// mails it receives.
type smtpServer struct {
	addr  string
	roots *x509.CertPool
	mu    sync.Mutex
	mails []mailIn
}

type mailIn struct {
	from, user string
	to         []string
	data       string
	tls        bool
}

type smtpSession struct {
	s    *smtpServer
	conn *smtp.Conn
	cur  mailIn
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "fledge" || pass != "smtp-password-123" {
			return errors.New("invalid credentials")
		}
		ss.cur.user = user
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur.from = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.to = append(ss.cur.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, ss.cur.tls = ss.conn.TLSConnectionState()
	ss.cur.data = string(b)
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.cur)
	ss.s.mu.Unlock()
	return nil
}
func (ss *smtpSession) Reset()        { ss.cur = mailIn{user: ss.cur.user} }
func (ss *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	cert, roots := selfSigned(t)
	s := &smtpServer{roots: roots}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, conn: c}, nil
	}))
	srv.Domain = "127.0.0.1"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) received() []mailIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mailIn(nil), s.mails...)
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestEmailSinkUsesSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t)
	s := &EmailSink{
		Addr: srv.addr, Username: "fledge", Password: "smtp-password-123",
		From: "Fledge <fledge@example.com>", To: []string{"ops@example.com", "Lead <lead@example.com>"},
		TLS: &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12},
	}
	if err := s.Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("received %d mails, want 1", len(mails))
	}
	m := mails[0]
	if !m.tls || m.user != "fledge" || m.from != "fledge@example.com" || strings.Join(m.to, ",") != "ops@example.com,lead@example.com" {
		t.Errorf("mail: tls %v, user %q, from %q, to %v", m.tls, m.user, m.from, m.to)
	}
	for _, want := range []string{"Subject: [Fledge] web #3: approval needed\r\n", "Message-ID: <7.team@fledge>\r\n", "Approve or reject: " + testMessage.URL + "\r\n", "Version:      IMAGE_TAG=2.1\r\n"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("mail lacks %q:\n%s", want, m.data)
		}
	}
	// A server whose certificate is not trusted gets nothing.
	s.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if err := s.Send(context.Background(), testMessage); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("send to an untrusted server: %v, want a STARTTLS error", err)
	}
	s.TLS, s.Password = &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12}, "wrong"
	if err := s.Send(context.Background(), testMessage); err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Fatalf("send with a wrong password: %v", err)
	}
	if n := len(srv.received()); n != 1 {
		t.Errorf("received %d mails, want still 1", n)
	}
}

// bundle is a store with a pipeline whose notifications go to receivers,
// and a sender on it.
type bundle struct {
	ctx        context.Context
	store      store.Store
	hook       *receiver
	smtp       *smtpServer
	slack      *httptest.Server
	slackCalls func() int
	cfg        Config
}

const hookSecret = "hook-signing-secret-0123456789ab"

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "f.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &bundle{ctx: ctx, store: st, hook: newReceiver(t, hookSecret), smtp: startSMTP(t)}
	var mu sync.Mutex
	slackCalls := 0
	b.slack = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		checkSlackPayload(t, body)
		mu.Lock()
		slackCalls++
		mu.Unlock()
	}))
	t.Cleanup(b.slack.Close)
	b.slackCalls = func() int { mu.Lock(); defer mu.Unlock(); return slackCalls }
	p := v1alpha1.Pipeline{Spec: v1alpha1.PipelineSpec{Notifications: []v1alpha1.Notification{
		{Name: "hook", Webhook: &v1alpha1.WebhookSink{URL: b.hook.srv.URL, SigningSecret: "hook-key"}},
		{Name: "chat", Events: []v1alpha1.NotificationEvent{v1alpha1.NotifyApprovalNeeded}, Slack: &v1alpha1.SlackSink{WebhookURLSecret: "slack-url"}},
		{Name: "mail", Events: []v1alpha1.NotificationEvent{v1alpha1.NotifyFailed}, Email: &v1alpha1.EmailSink{
			SMTP: b.smtp.addr, Username: "fledge", PasswordSecret: "smtp-pass", From: "fledge@example.com", To: []string{"ops@example.com"},
		}},
	}}}
	spec, _ := json.Marshal(p)
	if _, _, err := st.PutResource(ctx, store.Resource{Kind: v1alpha1.KindPipeline, Name: "web", Spec: spec}); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"hook-key": hookSecret, "slack-url": b.slack.URL + "/services/x", "smtp-pass": "smtp-password-123"}
	b.cfg = Config{
		Store: st, Owner: "test", ConsoleURL: "http://fledge.example/",
		Secret: func(_ context.Context, name string) ([]byte, error) {
			v, ok := secrets[name]
			if !ok {
				return nil, store.ErrNotFound
			}
			return []byte(v), nil
		},
		PollInterval: 20 * time.Millisecond, Timeout: 2 * time.Second, Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		TLS: &tls.Config{RootCAs: b.smtp.roots, MinVersion: tls.VersionTLS12},
	}
	return b
}

// raise stores a deployment event that raises event, as the executor does.
func (b *bundle) raise(t *testing.T, event v1alpha1.NotificationEvent) int64 {
	t.Helper()
	d, err := b.store.CreateDeployment(b.ctx, store.Deployment{Pipeline: "web", Kind: "Release", Status: "Queued", TriggeredBy: "ci", Parameters: map[string]string{"IMAGE_TAG": "2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.AppendEvents(b.ctx, store.Event{DeploymentID: d.ID, Type: "X", Message: "something happened", Notify: string(event)}); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func (b *bundle) start(t *testing.T, cfg Config) *Sender {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *bundle) pending(t *testing.T) int {
	t.Helper()
	n, err := b.store.PendingNotifications(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSenderDeliversToEachReceiverOnce: every receiver that wants the
// event gets it once, with a link to the console; a failing receiver is
// retried with backoff while the others are not sent again; attempts are
// recorded.
func TestSenderDeliversToEachReceiverOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.hook.fail = 2
	approval := b.raise(t, v1alpha1.NotifyApprovalNeeded)
	failed := b.raise(t, v1alpha1.NotifyFailed)
	var mu sync.Mutex
	results := map[string]int{}
	cfg := b.cfg
	cfg.Observe = func(sink, result string) { mu.Lock(); results[sink+" "+result]++; mu.Unlock() }
	b.start(t, cfg)
	waitFor(t, "every notification done", func() bool { return b.pending(t) == 0 })

	seen, bodies := b.hook.deliveries()
	if len(seen) != 2 || seen["1.hook"] != 1 || seen["2.hook"] != 1 {
		t.Errorf("webhook deliveries = %v, want 1.hook and 2.hook once each", seen)
	}
	for _, m := range bodies {
		if m.URL != "http://fledge.example/deployments/"+itoa(m.DeploymentID) || m.TriggeredBy != "ci" || m.Message != "something happened" {
			t.Errorf("webhook body %+v", m)
		}
	}
	if n := b.slackCalls(); n != 1 {
		t.Errorf("Slack got %d messages, want 1 (only ApprovalNeeded)", n)
	}
	if mails := b.smtp.received(); len(mails) != 1 || !strings.Contains(mails[0].data, "web #2: failed") {
		t.Errorf("mails %+v, want one about the failure", mails)
	}
	ns, as, err := b.store.ListNotifications(b.ctx, approval)
	if err != nil || len(ns) != 1 || !ns[0].Done {
		t.Fatalf("notifications of %d: %+v %v", approval, ns, err)
	}
	var hook []string
	for _, a := range as {
		if a.Receiver == "hook" {
			hook = append(hook, a.Result)
		}
	}
	_, as2, _ := b.store.ListNotifications(b.ctx, failed)
	for _, a := range as2 {
		if a.Receiver == "hook" {
			hook = append(hook, a.Result)
		}
	}
	if strings.Count(strings.Join(hook, " "), ResultFailed) != 2 || strings.Count(strings.Join(hook, " "), ResultSent) != 2 {
		t.Errorf("webhook attempts %v, want 2 failed and 2 sent", hook)
	}
	mu.Lock()
	defer mu.Unlock()
	if results["webhook failed"] != 2 || results["webhook sent"] != 2 || results["slack sent"] != 1 || results["email sent"] != 1 {
		t.Errorf("observed %v", results)
	}
}

// A stop while a delivery is on its way lets it be answered: the attempt
// is recorded as sent, and the next sender does not send it again.
func TestSenderStopLetsDeliveryFinish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	arrived := make(chan struct{}, 1)
	b.hook.mu.Lock()
	b.hook.got, b.hook.hold = arrived, 300*time.Millisecond
	b.hook.mu.Unlock()
	id := b.raise(t, v1alpha1.NotifySucceeded)
	s := b.start(t, b.cfg)
	<-arrived
	s.Stop()
	b.hook.mu.Lock()
	b.hook.got = nil
	b.hook.mu.Unlock()
	_, as, err := b.store.ListNotifications(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.Receiver+" "+a.Result)
	}
	if strings.Join(got, ",") != "hook "+ResultSent {
		t.Errorf("attempts %v, want the delivery cut by the stop recorded as sent", got)
	}
	b.start(t, b.cfg)
	time.Sleep(200 * time.Millisecond)
	if seen, _ := b.hook.deliveries(); seen["1.hook"] != 1 {
		t.Errorf("deliveries %v, want 1.hook once", seen)
	}
}

// TestSenderGivesUp: a receiver that never answers is given up on after
// MaxAttempts rounds; the notification is then done.
func TestSenderGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.hook.fail = 1000
	id := b.raise(t, v1alpha1.NotifySucceeded)
	cfg := b.cfg
	cfg.MaxAttempts = 3
	b.start(t, cfg)
	waitFor(t, "the notification given up", func() bool { return b.pending(t) == 0 })
	_, as, err := b.store.ListNotifications(b.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.Result)
	}
	if strings.Join(got, " ") != "failed failed gave_up" || !strings.Contains(as[0].Detail, "503") {
		t.Errorf("attempts %+v, want failed, failed, gave_up with the 503", as)
	}
}

// TestSendersShareTheOutbox: senders of several replicas on one store
// send each notification once.
func TestSendersShareTheOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const total = 30
	for range total {
		b.raise(t, v1alpha1.NotifySucceeded)
	}
	for i := range 3 {
		cfg := b.cfg
		cfg.Owner = "replica-" + itoa(int64(i))
		b.start(t, cfg)
	}
	waitFor(t, "every notification done", func() bool { return b.pending(t) == 0 })
	seen, _ := b.hook.deliveries()
	if len(seen) != total {
		t.Errorf("%d distinct deliveries, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s received %d times", id, n)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
