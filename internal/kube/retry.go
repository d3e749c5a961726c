package kube

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Backoff of retried requests: 200ms doubling up to 10s, each delay drawn
// between half and all of its nominal value so that many clients spread out.
const (
	retryBase = 200 * time.Millisecond
	retryMax  = 10 * time.Second
)

// retry calls fn until it succeeds, fails with an error that is not
// transient, or ctx ends. When ctx ends it returns fn's last error together
// with the context's cause.
func retry(ctx context.Context, fn func(ctx context.Context) error) error {
	delay := retryBase
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return giveUp(ctx, err)
		}
		switch classify(err) {
		case permanent:
			return err
		case uncertain:
			if attempt >= uncertainAttempts {
				return err
			}
		}
		wait := delay/2 + rand.N(delay/2+1)
		if s, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(s)*time.Second > wait {
			wait = time.Duration(s) * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp(ctx, err)
		case <-t.C:
		}
		delay = min(2*delay, retryMax)
	}
}

// giveUp joins the last error of a retried call with why the retries ended.
func giveUp(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(err, cause) {
		return err
	}
	return &retryError{last: err, cause: cause}
}

// retryError is the last error of a call that was retried until its context
// ended; errors.Is finds both the last error and the context's cause.
type retryError struct {
	last  error
	cause error
}

// Error gives the last error and why the retries stopped.
func (e *retryError) Error() string {
	return e.last.Error() + " (stopped retrying: " + e.cause.Error() + ")"
}

// Unwrap returns both the last error and the context's cause.
func (e *retryError) Unwrap() []error { return []error{e.last, e.cause} }

// uncertainAttempts bounds the attempts of a call failing with an
// uncertain error.
const uncertainAttempts = 3

// retryClass says whether an error is worth retrying.
type retryClass int

const (
	permanent retryClass = iota
	transient
	// uncertain is a 500 without a reason: usually a deterministic refusal
	// that the server did not classify (server-side apply reports a field
	// missing from the schema this way), sometimes a passing storage
	// failure. It is retried a few times only.
	uncertain
)

// Transient reports whether err is worth retrying unchanged: server errors,
// throttling, conflicts, timeouts and broken or refused connections. A
// validation error, a missing object or a refused permission is not.
func Transient(err error) bool { return classify(err) == transient }

// classify sorts errors for retry.
func classify(err error) retryClass {
	if err == nil || errors.Is(err, context.Canceled) {
		return permanent
	}
	var unknown *UnknownKindError
	if errors.As(err, &unknown) || apierrors.IsAlreadyExists(err) {
		return permanent
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return classifyStatus(status.Status())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The request's own timeout (rest.Config.Timeout), since the
		// caller's context is checked before an error is classified.
		return transient
	}
	if strings.Contains(err.Error(), "client rate limiter Wait returned an error") {
		// client-go's limiter refuses to wait past the context's deadline;
		// the retry loop then stops at the deadline itself.
		return transient
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return transient
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return transient
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
		utilnet.IsProbableEOF(err) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return transient
	}
	return permanent
}

// classifyStatus sorts the API server's error statuses. The apierrors.Is*
// helpers are not used: they count a 500 without a reason as an internal
// error.
func classifyStatus(st metav1.Status) retryClass {
	switch st.Reason {
	case metav1.StatusReasonAlreadyExists:
		return permanent
	case metav1.StatusReasonConflict, metav1.StatusReasonTooManyRequests,
		metav1.StatusReasonServerTimeout, metav1.StatusReasonTimeout,
		metav1.StatusReasonInternalError, metav1.StatusReasonServiceUnavailable:
		return transient
	}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Type == metav1.CauseTypeUnexpectedServerResponse {
				return transient
			}
		}
	}
	switch {
	case st.Code == http.StatusInternalServerError && st.Reason == metav1.StatusReasonUnknown:
		return uncertain
	case st.Code == http.StatusNotImplemented || st.Code == http.StatusHTTPVersionNotSupported:
		return permanent
	case st.Code >= 500 || st.Code == http.StatusTooManyRequests || st.Code == http.StatusConflict:
		return transient
	}
	return permanent
}
