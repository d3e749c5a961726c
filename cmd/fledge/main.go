// Command fledge is the Fledge server and command-line client.
package main

import "fledge.dev/fledge/internal/cli"

func main() { cli.Main() }
