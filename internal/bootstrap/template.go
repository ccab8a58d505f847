// Package bootstrap writes, and applies, the CloudFormation stack deskpilot's event pipeline
// needs in one account and region: the EventBridge rule that matches AppStream's TagResource and
// UntagResource calls as CloudTrail records them, the SQS queue it delivers to (with the queue
// policy that lets only that rule send, and a dead-letter queue for messages deskpilot cannot
// handle), and deskpilot's IAM role with the policy of internal/iampolicy, its SQS statement held
// to that one queue. `deskpilot bootstrap` prints Template; with --apply it runs Apply.
package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/deskpilot/deskpilot/internal/iampolicy"
)

// Options name what the stack creates.
type Options struct {
	// QueueName is the queue's name (rollouts.events.queue); the dead-letter queue is named
	// after it with "-dlq".
	QueueName string
	// RoleName is deskpilot's IAM role, with an instance profile of the same name.
	RoleName string
	// TrustService is the AWS service principal that may assume the role, such as
	// ec2.amazonaws.com (deskpilot on an instance) or ecs-tasks.amazonaws.com.
	TrustService string
	// TrustPrincipal, when set, is the IAM principal ARN (deskpilot's own role in another
	// account) that may assume the role instead of TrustService: the role of a target account
	// (targets in the configuration), assumed with STS AssumeRole.
	TrustPrincipal string
	// ExternalID, with TrustPrincipal, is the sts:ExternalId the trust policy requires
	// (targets[].external_id).
	ExternalID string
	// NoRole leaves the role and its instance profile out: IAM is global to an account, so in a
	// target account's other regions only the queue and the rule are made. A role made with
	// TrustPrincipal may read the queue of QueueName in every region of its account.
	NoRole bool
	// Features are the role policy's features, as `deskpilot iam-policy --features` takes
	// them; events is always added.
	Features []string
}

// Defaults are the names Template uses for the fields left empty.
var Defaults = Options{QueueName: "deskpilot-events", RoleName: "deskpilot", TrustService: "ec2.amazonaws.com"}

// Queue settings. The visibility timeout covers the reconciliation of an image (a few AWS
// calls, retried under throttling); five receives without a delete move a message to the
// dead-letter queue, where it is kept for the longest SQS allows, for a person to read.
const (
	visibilityTimeout = 120
	maxReceiveCount   = 5
	retention         = 4 * 24 * 3600
	dlqRetention      = 14 * 24 * 3600
)

