package httpapi

import (
	"errors"
	"net/http"

	"fledge.dev/fledge/internal/service"
)

// statusByKind is the one mapping from a service error's kind to its HTTP
// status.
var statusByKind = map[service.Kind]int{
	service.BadRequest:           http.StatusBadRequest,
	service.Unauthorized:         http.StatusUnauthorized,
	service.Forbidden:            http.StatusForbidden,
	service.NotFound:             http.StatusNotFound,
	service.Conflict:             http.StatusConflict,
	service.Invalid:              http.StatusUnprocessableEntity,
	service.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	service.NotReady:             http.StatusServiceUnavailable,
}

// statusOf returns the HTTP status of err: its kind's status for a
// service error, 413 for a body over the limit, 500 otherwise.
func statusOf(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if code, ok := statusByKind[service.KindOf(err)]; ok {
		return code
	}
	return http.StatusInternalServerError
}
