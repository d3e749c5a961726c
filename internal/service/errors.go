package service

import (
	"errors"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/strictjson"
)

// Kind says what kind of failure an Error is, from the caller's side. It
// is also the Reason the API reports; the API maps each kind to its HTTP
// status in one place.
type Kind string

// The kinds of Error.
const (
	// BadRequest: the request cannot be read (malformed body, bad query).
	BadRequest Kind = "BadRequest"
	// Unauthorized: no valid credentials.
	Unauthorized Kind = "Unauthorized"
	// Forbidden: the caller may not do this.
	Forbidden Kind = "Forbidden"
	// NotFound: what the request names does not exist.
	NotFound Kind = "NotFound"
	// Conflict: the request does not fit the current state.
	Conflict Kind = "Conflict"
	// Invalid: the request is readable but breaks a rule (Details say which).
	Invalid Kind = "Invalid"
	// UnsupportedMediaType: the body is not of a type the API reads.
	UnsupportedMediaType Kind = "UnsupportedMediaType"
	// NotReady: the server cannot serve yet (its store does not answer).
	NotReady Kind = "NotReady"
)

// Error is a failure the API reports to the caller.
type Error struct {
	Kind    Kind
	Message string
	Details []v1alpha1.FieldError
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an Error of kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of err, or "" when err is not an *Error.
func KindOf(err error) Kind {
	var se *Error
	if errors.As(err, &se) {
		return se.Kind
	}
	return ""
}

func invalid(msg string, details ...v1alpha1.FieldError) *Error {
	return &Error{Kind: Invalid, Message: msg, Details: details}
}

func notFound(format string, args ...any) *Error {
	return Errorf(NotFound, format, args...)
}

func conflict(format string, args ...any) *Error {
	return Errorf(Conflict, format, args...)
}

func badRequest(format string, args ...any) *Error {
	return Errorf(BadRequest, format, args...)
}

// DecodeJSON decodes a request body strictly (see strictjson) into v; a
// body that is not one strict JSON document is a BadRequest naming what
// is wrong and where.
func DecodeJSON(data []byte, v any) error {
	if err := strictjson.Decode(data, v); err != nil {
		var se *strictjson.Error
		if errors.As(err, &se) {
			return &Error{Kind: BadRequest, Message: se.Msg}
		}
		return err
	}
	return nil
}

// fromValidation turns a v1alpha1.ValidationError into a 422.
func fromValidation(err error) error {
	var ve *v1alpha1.ValidationError
	if errors.As(err, &ve) {
		return invalid(ve.Error(), ve.Errors...)
	}
	return err
}
