// Package api holds the public API's OpenAPI document; the types are in
// the v1alpha1 package.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3 document of the HTTP API.
//
//go:embed openapi.yaml
var OpenAPI []byte
