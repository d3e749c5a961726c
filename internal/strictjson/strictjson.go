// Package strictjson is the one JSON decoder for every request body the
// server reads: exactly one JSON value, valid UTF-8 throughout, no unknown
// fields, no key given twice, nothing after the value. encoding/json alone
// accepts all of those (the last duplicate wins, invalid UTF-8 becomes
// U+FFFD, trailing data is never read), so a proxy or a reviewer reading
// the body could see another document than the server.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Error is a body that is not one strict JSON document. Its message says
// what is wrong and where (a field path or a byte offset).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Decode decodes data into v strictly; every failure is an *Error.
func Decode(data []byte, v any) error {
	if err := CheckUTF8(data); err != nil {
		return err
	}
	if err := CheckDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			return errorf("field %s: cannot use a JSON %s as %s", ute.Field, ute.Value, ute.Type)
		case errors.As(err, &se):
			return errorf("malformed JSON at byte %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return errorf("invalid body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf("invalid body: unexpected data after the JSON object")
	}
	return nil
}

// CheckUTF8 refuses data that is not valid UTF-8, naming the first bad
// byte.
func CheckUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return errorf("invalid body: not valid UTF-8 at byte %d", i)
		}
		i += n
	}
	return nil
}

// CheckDuplicateKeys refuses an object with the same key twice, naming
// the key and the object's path. Malformed JSON is left to the decoder to
// report.
func CheckDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object  bool
		keys    map[string]bool
		wantKey bool
		path    string
		key     string
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					where := top.path
					if where == "" {
						where = "the top-level object"
					}
					return errorf("duplicate key %q in %s", k, where)
				}
				top.keys[k] = true
				top.key, top.wantKey = k, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path := ""
			if top != nil {
				path = top.path
				if top.object {
					path = joinPath(path, top.key)
				} else {
					path += "[]"
				}
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keys: map[string]bool{}, wantKey: true, path: path})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
		}
		if len(stack) > 0 {
			stack[len(stack)-1].wantKey = true
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
