package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/auth"
	"fledge.dev/fledge/internal/store"
)

// BootstrapTokenName is the name of the admin token a server creates when
// its store has no token at all.
const BootstrapTokenName = "admin"

// ErrUnauthenticated is a missing, unknown or expired token.
var ErrUnauthenticated = errors.New("unauthenticated")

// Authenticate returns the principal a bearer token stands for. The
// error says why a token is refused (for the audit log); the caller
// answers 401 without the detail.
//
// A token authenticated before is taken from the cache while the store's
// tokens revision is the one it was read at: one read of a single row
// instead of the token's, and a token revoked or changed through any
// server is read again (and refused) on its next request. Expiry is
// checked against the clock on every request, cached or not.
func (s *Service) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	if token == "" {
		return auth.Principal{}, fmt.Errorf("%w: no token", ErrUnauthenticated)
	}
	t, err := s.lookUpToken(ctx, [32]byte(auth.HashToken(token)))
	if err != nil {
		return auth.Principal{}, err
	}
	if t.expiresAt != nil && !s.now().Before(*t.expiresAt) {
		return auth.Principal{Name: t.principal.Name}, fmt.Errorf("%w: token %q expired at %s", ErrUnauthenticated, t.principal.Name, t.expiresAt.Format(time.RFC3339))
	}
	if t.invalid != nil {
		return auth.Principal{Name: t.principal.Name}, fmt.Errorf("%w: token %q has invalid roles: %w", ErrUnauthenticated, t.principal.Name, t.invalid)
	}
	return t.principal, nil
}

// ErrTokensChanged is returned by a read that was to confirm a caller
// authenticated from the cache (AuthenticateCached) and found the tokens
// changed since: authenticate the caller again with Authenticate, then
// retry.
var ErrTokensChanged = errors.New("the tokens changed since the caller's token was authenticated")

// TokensCheck is what a read must confirm of a caller authenticated from
// the cache: that the tokens revision is still the one the token was read
// at, in the same snapshot as the data read.
type TokensCheck struct {
	revision  int64
	confirmed bool
}

// Confirmed reports whether a read confirmed the caller's authentication.
func (c *TokensCheck) Confirmed() bool { return c.confirmed }

type tokensCheckKey struct{}

// WithTokensCheck returns ctx with c, for the reads that confirm it.
func WithTokensCheck(ctx context.Context, c *TokensCheck) context.Context {
	return context.WithValue(ctx, tokensCheckKey{}, c)
}

// confirmTokens confirms the TokensCheck of ctx, if any, with the tokens
// revision read with the data: ErrTokensChanged when it moved.
func confirmTokens(ctx context.Context, revision int64) error {
	c, _ := ctx.Value(tokensCheckKey{}).(*TokensCheck)
	if c == nil {
		return nil
	}
	if c.revision != revision {
		return ErrTokensChanged
	}
	c.confirmed = true
	return nil
}

// AuthenticateCached returns the principal of a token authenticated
// before, from the cache alone, without reading the store, and the check
// a read of the same request must confirm before anything is answered
// (a read that confirms it: GetDeployment). ok is false when the cache
// has no valid entry of the token (unknown, expired, invalid roles): the
// caller uses Authenticate, which says why a token is refused.
func (s *Service) AuthenticateCached(token string) (p auth.Principal, check *TokensCheck, ok bool) {
	if token == "" {
		return auth.Principal{}, nil, false
	}
	t, rev, ok := s.tokens.latest([32]byte(auth.HashToken(token)))
	if !ok || t.invalid != nil || t.expiresAt != nil && !s.now().Before(*t.expiresAt) {
		return auth.Principal{}, nil, false
	}
	return t.principal, &TokensCheck{revision: rev}, true
}

// lookUpToken returns the token whose secret hashes to hash, from the
// cache when the tokens revision has not moved since it was read.
func (s *Service) lookUpToken(ctx context.Context, hash [32]byte) (cachedToken, error) {
	rev, err := s.store.TokensRevision(ctx)
	if err != nil {
		return cachedToken{}, fmt.Errorf("authenticate: %w", err)
	}
	if t, ok := s.tokens.get(hash, rev); ok {
		return t, nil
	}
	st, err := s.store.TokenByHash(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return cachedToken{}, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return cachedToken{}, fmt.Errorf("authenticate: %w", err)
	}
	t := cachedToken{expiresAt: st.ExpiresAt}
	grants, err := auth.ParseGrants(st.Roles)
	if err != nil {
		t.principal, t.invalid = auth.Principal{Name: st.Name}, err
	} else {
		t.principal = auth.Principal{Name: auth.Canonical(st.Name), Grants: grants}
	}
	s.tokens.put(hash, st.Revision, t)
	return t, nil
}

