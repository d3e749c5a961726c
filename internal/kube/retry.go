package kube

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return giveUp(ctx, err)
		}
		if !Transient(err) {
			return err
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

func (e *retryError) Error() string {
	return e.last.Error() + " (stopped retrying: " + e.cause.Error() + ")"
}

func (e *retryError) Unwrap() []error { return []error{e.last, e.cause} }

// Transient reports whether err is worth retrying unchanged: server errors,
// throttling, conflicts, timeouts and broken or refused connections. A
// validation error, a missing object or a refused permission is not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var unknown *UnknownKindError
	if errors.As(err, &unknown) {
		return false
	}
	if apierrors.IsAlreadyExists(err) {
		return false
	}
	if apierrors.IsConflict(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code >= 500 || code == 429 || code == 409
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The request's own timeout (rest.Config.Timeout), since the
		// caller's context is checked before Transient is asked.
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return true
	}
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
		utilnet.IsProbableEOF(err) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
