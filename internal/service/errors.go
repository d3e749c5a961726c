package service

import (
	"errors"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
)

// Error is a failure the API reports to the caller, with its HTTP code.
type Error struct {
	Code    int
	Reason  string
	Message string
	Details []v1alpha1.FieldError
}

func (e *Error) Error() string { return e.Message }

func invalid(msg string, details ...v1alpha1.FieldError) *Error {
	return &Error{Code: 422, Reason: "Invalid", Message: msg, Details: details}
}

func notFound(format string, args ...any) *Error {
	return &Error{Code: 404, Reason: "NotFound", Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Code: 409, Reason: "Conflict", Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return &Error{Code: 400, Reason: "BadRequest", Message: fmt.Sprintf(format, args...)}
}

// fromValidation turns a v1alpha1.ValidationError into a 422.
func fromValidation(err error) error {
	var ve *v1alpha1.ValidationError
	if errors.As(err, &ve) {
		return invalid(ve.Error(), ve.Errors...)
	}
	return err
}