// NeedsBootstrap reports whether the store has no token at all.
func (s *Service) NeedsBootstrap(ctx context.Context) (bool, error) {
	tokens, err := s.store.ListTokens(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	return len(tokens) == 0, nil
}

// Bootstrap creates the admin token when the store has no token. With
// token empty it generates one; created reports whether a token was
// stored, and secret is the token to show (once) when it was generated.
func (s *Service) Bootstrap(ctx context.Context, token string) (secret string, created bool, err error) {
	tokens, err := s.store.ListTokens(ctx)
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	if len(tokens) > 0 {
		return "", false, nil
	}
	secret = token
	if secret == "" {
		if secret, err = auth.NewToken(); err != nil {
			return "", false, err
		}
	} else if err := auth.CheckToken(secret); err != nil {
		return "", false, fmt.Errorf("bootstrap token: %w", err)
	}
	err = s.store.CreateToken(ctx, store.Token{
		Name: BootstrapTokenName, Hash: auth.HashToken(secret), Roles: []string{string(auth.Admin)},
		CreatedAt: s.now(), CreatedBy: "bootstrap",
	})
	if errors.Is(err, store.ErrConflict) {
		// Another replica bootstrapped the same store first.
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("bootstrap: %w", err)
	}
	s.log.Info("created the bootstrap admin token", "token_name", BootstrapTokenName)
	return secret, true, nil
}

// CreateToken creates a token for by and returns it with its secret,
// which is never shown again.
func (s *Service) CreateToken(ctx context.Context, req v1alpha1.TokenRequest, by string) (v1alpha1.CreatedToken, error) {
	var fes []v1alpha1.FieldError
	if err := auth.CheckName(req.Name); err != nil {
		fes = append(fes, v1alpha1.FieldError{Field: "name", Message: err.Error()})
	}
	// A token's name is an identity: stored in its canonical form, so
	// that "BOB" cannot be created beside "bob".
	req.Name = auth.Canonical(req.Name)
	grants, err := auth.ParseGrants(req.Roles)
	if err != nil {
		fes = append(fes, v1alpha1.FieldError{Field: "roles", Message: err.Error()})
	}
	var expires *time.Time
	if req.ExpiresIn != nil {
		if req.ExpiresIn.Duration <= 0 {
			fes = append(fes, v1alpha1.FieldError{Field: "expiresIn", Message: "must be positive"})
		} else {
			e := s.now().Add(req.ExpiresIn.Duration)
			expires = &e
		}
	}
	if len(fes) > 0 {
		return v1alpha1.CreatedToken{}, invalid("invalid token: "+joinFields(fes), fes...)
	}
	if old, err := s.tokenNamed(ctx, req.Name); err != nil {
		return v1alpha1.CreatedToken{}, err
	} else if old != "" {
		return v1alpha1.CreatedToken{}, conflict("a token named %q exists (names are compared ignoring case); revoke it first (fledge token revoke %s)", old, old)
	}
	secret, err := auth.NewToken()
	if err != nil {
		return v1alpha1.CreatedToken{}, err
	}
	roles := make([]string, len(grants))
	for i, g := range grants {
		roles[i] = g.String()
	}
	t := store.Token{Name: req.Name, Hash: auth.HashToken(secret), Roles: roles, CreatedAt: s.now(), CreatedBy: by, ExpiresAt: expires}
	err = s.store.CreateToken(ctx, t)
	if errors.Is(err, store.ErrConflict) {
		return v1alpha1.CreatedToken{}, conflict("a token named %q exists; revoke it first (fledge token revoke %s)", req.Name, req.Name)
	}
	if err != nil {
		return v1alpha1.CreatedToken{}, fmt.Errorf("create token: %w", err)
	}
	s.log.Info("token created", "token_name", t.Name, "roles", auth.FormatGrants(grants), "user", by)
	return v1alpha1.CreatedToken{Token: tokenView(t), Secret: secret}, nil
}

func tokenView(t store.Token) v1alpha1.Token {
	return v1alpha1.Token{Name: t.Name, Roles: t.Roles, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt}
}

// ListTokens lists the tokens, without their secrets.
func (s *Service) ListTokens(ctx context.Context) (v1alpha1.TokenList, error) {
	ts, err := s.store.ListTokens(ctx)
	if err != nil {
		return v1alpha1.TokenList{}, fmt.Errorf("list tokens: %w", err)
	}
	out := v1alpha1.TokenList{Items: make([]v1alpha1.Token, len(ts))}
	for i, t := range ts {
		out.Items[i] = tokenView(t)
	}
	return out, nil
}

// tokenNamed returns the stored name of the token whose canonical name is
// name, or "". Names are stored canonical; a store written before that
// may hold one in another case.
func (s *Service) tokenNamed(ctx context.Context, name string) (string, error) {
	tokens, err := s.store.ListTokens(ctx)
	if err != nil {
		return "", fmt.Errorf("list tokens: %w", err)
	}
	for _, t := range tokens {
		if auth.Canonical(t.Name) == auth.Canonical(name) {
			return t.Name, nil
		}
	}
	return "", nil
}

// RevokeToken deletes a token; requests with it fail from now on. The
// last working admin token cannot be revoked: nobody could create another.
func (s *Service) RevokeToken(ctx context.Context, name string) error {
	if stored, err := s.tokenNamed(ctx, name); err != nil {
		return err
	} else if stored != "" {
		name = stored
	}
	tokens, err := s.store.ListTokens(ctx)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	admins, target := 0, false
	for _, t := range tokens {
		if !slices.Contains(t.Roles, string(auth.Admin)) || (t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt)) {
			continue
		}
		admins++
		target = target || t.Name == name
	}
	if target && admins == 1 {
		return conflict("token %q is the last admin token; create another admin token before revoking it", name)
	}
	err = s.store.DeleteToken(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("token %q not found", name)
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	s.log.Info("token revoked", "token_name", name)
	return nil
}
