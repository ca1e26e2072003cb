// Command teamsgate plans, renders, audits and enforces the network flows of
// Microsoft Teams integrations. See README.md.
package main

import (
	"context"
	"os"

	"github.com/teamsgate/teamsgate/internal/cli"
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background())
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
