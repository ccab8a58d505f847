package main

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// iamPolicy returns the IAM policy document the features need (internal/iampolicy's Policy,
// wired in iampolicy_wire.go); nil leaves the command saying it is not built in.
var iamPolicy func(features, roles []string) (string, error)

func (c *cli) iamPolicyCommand() *cobra.Command {
	var features, roles []string
	cmd := &cobra.Command{
		Use:   "iam-policy",
		Short: "Print the least-privilege IAM policy deskpilot's credentials need, as JSON",
		Example: `  deskpilot iam-policy
  deskpilot iam-policy --features rollouts,resets,sns > deskpilot-policy.json
  deskpilot iam-policy --assume-roles arn:aws:iam::111111111111:role/deskpilot,arn:aws:iam::222222222222:role/deskpilot`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if iamPolicy == nil {
				return errors.New("iam-policy is not built into this deskpilot")
			}
			if c.output != outTable && c.output != "json" {
				return usageErrorf(cmd, "an IAM policy is a JSON document: -o %s is not supported (leave -o out, or -o json)", c.output)
			}
			var names []string
			for _, f := range features {
				if f = strings.TrimSpace(f); f != "" {
					names = append(names, f)
				}
			}
			doc, err := iamPolicy(names, roles)
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			_, err = io.WriteString(c.stdout, doc)
			return err
		},
	}
	cmd.Flags().StringSliceVar(&roles, "assume-roles", nil, "the targets' role ARNs (targets[].role_arn), comma-separated: adds sts:AssumeRole on them")
	cmd.Flags().StringSliceVar(&features, "features", nil, "the features to allow, comma-separated: rollouts, events, resets, sns, ses (default: rollouts, resets and ses)")
	return cmd
}
