package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agentlinks/agentlinks/internal/config"
	"github.com/agentlinks/agentlinks/service"
)

// stdin is where users create reads the password; tests replace it.
var stdin io.Reader = os.Stdin

// usersCreate makes a dashboard account, its password read from standard
// input (never a flag, which would land in the shell's history).
func usersCreate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	c := newCommand("users create", stdout)
	email := c.fs.String("email", "", "the account's email (required)")
	role := c.fs.String("role", "owner", "owner (owns apps, may be a creator) or operator (sees the platform too)")
	if err := c.parse(args, "email"); err != nil {
		return err
	}
	if *role != "owner" && *role != "operator" {
		return usageError{"users create: --role is owner or operator"}
	}
	pw, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("users create: read the password from standard input: %w", err)
	}
	pw = strings.TrimRight(pw, "\r\n")
	return withPoolService(ctx, cfg, func(svc *service.Service) error {
		acct, err := svc.CreateAccount(ctx, *email, pw, *role == "operator")
		if err != nil {
			return err
		}
		return c.print(map[string]any{"account_id": acct.ID, "email": acct.Email, "role": *role},
			fmt.Sprintf("account_id: %s\nemail:      %s\nrole:       %s\n", acct.ID, acct.Email, *role))
	})
}
