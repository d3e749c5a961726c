// Package resourcefile reads the resource files that `fledge apply -f` sends
// to the server: multi-document YAML holding Environments, Artifacts and
// Pipelines of apiVersion fledge.dev/v1alpha1.
//
// Decoding is strict, as kind decodes its config: an unknown or duplicate
// field, a wrong apiVersion or an unknown kind is an error that names the
// file and line, and every object is validated on its own before anything is
// sent. Input is bounded (file size, node count, nesting depth) so that a
// hostile file, such as a YAML alias bomb, cannot exhaust memory.
package resourcefile
