// Package webhook verifies signed webhook deliveries and maps their JSON
// payload to a run's parameters. It is pure: no I/O.
//
// Two signatures are accepted. GitHub's X-Hub-Signature-256 is
// "sha256=" and the hex HMAC-SHA256 of the raw body under the shared
// secret. Fledge's generic X-Fledge-Signature is "sha256=" and the hex
// HMAC-SHA256 of X-Fledge-Timestamp (Unix seconds), a '.', and the raw
// body; the timestamp must be within Window of the server's clock, so a
// captured delivery cannot be replayed later, and the server remembers
// signatures seen within the window so it cannot be replayed sooner.
//
// Parameter values are mapped by {{ .dotted.path }} references into the
// payload (see v1alpha1.PayloadRef): a lookup of data, never evaluation.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"fledge.dev/fledge/internal/strictjson"

	"fledge.dev/fledge/api/v1alpha1"
)

// Headers of the deliveries.
const (
	GitHubSignatureHeader = "X-Hub-Signature-256"
	GitHubEventHeader     = "X-GitHub-Event"
	GitHubDeliveryHeader  = "X-GitHub-Delivery"
	SignatureHeader       = "X-Fledge-Signature"
	TimestampHeader       = "X-Fledge-Timestamp"
)

// Window is how far a generic delivery's timestamp may be from the
// server's clock, either way.
const Window = 5 * time.Minute

// Bounds of a mapped value and of a payload's nesting.
const (
	MaxValueBytes = 1024
	MaxDepth      = 64
)

// ErrSignature is a missing, malformed or wrong signature.
var ErrSignature = errors.New("signature mismatch")

func mac(secret []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// SignGitHub returns the X-Hub-Signature-256 value of body.
func SignGitHub(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

// Sign returns the X-Fledge-Signature value of body sent at timestamp
// (Unix seconds, as written in X-Fledge-Timestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, []byte(timestamp), []byte("."), body))
}

// parseSignature reads "sha256=HEX".
func parseSignature(header string) ([]byte, error) {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		if header == "" {
			return nil, fmt.Errorf("%w: no signature header", ErrSignature)
		}
		return nil, fmt.Errorf("%w: want sha256=<hex>", ErrSignature)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return nil, fmt.Errorf("%w: want sha256= and 64 hex digits", ErrSignature)
	}
	return sig, nil
}

// VerifyGitHub checks X-Hub-Signature-256 against the raw body.
func VerifyGitHub(body []byte, header string, secret []byte) error {
	sig, err := parseSignature(header)
	if err != nil {
		return err
	}
	if !hmac.Equal(sig, mac(secret, body)) {
		return ErrSignature
	}
	return nil
}

// VerifyGeneric checks X-Fledge-Signature and that X-Fledge-Timestamp is
// within Window of now. It returns the timestamp.
func VerifyGeneric(body []byte, sigHeader, tsHeader string, secret []byte, now time.Time) (time.Time, error) {
	sig, err := parseSignature(sigHeader)
	if err != nil {
		return time.Time{}, err
	}
	ts := strings.TrimSpace(tsHeader)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 || len(ts) > 12 {
		return time.Time{}, fmt.Errorf("%w: %s must be Unix seconds, got %q", ErrSignature, TimestampHeader, truncate(tsHeader, 40))
	}
	if !hmac.Equal(sig, mac(secret, []byte(ts), []byte("."), body)) {
		return time.Time{}, ErrSignature
	}
	at := time.Unix(secs, 0).UTC()
	if d := now.Sub(at); d > Window || d < -Window {
		return at, fmt.Errorf("%w: %s is %s from the server's clock, outside the %s window (replayed or clock skew)", ErrSignature, TimestampHeader, d.Round(time.Second), Window)
	}
	return at, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Payload is a delivery's decoded JSON.
type Payload struct {
	root any
}

// ParsePayload decodes a JSON delivery; numbers keep their text.
func ParsePayload(body []byte) (Payload, error) {
	if err := checkDepth(body); err != nil {
		return Payload{}, err
	}
	if err := strictjson.CheckUTF8(body); err != nil {
		return Payload{}, fmt.Errorf("payload is not JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Payload{}, fmt.Errorf("payload is not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Payload{}, errors.New("payload is not JSON: unexpected data after the value")
	}
	if _, ok := v.(map[string]any); !ok {
		return Payload{}, errors.New("payload must be a JSON object")
	}
	return Payload{root: v}, nil
}

// checkDepth refuses JSON nested deeper than MaxDepth before decoding it.
func checkDepth(body []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxDepth {
				return fmt.Errorf("payload is nested deeper than %d levels", MaxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// Lookup returns the scalar at a dotted path as text.
func (p Payload) Lookup(path string) (string, error) {
	cur := p.root
	for _, seg := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return "", fmt.Errorf("%s: no field %q in the payload", path, seg)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return "", fmt.Errorf("%s: %q is not an index of an array of %d", path, seg, len(v))
			}
			cur = v[i]
		default:
			return "", fmt.Errorf("%s: %q is below a scalar", path, seg)
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", fmt.Errorf("%s: is null", path)
	case map[string]any:
		return "", fmt.Errorf("%s: is an object, not a scalar", path)
	default:
		return "", fmt.Errorf("%s: is an array, not a scalar", path)
	}
}

// Expand replaces each {{ .dotted.path }} of tmpl by the scalar there.
func (p Payload) Expand(tmpl string) (string, error) {
	var errs []error
	out := v1alpha1.PayloadRef.ReplaceAllStringFunc(tmpl, func(ref string) string {
		path := v1alpha1.PayloadRef.FindStringSubmatch(ref)[1]
		v, err := p.Lookup(path)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	})
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if len(out) > MaxValueBytes {
		return "", fmt.Errorf("value is %d bytes, over the limit of %d", len(out), MaxValueBytes)
	}
	return out, nil
}

// Parameters maps the payload to parameter values, reporting every
// mapping that fails.
func (p Payload) Parameters(mapping map[string]string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, name := range sortedKeys(mapping) {
		v, err := p.Expand(mapping[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", name, err))
			continue
		}
		out[name] = v
	}
	return out, errors.Join(errs...)
}

// Matches reports whether the payload has each match value at its path,
// and if not, which one differs.
func (p Payload) Matches(match map[string]string) (bool, string) {
	for _, path := range sortedKeys(match) {
		v, err := p.Lookup(path)
		if err != nil {
			return false, err.Error()
		}
		if v != match[path] {
			return false, fmt.Sprintf("%s is %q, not %q", path, truncate(v, 80), match[path])
		}
	}
	return true, ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
