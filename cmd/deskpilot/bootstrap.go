package main

import (
	"fmt"
	"io"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/spf13/cobra"

	"github.com/deskpilot/deskpilot/internal/bootstrap"
)

func (c *cli) bootstrapCommand() *cobra.Command {
	var (
		o                       bootstrap.Options
		stack, region, endpoint string
		apply                   bool
		poll                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Print (or, with --apply, create or update) the CloudFormation stack of the tag event pipeline",
		Long: `Print the CloudFormation template of deskpilot's event pipeline in one account and region:
an EventBridge rule matching AppStream's TagResource and UntagResource calls (as CloudTrail
records them), the SQS queue it delivers to with its policy and dead-letter queue, and
deskpilot's IAM role with the least-privilege policy of "deskpilot iam-policy", its SQS
statement held to that queue.

With --apply, create the stack, or update it when it exists; a stack that already holds the
template is left as it is, so --apply can run at every deploy. It uses your AWS credentials
(CloudFormation and IAM rights), not deskpilot's, and waits for the stack to complete.

EventBridge receives these events only while a CloudTrail trail logs management events in the
region. See docs/operations.md, "The event pipeline".`,
		Example: `  deskpilot bootstrap > deskpilot-events.yaml
  deskpilot bootstrap --apply --region eu-central-1
  deskpilot bootstrap --apply --features rollouts,resets --trust-service ecs-tasks.amazonaws.com`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tpl, err := bootstrap.Template(o)
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			if !apply {
				if c.output != outTable {
					return usageErrorf(cmd, "a template is YAML: -o %s needs --apply", c.output)
				}
				_, err := c.stdout.Write(tpl)
				return err
			}
			var opts []func(*awsconfig.LoadOptions) error
			if region != "" {
				opts = append(opts, awsconfig.WithRegion(region))
			}
			if endpoint != "" {
				opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
			}
			awsCfg, err := awsconfig.LoadDefaultConfig(cmd.Context(), opts...)
			if err != nil {
				return fmt.Errorf("AWS configuration: %w", err)
			}
			if awsCfg.Region == "" {
				return usageErrorf(cmd, "no AWS region: pass --region, or set AWS_REGION or a region in the AWS profile")
			}
			a := bootstrap.Applier{API: cloudformation.NewFromConfig(awsCfg), Poll: poll, Progress: c.stderr}
			res, err := a.Apply(cmd.Context(), stack, tpl)
			if err != nil {
				return err
			}
			return c.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "stack %s %s (%s) in %s\n", stack, res.Action, res.Status, awsCfg.Region)
				fmt.Fprintf(w, "role: %s\n\n", res.Outputs["RoleArn"])
				fmt.Fprintf(w, "# deskpilot.yaml\nrollouts:\n  events:\n    queue: %s\n", res.Outputs["QueueUrl"])
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&stack, "stack-name", "deskpilot", "the CloudFormation stack's name")
	f.StringVar(&o.QueueName, "queue-name", bootstrap.Defaults.QueueName, "the SQS queue's name (its dead-letter queue gets -dlq)")
	f.StringVar(&o.RoleName, "role-name", bootstrap.Defaults.RoleName, "deskpilot's IAM role (and instance profile)")
	f.StringVar(&o.TrustService, "trust-service", bootstrap.Defaults.TrustService, "the service principal that may assume the role")
	f.StringVar(&o.TrustPrincipal, "trust-principal", "", "instead, the IAM principal ARN that may assume it: deskpilot's own role, for a target account")
	f.BoolVar(&o.NoRole, "no-role", false, "leave the role out (a target account's other regions: its role is made once)")
	f.StringVar(&o.ExternalID, "external-id", "", "with --trust-principal, the sts:ExternalId the trust policy requires (targets[].external_id)")
	f.StringSliceVar(&o.Features, "features", nil, "the role policy's features, as for iam-policy (default: rollouts, resets and ses; events is always added)")
	f.BoolVar(&apply, "apply", false, "create or update the stack instead of printing the template")
	f.StringVar(&region, "region", "", "with --apply: the region (default: AWS_REGION or the profile's)")
	f.StringVar(&endpoint, "endpoint-url", "", "with --apply: the CloudFormation endpoint, such as deskpilot sim's (default: AWS's, or AWS_ENDPOINT_URL)")
	f.DurationVar(&poll, "poll", 5*time.Second, "with --apply: how often the stack's status is read while it is applied")
	return cmd
}
