package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

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

// queryInt reads the integer query parameter name, at least min (0 or 1);
// absent, it is 0.
func queryInt(q url.Values, name string, min int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min {
		what := "a positive integer"
		if min == 0 {
			what = "a non-negative integer"
		}
		return 0, service.Errorf(service.BadRequest, "query %s: %q is not %s", name, s, what)
	}
	return v, nil
}
