package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

const (
	// maxEventBytes bounds one server-sent event (all its lines).
	maxEventBytes = 1 << 20
	// maxWatchFailures is how many reconnections in a row may fail before
	// WatchEvents gives up.
	maxWatchFailures = 5
)

// callbackError carries the error of the caller's function out of a watch,
// so that it is returned as it is and never retried.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// WatchEvents calls fn for each event of a deployment with a sequence
// number above after, in order, as they happen, until the deployment ends
// (the stream's "end" event). A dropped connection is resumed from the last
// event seen. It returns nil when the deployment has ended, fn's error as it
// is when fn fails, and the context's error when ctx is done.
func (c *Client) WatchEvents(ctx context.Context, id, after int64, fn func(v1alpha1.Event) error) error {
	last := after
	failures := 0
	delay := c.reconnectDelay
	for {
		ended, progressed, err := c.watchOnce(ctx, id, &last, fn)
		if ended {
			return nil
		}
		if ce := (*callbackError)(nil); errors.As(err, &ce) {
			return ce.err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if ae := (*APIError)(nil); errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("watch events of deployment %d: %w", id, err)
		}
		if progressed {
			failures, delay = 0, c.reconnectDelay
		} else {
			failures++
		}
		if failures >= maxWatchFailures {
			if err == nil {
				err = errors.New("the stream keeps closing before the deployment ends")
			}
			return fmt.Errorf("watch events of deployment %d: gave up after %d attempts: %w", id, failures, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*c.reconnectDelay)
	}
}

// watchOnce follows one connection. It reports whether the deployment
// ended and whether any event arrived.
func (c *Client) watchOnce(ctx context.Context, id int64, last *int64, fn func(v1alpha1.Event) error) (ended, progressed bool, err error) {
	q := afterQuery(*last)
	q.Set("watch", "true")
	r := request{method: http.MethodGet, path: deploymentPath(id, "events"), query: q, accept: "text/event-stream"}

	// The timeout bounds the wait for the answer's headers, not the stream.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timer *time.Timer
	if c.timeout > 0 {
		timer = time.AfterFunc(c.timeout, cancel)
	}
	resp, err := c.send(sctx, r)
	if timer != nil && !timer.Stop() && err == nil {
		resp.Body.Close()
		return false, false, errors.New("timed out waiting for the event stream")
	}
	if err != nil {
		return false, false, err
	}
	defer resp.Body.Close()

	deliver := func(e v1alpha1.Event) error {
		if e.Seq != 0 && e.Seq <= *last {
			return nil // already seen before a reconnection
		}
		if err := fn(e); err != nil {
			return &callbackError{err}
		}
		progressed = true
		if e.Seq > *last {
			*last = e.Seq
		}
		return nil
	}

	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "text/event-stream" {
		// A server or proxy that does not stream answered with the list:
		// deliver it, and poll until the deployment ends.
		ended, err := c.pollOnce(ctx, resp, id, last, deliver)
		return ended, true, err
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var name string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data.Len() == 0 && name == "" {
				continue
			}
			switch name {
			case "end":
				return true, progressed, nil
			case "error":
				ae := &APIError{StatusCode: http.StatusInternalServerError}
				_ = json.Unmarshal([]byte(data.String()), &ae.Status)
				if ae.Status.Code != 0 {
					ae.StatusCode = ae.Status.Code
				}
				return false, progressed, ae
			default:
				var e v1alpha1.Event
				if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
					return false, progressed, fmt.Errorf("decode event of deployment %d: %w", id, err)
				}
				if err := deliver(e); err != nil {
					return false, progressed, err
				}
			}
			name = ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment, such as a keepalive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			if data.Len() > maxEventBytes {
				return false, progressed, fmt.Errorf("event of deployment %d is larger than %d bytes", id, maxEventBytes)
			}
		}
		// "id" is the event's seq, also in its data; "retry" is ignored:
		// the client keeps its own backoff.
	}
	if err := sc.Err(); err != nil {
		return false, progressed, fmt.Errorf("read event stream of deployment %d: %w", id, err)
	}
	return false, progressed, nil
}

// pollOnce handles a JSON answer to a watch: it delivers the listed events
// and, if the deployment has not ended, waits for the next poll.
func (c *Client) pollOnce(ctx context.Context, resp *http.Response, id int64, last *int64, deliver func(v1alpha1.Event) error) (bool, error) {
	data, err := readBody(resp.Body, MaxResponseBytes)
	if err != nil {
		return false, err
	}
	var list v1alpha1.EventList
	if err := json.Unmarshal(data, &list); err != nil {
		return false, fmt.Errorf("decode events of deployment %d: %w", id, err)
	}
	for _, e := range list.Items {
		if err := deliver(e); err != nil {
			return false, err
		}
	}
	d, err := c.GetDeployment(ctx, id)
	if err != nil {
		return false, err
	}
	if d.Status.Final() {
		rest, err := c.Events(ctx, id, *last)
		if err != nil {
			return false, err
		}
		for _, e := range rest {
			if err := deliver(e); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	select {
	case <-ctx.Done():
		return false, context.Cause(ctx)
	case <-time.After(c.pollInterval):
	}
	return false, nil
}