var (
	queueName  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,76}$`) // leaves room for "-dlq" in SQS's 80
	roleName   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	service    = regexp.MustCompile(`^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$`)
	principal  = regexp.MustCompile(`^arn:aws(-[a-z]+)*:(iam::\d{12}:(root|role/[\w+=,.@/-]{1,512}|user/[\w+=,.@/-]{1,512})|sts::\d{12}:assumed-role/[\w+=,.@-]{1,64}/[\w+=,.@-]{2,64})$`)
	externalID = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// withDefaults fills in the empty fields and checks the names.
func (o Options) withDefaults() (Options, error) {
	if o.QueueName == "" {
		o.QueueName = Defaults.QueueName
	}
	if o.RoleName == "" {
		o.RoleName = Defaults.RoleName
	}
	if o.TrustService == "" {
		o.TrustService = Defaults.TrustService
	}
	var errs []error
	if !queueName.MatchString(o.QueueName) {
		errs = append(errs, fmt.Errorf("queue name %q: want 1 to 76 letters, digits, - or _ (a standard queue; FIFO queues are not supported)", o.QueueName))
	}
	if !roleName.MatchString(o.RoleName) {
		errs = append(errs, fmt.Errorf("role name %q: want 1 to 64 letters, digits or +=,.@_-", o.RoleName))
	}
	if !service.MatchString(o.TrustService) {
		errs = append(errs, fmt.Errorf("trust service %q: want a service principal such as ec2.amazonaws.com", o.TrustService))
	}
	if o.TrustPrincipal != "" && !principal.MatchString(o.TrustPrincipal) {
		errs = append(errs, fmt.Errorf("trust principal %q: want an IAM principal ARN such as arn:aws:iam::123456789012:role/deskpilot", o.TrustPrincipal))
	}
	if o.ExternalID != "" && (o.TrustPrincipal == "" || len(o.ExternalID) < 2 || len(o.ExternalID) > 1224 || !externalID.MatchString(o.ExternalID)) {
		errs = append(errs, fmt.Errorf("external id: needs a trust principal, and 2 to 1224 letters, digits or + = , . @ : / - _"))
	}
	if !slices.Contains(o.Features, "events") {
		o.Features = append(slices.Clone(o.Features), "events")
	}
	return o, errors.Join(errs...)
}

// EventPattern is the rule's pattern: the seed's (source aws.appstream, eventSource
// appstream.amazonaws.com, TagResource), with UntagResource, which cancels a rollout, and
// only calls that succeeded (a failed call changed no tag).
func EventPattern() map[string]any {
	return map[string]any{
		"source":      []string{"aws.appstream"},
		"detail-type": []string{"AWS API Call via CloudTrail"},
		"detail": map[string]any{
			"eventSource": []string{"appstream.amazonaws.com"},
			"eventName":   []string{"TagResource", "UntagResource"},
			"errorCode":   []any{map[string]bool{"exists": false}},
		},
	}
}

// template is a CloudFormation template, its sections in the order people read them.
type template struct {
	AWSTemplateFormatVersion string         `yaml:"AWSTemplateFormatVersion"`
	Description              string         `yaml:"Description"`
	Resources                map[string]any `yaml:"Resources"`
	Outputs                  map[string]any `yaml:"Outputs"`
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }
func getAtt(name, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []string{name, attr}}
}
func sub(s string) map[string]any { return map[string]any{"Fn::Sub": s} }
func output(desc string, v any) map[string]any {
	return map[string]any{"Description": desc, "Value": v}
}

// res is one resource of a template, its type first.
type res struct {
	Type       string `yaml:"Type"`
	Properties any    `yaml:"Properties"`
}

func resource(typ string, props any) res { return res{Type: typ, Properties: props} }

// Template returns the stack's CloudFormation template as YAML.
func Template(o Options) ([]byte, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	policy, err := rolePolicy(o.Features, o)
	if err != nil {
		return nil, err
	}
	t := template{
		AWSTemplateFormatVersion: "2010-09-09",
		Description: "deskpilot's event pipeline (deskpilot bootstrap): AppStream tag calls recorded by CloudTrail, " +
			"through an EventBridge rule, to an SQS queue deskpilot long-polls; and deskpilot's IAM role. " +
			"EventBridge receives these events only while a CloudTrail trail logs management events in this region.",
		Resources: map[string]any{
			"DeadLetterQueue": resource("AWS::SQS::Queue", map[string]any{
				"QueueName":              o.QueueName + "-dlq",
				"MessageRetentionPeriod": dlqRetention,
				"SqsManagedSseEnabled":   true,
			}),
			"Queue": resource("AWS::SQS::Queue", map[string]any{
				"QueueName":                     o.QueueName,
				"VisibilityTimeout":             visibilityTimeout,
				"MessageRetentionPeriod":        retention,
				"ReceiveMessageWaitTimeSeconds": 20,
				"SqsManagedSseEnabled":          true,
				"RedrivePolicy": map[string]any{
					"deadLetterTargetArn": getAtt("DeadLetterQueue", "Arn"),
					"maxReceiveCount":     maxReceiveCount,
				},
			}),
			"QueuePolicy": resource("AWS::SQS::QueuePolicy", map[string]any{
				"Queues": []any{ref("Queue")},
				"PolicyDocument": map[string]any{
					"Version": "2012-10-17",
					"Statement": []any{map[string]any{
						"Sid":       "TagEventsFromTheRule",
						"Effect":    "Allow",
						"Principal": map[string]any{"Service": "events.amazonaws.com"},
						"Action":    "sqs:SendMessage",
						"Resource":  getAtt("Queue", "Arn"),
						"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": getAtt("TagEventRule", "Arn")}},
					}},
				},
			}),
			"TagEventRule": resource("AWS::Events::Rule", map[string]any{
				"Description":  "AppStream TagResource and UntagResource calls, for deskpilot",
				"State":        "ENABLED",
				"EventPattern": EventPattern(),
				"Targets":      []any{map[string]any{"Id": "deskpilot-queue", "Arn": getAtt("Queue", "Arn")}},
			}),
			"Role": resource("AWS::IAM::Role", map[string]any{
				"RoleName":    o.RoleName,
				"Description": "deskpilot's role",
				"AssumeRolePolicyDocument": map[string]any{
					"Version":   "2012-10-17",
					"Statement": []any{trustStatement(o)},
				},
				"Policies": []any{map[string]any{"PolicyName": "deskpilot", "PolicyDocument": policy}},
			}),
			"InstanceProfile": resource("AWS::IAM::InstanceProfile", map[string]any{
				"InstanceProfileName": o.RoleName,
				"Roles":               []any{ref("Role")},
			}),
		},
		Outputs: map[string]any{
			"QueueUrl":           output("rollouts.events.queue", ref("Queue")),
			"QueueArn":           output("the queue's ARN", getAtt("Queue", "Arn")),
			"DeadLetterQueueUrl": output("messages deskpilot could not handle five times", ref("DeadLetterQueue")),
			"RoleArn":            output("deskpilot's role", getAtt("Role", "Arn")),
		},
	}
	if o.NoRole {
		delete(t.Resources, "Role")
		delete(t.Resources, "InstanceProfile")
		delete(t.Outputs, "RoleArn")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	return buf.Bytes(), nil
}

// rolePolicy is internal/iampolicy's policy for the features, with the events statement's
// resource narrowed from any queue to the stack's. ARNs are made partition-neutral with
// Fn::Sub, so that the template also deploys in GovCloud and China.
func rolePolicy(features []string, o Options) (map[string]any, error) {
	doc, err := iampolicy.Policy(features)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	stmts, _ := p["Statement"].([]any)
	for _, s := range stmts {
		st, _ := s.(map[string]any)
		if st["Sid"] == "EventsReadQueue" {
			st["Resource"] = getAtt("Queue", "Arn")
			if o.TrustPrincipal != "" { // a target account's role: its queue in every region
				st["Resource"] = sub("arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:" + o.QueueName)
			}
			continue
		}
		st["Resource"] = partitionNeutral(st["Resource"])
	}
	return p, nil
}

// partitionNeutral replaces the aws partition of ARNs by ${AWS::Partition}.
func partitionNeutral(r any) any {
	one := func(v any) any {
		s, ok := v.(string)
		if !ok || len(s) < 8 || s[:8] != "arn:aws:" {
			return v
		}
		return sub("arn:${AWS::Partition}:" + s[8:])
	}
	if list, ok := r.([]any); ok {
		out := make([]any, len(list))
		for i, v := range list {
			out[i] = one(v)
		}
		return out
	}
	return one(r)
}

// trustStatement lets TrustService assume the role, or TrustPrincipal (with its external id)
// when set: deskpilot in another account, serving this one as a target.
func trustStatement(o Options) map[string]any {
	if o.TrustPrincipal == "" {
		return map[string]any{"Effect": "Allow", "Principal": map[string]any{"Service": o.TrustService}, "Action": "sts:AssumeRole"}
	}
	st := map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": o.TrustPrincipal}, "Action": "sts:AssumeRole"}
	if o.ExternalID != "" {
		st["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": o.ExternalID}}
	}
	return st
}
