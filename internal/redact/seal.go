package redact

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"fledge.dev/fledge/internal/secretbox"
)

// errNoKey is returned when manifests hold Secret values to seal or open
// and there is no key.
var errNoKey = errors.New("the server has no secret key (--secret-key-file or FLEDGE_SECRET_KEY) to seal or open the data of Secrets with")

// value is where one value of a Secret is: the Secret (namespace/name or
// name, as its manifest says), the field (data or stringData) and the key.
type value struct {
	secret, field, key string
}

func (v value) String() string {
	return fmt.Sprintf("the Secret %s: %s.%s", v.secret, v.field, v.key)
}

// context binds a sealed value to its place, so that a ciphertext copied
// to another Secret, field or key does not open. The artifact or the
// deployment is not part of it: a deployment's manifests and a rollback
// to them keep the values their artifact was sealed with.
func (v value) context() string {
	return "manifest-secret/" + v.secret + "/" + v.field + "/" + v.key
}

// eachValue calls fn with every non-empty scalar value of every Secret's
// data and stringData in docs.
func eachValue(docs []*yaml.Node, fn func(at value, n *yaml.Node) error) error {
	var errs []error
	for _, d := range objects(docs) {
		for _, field := range secretFields {
			m := secretMap(d, field)
			if m == nil {
				continue
			}
			for i := 1; i < len(m.Content); i += 2 {
				n := m.Content[i]
				if n.Kind != yaml.ScalarNode || n.Value == "" || n.Tag == "!!null" {
					continue
				}
				if err := fn(value{secret: name(d), field: field, key: m.Content[i-1].Value}, n); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// rewrite calls fn with every Secret value of docs, the documents of
// manifests, and writes them back when fn changed a value (manifests is
// returned as is otherwise). Every error of fn is reported; with one,
// nothing is returned.
func rewrite(manifests string, docs []*yaml.Node, fn func(at value, n *yaml.Node) (changed bool, err error)) (string, error) {
	changed := false
	err := eachValue(docs, func(at value, n *yaml.Node) error {
		c, err := fn(at, n)
		changed = changed || c
		return err
	})
	if err != nil {
		return "", err
	}
	if !changed {
		return manifests, nil
	}
	out, err := encode(docs)
	if err != nil {
		return "", fmt.Errorf("write the manifests back: %w", err)
	}
	return out, nil
}

// setString makes n the plain string s.
func setString(n *yaml.Node, s string) {
	n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", s, 0
}

// Seal returns manifests with every value of every Secret's data and
// stringData encrypted with box, each bound to its Secret, field and key.
// A value that is already sealed (the stored value a placeholder was
// restored to) must open and is kept. A value equal to the one sealed in
// stored at the same place keeps that ciphertext, so that applying the
// same text again changes nothing. Text without a Secret value is
// returned as is; text that may hold a Secret and cannot be parsed is an
// error, never stored in clear.
func Seal(box *secretbox.Box, manifests, stored string) (string, error) {
	if !strings.Contains(manifests, "Secret") {
		return manifests, nil
	}
	docs, err := parse(manifests)
	if err != nil {
		return "", fmt.Errorf("the manifests hold a Secret and cannot be parsed to seal its values: %w", err)
	}
	prev := map[string]string{}
	if strings.Contains(stored, secretbox.Marker) {
		old, err := parse(stored)
		if err != nil {
			return "", fmt.Errorf("parse the stored manifests: %w", err)
		}
		_ = eachValue(old, func(at value, n *yaml.Node) error {
			if secretbox.IsSealed(n.Value) {
				prev[at.context()] = n.Value
			}
			return nil
		})
	}
	return rewrite(manifests, docs, func(at value, n *yaml.Node) (bool, error) {
		if box == nil {
			return false, fmt.Errorf("%s: %w", at, errNoKey)
		}
		if secretbox.IsSealed(n.Value) {
			if _, err := box.Open(n.Value, at.context()); err != nil {
				return false, fmt.Errorf("%s: a sealed value that does not open here: %w", at, err)
			}
			return false, nil
		}
		if old, ok := prev[at.context()]; ok {
			if plain, err := box.Open(old, at.context()); err == nil && string(plain) == n.Value {
				setString(n, old)
				return true, nil
			}
		}
		sealed, err := box.Seal([]byte(n.Value), at.context())
		if err != nil {
			return false, fmt.Errorf("%s: %w", at, err)
		}
		setString(n, sealed)
		return true, nil
	})
}

// Open returns manifests with every sealed value of a Secret decrypted
// with box, for the cluster alone. Values that are not sealed (stored
// before values were sealed) are kept as they are. A value that does not
// open (another key, a changed ciphertext, one moved to another Secret or
// key) is an error naming where it is: nothing half opened is returned.
func Open(box *secretbox.Box, manifests string) (string, error) {
	if !strings.Contains(manifests, secretbox.Marker) {
		return manifests, nil
	}
	docs, err := parse(manifests)
	if err != nil {
		return "", fmt.Errorf("parse manifests with sealed Secret values: %w", err)
	}
	return rewrite(manifests, docs, func(at value, n *yaml.Node) (bool, error) {
		if !secretbox.IsSealed(n.Value) {
			return false, nil
		}
		if box == nil {
			return false, fmt.Errorf("%s: %w", at, errNoKey)
		}
		plain, err := box.Open(n.Value, at.context())
		if err != nil {
			return false, fmt.Errorf("%s: %w", at, err)
		}
		setString(n, string(plain))
		return true, nil
	})
}

// Opener returns Open with box, its errors prefixed by what (such as
// "manifests of deployment 7"), to open manifests where they are decoded.
func Opener(box *secretbox.Box, what string) func(manifests string) (string, error) {
	return func(manifests string) (string, error) {
		out, err := Open(box, manifests)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return out, nil
	}
}
