package strictjson

import (
	"errors"
	"strings"
	"testing"
)

type body struct {
	Name   string            `json:"name"`
	Count  int               `json:"count"`
	Labels map[string]string `json:"labels"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // "" for success, else a part of the error
	}{
		{name: "valid", in: `{"name":"a","count":2,"labels":{"x":"y"}}`},
		{name: "valid with white space after", in: "{\"name\":\"a\"}\n\t "},
		{name: "unknown field", in: `{"nme":"a"}`, want: `unknown field "nme"`},
		{name: "wrong type", in: `{"count":"2"}`, want: "field count: cannot use a JSON string as int"},
		{name: "malformed", in: `{"name":`, want: "invalid body: unexpected EOF"},
		{name: "syntax error", in: `{"name" "a"}`, want: "malformed JSON at byte"},
		{name: "trailing object", in: `{"name":"a"} {}`, want: "unexpected data after the JSON object"},
		{name: "trailing garbage", in: `{"name":"a"}x`, want: "unexpected data after the JSON object"},
		{name: "duplicate key", in: `{"name":"a","name":"b"}`, want: `duplicate key "name" in the top-level object`},
		{name: "nested duplicate key", in: `{"labels":{"x":"1","x":"2"}}`, want: `duplicate key "x" in labels`},
		{name: "invalid UTF-8 in a string", in: "{\"name\":\"a\xffb\"}", want: "not valid UTF-8 at byte 10"},
		{name: "truncated UTF-8 sequence", in: "{\"name\":\"\xe2\x82\"}", want: "not valid UTF-8 at byte 9"},
		{name: "empty", in: ``, want: "invalid body: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v body
			err := Decode([]byte(tt.in), &v)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Decode(%q): %v", tt.in, err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode(%q) = %v, want an *Error containing %q", tt.in, err, tt.want)
			}
		})
	}
}
