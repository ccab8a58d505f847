package bootstrap

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestTemplate_resources(t *testing.T) {
	b, err := Template(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
		Outputs map[string]any `yaml:"Outputs"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("the template is not YAML: %v\n%s", err, b)
	}
	types := map[string]string{
		"Queue": "AWS::SQS::Queue", "DeadLetterQueue": "AWS::SQS::Queue", "QueuePolicy": "AWS::SQS::QueuePolicy",
		"TagEventRule": "AWS::Events::Rule", "Role": "AWS::IAM::Role", "InstanceProfile": "AWS::IAM::InstanceProfile",
	}
	for name, typ := range types {
		if got := tpl.Resources[name].Type; got != typ {
			t.Errorf("resource %s has type %q, want %s", name, got, typ)
		}
	}
	if len(tpl.Resources) != len(types) {
		t.Errorf("%d resources, want %d", len(tpl.Resources), len(types))
	}
	if q := tpl.Resources["Queue"].Properties["QueueName"]; q != "deskpilot-events" {
		t.Errorf("queue name %v, want the default deskpilot-events", q)
	}
	for _, k := range []string{"QueueUrl", "QueueArn", "DeadLetterQueueUrl", "RoleArn"} {
		if tpl.Outputs[k] == nil {
			t.Errorf("no output %s", k)
		}
	}
	s := string(b)
	for _, want := range []string{"TagResource", "UntagResource", "exists: false", "AWS API Call via CloudTrail", "sqs:ReceiveMessage",
		"appstream:UpdateFleet", "events.amazonaws.com", "aws:SourceArn", "CloudTrail trail"} {
		if !strings.Contains(s, want) {
			t.Errorf("the template lacks %q", want)
		}
	}
	if strings.Contains(s, "arn:aws:sqs:*:*:*") {
		t.Error("the role may read any queue; bootstrap should hold it to its own")
	}
	if strings.Contains(s, "arn:aws:appstream") {
		t.Error("an ARN names the aws partition; the template should use ${AWS::Partition}")
	}
}

func TestTemplate_badOptions(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{QueueName: "events.fifo"}, "FIFO queues are not supported"},
		{Options{QueueName: strings.Repeat("q", 77)}, "queue name"},
		{Options{RoleName: "a b"}, "role name"},
		{Options{TrustService: "ec2"}, "trust service"},
		{Options{TrustPrincipal: "deskpilot"}, "trust principal"},
		{Options{ExternalID: "abc"}, "external id: needs a trust principal"},
		{Options{TrustPrincipal: "arn:aws:iam::123456789012:role/deskpilot", ExternalID: "a b"}, "external id"},
		{Options{Features: []string{"nope"}}, `unknown feature "nope"`},
	}
	for _, tt := range tests {
		if _, err := Template(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Template(%+v) error %v, want one containing %q", tt.o, err, tt.want)
		}
	}
}

// For a target account, the role trusts deskpilot's own role, with the external id required.
func TestTemplate_trustPrincipal(t *testing.T) {
	out, err := Template(Options{TrustPrincipal: "arn:aws:iam::123456789012:role/deskpilot", ExternalID: "deskpilot-7f3a"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"AWS: arn:aws:iam::123456789012:role/deskpilot", "sts:ExternalId: deskpilot-7f3a"} {
		if !strings.Contains(s, want) {
			t.Errorf("template lacks %q", want)
		}
	}
	if strings.Contains(s, "ec2.amazonaws.com") {
		t.Error("the role still trusts the EC2 service")
	}
	if !strings.Contains(s, "arn:${AWS::Partition}:sqs:*:${AWS::AccountId}:deskpilot-events") {
		t.Error("the target account's role may not read its queue in the account's other regions")
	}
	out, err = Template(Options{NoRole: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "AWS::IAM::Role") || strings.Contains(s, "RoleArn") || !strings.Contains(s, "AWS::SQS::Queue") {
		t.Errorf("--no-role template:\n%s", s)
	}
}
