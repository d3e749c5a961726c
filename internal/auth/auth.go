// Package auth holds who may do what: API tokens (random secrets, stored
// only as hashes), roles, and the grants that give a token a role globally
// or on one pipeline. It is pure: no I/O, standard library only.
//
// Roles are viewer (read everything but secrets, tokens and the audit log),
// deployer (start, roll back and cancel runs), approver (approve and
// reject) and admin (everything: resources, tokens, secrets, audit). Every
// valid token may read; deployer and approver may be scoped to one
// pipeline, written role:pipeline.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Role is what a grant lets a token do.
type Role string

// The roles, from least to most powerful.
const (
	Viewer   Role = "viewer"
	Deployer Role = "deployer"
	Approver Role = "approver"
	Admin    Role = "admin"
)

// Roles lists every role.
var Roles = []Role{Viewer, Deployer, Approver, Admin}

// Grant gives a role on every pipeline (Pipeline empty) or on one.
type Grant struct {
	Role     Role
	Pipeline string
}

// String writes the grant as ParseGrant reads it: role or role:pipeline.
func (g Grant) String() string {
	if g.Pipeline == "" {
		return string(g.Role)
	}
	return string(g.Role) + ":" + g.Pipeline
}

var pipelineName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ParseGrant reads role or role:pipeline. Only deployer and approver may
// be scoped: reading is never scoped, and admin is global by nature.
func ParseGrant(s string) (Grant, error) {
	role, pipeline, scoped := strings.Cut(strings.TrimSpace(s), ":")
	g := Grant{Role: Role(role), Pipeline: pipeline}
	if !slices.Contains(Roles, g.Role) {
		return g, fmt.Errorf("unknown role %q (want viewer, deployer, approver or admin, optionally deployer:PIPELINE or approver:PIPELINE)", role)
	}
	if !scoped {
		return g, nil
	}
	if g.Role == Viewer || g.Role == Admin {
		return g, fmt.Errorf("role %s cannot be scoped to a pipeline (only deployer and approver can)", g.Role)
	}
	if len(pipeline) > 63 || !pipelineName.MatchString(pipeline) {
		return g, fmt.Errorf("%q is not a pipeline name (lower case letters, digits and '-')", pipeline)
	}
	return g, nil
}

// ParseGrants reads each of ss, reporting every bad one.
func ParseGrants(ss []string) ([]Grant, error) {
	var out []Grant
	var errs []error
	for _, s := range ss {
		g, err := ParseGrant(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("at least one role is required"))
	}
	return out, errors.Join(errs...)
}

// FormatGrants writes grants comma-separated.
func FormatGrants(gs []Grant) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// Principal is the authenticated caller: a token's name and grants.
type Principal struct {
	Name   string
	Grants []Grant
}

// Can reports whether p has role on pipeline (empty: not about one
// pipeline). Admin can do everything, and every principal can view.
func (p Principal) Can(role Role, pipeline string) bool {
	if role == Viewer {
		return p.Name != ""
	}
	for _, g := range p.Grants {
		if g.Role == Admin {
			return true
		}
		if g.Role == role && (g.Pipeline == "" || (pipeline != "" && g.Pipeline == pipeline)) {
			return true
		}
	}
	return false
}

// Need names what a role check asked for, for the 403 message.
func Need(role Role, pipeline string) string {
	if pipeline == "" || role == Admin || role == Viewer {
		return string(role)
	}
	return fmt.Sprintf("%s (or %s:%s)", role, role, pipeline)
}

// TokenPrefix starts every token Fledge issues, so that secret scanners
// and people can recognise one.
const TokenPrefix = "fledge_"

// MinTokenLength bounds how short a token given to the server (a bootstrap
// token file) may be: shorter ones are not high-entropy secrets.
const MinTokenLength = 32

// NewToken returns a random token: TokenPrefix and 32 random bytes,
// base64url-encoded.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckToken reports whether s could be a token: long enough and plain
// printable ASCII without spaces.
func CheckToken(s string) error {
	if len(s) < MinTokenLength {
		return fmt.Errorf("token is %d characters; at least %d are required", len(s), MinTokenLength)
	}
	if len(s) > 512 {
		return errors.New("token is longer than 512 characters")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return errors.New("token must be printable ASCII without spaces")
		}
	}
	return nil
}

// HashToken returns the SHA-256 of a token, the only form the store keeps.
// A token has 256 random bits, so a fast hash is enough: there is nothing
// to brute-force.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// tokenName is what an identity looks like: ASCII letters, digits and
// . _ @ -, so that names print unambiguously (no homoglyphs, no spaces, no
// control or bidirectional characters).
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)

// CheckName reports whether s is a valid token name (an identity).
func CheckName(s string) error {
	if !tokenName.MatchString(s) {
		return fmt.Errorf("name %q must be 1 to 63 ASCII letters, digits, '.', '_', '@' or '-', starting with a letter or digit", s)
	}
	return nil
}

// Canonical is the one form of an identity that Fledge stores and
// compares: trimmed and lower-cased, so that "Bob" and "bob" are the same
// person for token names, approvers, four eyes and webhook senders.
// Identities are ASCII (CheckName), so lower-casing is unambiguous.
func Canonical(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}
