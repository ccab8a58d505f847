package sim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/deskpilot/deskpilot/internal/bootstrap"
	"github.com/deskpilot/deskpilot/internal/tagevent"
	"github.com/deskpilot/deskpilot/sim"
)

func errorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

func (e *env) stackOf(cf *cloudformation.Client, name string) cfntypes.Stack {
	e.t.Helper()
	out, err := cf.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		e.t.Fatalf("DescribeStacks %s: %v", name, err)
	}
	return out.Stacks[0]
}

func outputsOf(st cfntypes.Stack) map[string]string {
	out := map[string]string{}
	for _, o := range st.Outputs {
		out[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return out
}

// `deskpilot bootstrap --apply` against the emulator: the stack creates the queue, its
// dead-letter queue and the rule, whose queue receives the tag events its pattern matches.
func TestCloudFormation_Bootstrap(t *testing.T) {
	e := newEnv(t)
	cf := cloudformation.NewFromConfig(e.cfg)
	c := sqs.NewFromConfig(e.cfg)
	arn := e.image("img-1", "")
	tpl, err := bootstrap.Template(bootstrap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := bootstrap.Applier{API: cf, Poll: time.Millisecond}
	res, err := a.Apply(e.ctx, "deskpilot", tpl)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != bootstrap.Created || res.Status != "CREATE_COMPLETE" || !strings.HasPrefix(res.StackID, "arn:aws:cloudformation:us-east-1:123456789012:stack/deskpilot/") {
		t.Errorf("Apply = %+v", res)
	}
	want := map[string]string{
		"QueueUrl":           e.url + "/123456789012/deskpilot-events",
		"QueueArn":           "arn:aws:sqs:us-east-1:123456789012:deskpilot-events",
		"DeadLetterQueueUrl": e.url + "/123456789012/deskpilot-events-dlq",
		"RoleArn":            "arn:aws:iam::123456789012:role/deskpilot",
	}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.Outputs[k], v)
		}
	}
	q := queueAttrs(t, e.ctx, c, res.Outputs["QueueUrl"], sqstypes.QueueAttributeNameAll)
	if q["VisibilityTimeout"] != "120" || q["ReceiveMessageWaitTimeSeconds"] != "20" || q["MessageRetentionPeriod"] != "345600" ||
		q["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:deskpilot-events-dlq","maxReceiveCount":5}` {
		t.Errorf("queue attributes %v", q)
	}
	if d := queueAttrs(t, e.ctx, c, res.Outputs["DeadLetterQueueUrl"], sqstypes.QueueAttributeNameMessageRetentionPeriod); d["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("dead-letter queue %v", d)
	}
	targets := e.sim.EventTargets().Targets
	if len(targets) != 1 || targets[0].QueueUrl != res.Outputs["QueueUrl"] || !strings.HasPrefix(targets[0].Rule, "arn:aws:events:us-east-1:123456789012:rule/deskpilot-TagEventRule-") {
		t.Fatalf("targets %+v", targets)
	}

	// The rule's pattern passes successful tag calls and drops failed ones.
	if err := e.tag(arn, map[string]string{"FleetName": "fleet-a"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tag("arn:aws:appstream:us-east-1:123456789012:image/missing", map[string]string{"FleetName": "fleet-a"}); err == nil {
		t.Fatal("tagging a missing image worked")
	}
	msgs := receive(t, e.ctx, c, res.Outputs["QueueUrl"], func(in *sqs.ReceiveMessageInput) { in.WaitTimeSeconds = 0 })
	if len(msgs) != 1 {
		t.Fatalf("%d events through the rule, want 1 (the failed call is filtered)", len(msgs))
	}
	if ev, err := tagevent.Parse([]byte(aws.ToString(msgs[0].Body))); err != nil || ev.Image != "img-1" {
		t.Errorf("event %+v, %v", ev, err)
	}

	// Applying again changes nothing; a different template updates the stack.
	if res, err := a.Apply(e.ctx, "deskpilot", tpl); err != nil || res.Action != bootstrap.Unchanged {
		t.Errorf("second Apply = %+v, %v", res, err)
	}
	tpl2, err := bootstrap.Template(bootstrap.Options{TrustService: "ecs-tasks.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := a.Apply(e.ctx, "deskpilot", tpl2); err != nil || res.Action != bootstrap.Updated || res.Status != "UPDATE_COMPLETE" ||
		res.Outputs["QueueUrl"] != want["QueueUrl"] {
		t.Errorf("Apply of a changed template = %+v, %v", res, err)
	}
	if len(e.sim.EventTargets().Targets) != 1 {
		t.Errorf("targets after the update: %+v", e.sim.EventTargets().Targets)
	}

	// Deleting the stack deletes its queues and its rule's targets.
	if _, err := cf.DeleteStack(e.ctx, &cloudformation.DeleteStackInput{StackName: aws.String("deskpilot")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deskpilot-events")})
	wantCode(t, "the stack's queue after DeleteStack", err, "AWS.SimpleQueueService.NonExistentQueue")
	if n := len(e.sim.EventTargets().Targets); n != 0 {
		t.Errorf("%d targets after DeleteStack", n)
	}
	_, err = cf.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("deskpilot")})
	if errorCode(err) != "ValidationError" || errorMessage(err) != "Stack with id deskpilot does not exist" {
		t.Errorf("DescribeStacks after DeleteStack: %v", err)
	}
}

const queueTemplate = `
AWSTemplateFormatVersion: "2010-09-09"
Description: two queues
Parameters:
  Visibility:
    Type: Number
    Default: 30
Resources:
  Dead:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-dead"
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: work
      VisibilityTimeout: !Ref Visibility
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dead.Arn
        maxReceiveCount: 3
  Policy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Work]
      PolicyDocument: {Version: "2012-10-17", Statement: []}
Outputs:
  WorkUrl: {Value: !Ref Work}
  WorkArn: {Value: !GetAtt Work.Arn, Description: the work queue}
  Joined: {Value: !Join [",", [!GetAtt Dead.QueueName, !Ref "AWS::Region"]]}
`

func TestCloudFormation_CreateUpdateDescribe(t *testing.T) {
	e := newEnv(t)
	cf := cloudformation.NewFromConfig(e.cfg)
	c := sqs.NewFromConfig(e.cfg)
	out, err := cf.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String("queues"), TemplateBody: aws.String(queueTemplate),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Visibility"), ParameterValue: aws.String("40")}},
		Tags:       []cfntypes.Tag{{Key: aws.String("team"), Value: aws.String("euc")}}})
	if err != nil {
		t.Fatal(err)
	}
	st := e.stackOf(cf, "queues")
	if st.StackStatus != cfntypes.StackStatusCreateComplete || aws.ToString(st.StackId) != aws.ToString(out.StackId) || aws.ToString(st.Description) != "two queues" ||
		!st.CreationTime.Equal(epoch) || len(st.Tags) != 1 || len(st.Parameters) != 1 || aws.ToString(st.Parameters[0].ParameterValue) != "40" {
		t.Errorf("stack %+v", st)
	}
	outputs := outputsOf(st)
	if outputs["WorkUrl"] != e.url+"/123456789012/work" || outputs["WorkArn"] != "arn:aws:sqs:us-east-1:123456789012:work" ||
		outputs["Joined"] != "queues-dead,us-east-1" {
		t.Errorf("outputs %v", outputs)
	}
	work := outputs["WorkUrl"]
	if a := queueAttrs(t, e.ctx, c, work, sqstypes.QueueAttributeNameAll); a["VisibilityTimeout"] != "40" ||
		a["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:queues-dead","maxReceiveCount":3}` {
		t.Errorf("work queue %v", a)
	}
	// The same template and parameters: no update, with AWS's words.
	_, err = cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: aws.String("queues"), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Visibility"), UsePreviousValue: aws.Bool(true)}}})
	if errorCode(err) != "ValidationError" || errorMessage(err) != "No updates are to be performed." {
		t.Errorf("UpdateStack with nothing to change: %v", err)
	}
	// A new parameter value changes the queue in place; its messages stay.
	mustSend(t, e.ctx, c, work, "kept")
	e.advance(time.Minute)
	if _, err := cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: aws.String("queues"), UsePreviousTemplate: aws.Bool(true),
		Parameters: []cfntypes.Parameter{{ParameterKey: aws.String("Visibility"), ParameterValue: aws.String("50")}}}); err != nil {
		t.Fatal(err)
	}
	st = e.stackOf(cf, "queues")
	if st.StackStatus != cfntypes.StackStatusUpdateComplete || !st.LastUpdatedTime.Equal(epoch.Add(time.Minute)) {
		t.Errorf("after the update: %s, updated %v", st.StackStatus, st.LastUpdatedTime)
	}
	if a := queueAttrs(t, e.ctx, c, work, sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameApproximateNumberOfMessages); a["VisibilityTimeout"] != "50" || a["ApproximateNumberOfMessages"] != "1" {
		t.Errorf("work queue after the update %v", a)
	}
	// A template without the dead-letter queue deletes it (and the redrive policy with it).
	smaller := strings.Replace(strings.Replace(queueTemplate, `      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dead.Arn
        maxReceiveCount: 3
`, "", 1), `  Dead:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-dead"
`, "", 1)
	smaller = strings.Replace(smaller, `  Joined: {Value: !Join [",", [!GetAtt Dead.QueueName, !Ref "AWS::Region"]]}
`, "", 1)
	if _, err := cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: out.StackId, TemplateBody: aws.String(smaller)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("queues-dead")})
	wantCode(t, "the removed queue", err, "AWS.SimpleQueueService.NonExistentQueue")
	if a := queueAttrs(t, e.ctx, c, work, sqstypes.QueueAttributeNameAll); a["RedrivePolicy"] != "" || a["VisibilityTimeout"] != "30" {
		t.Errorf("work queue after removing its redrive policy: %v", a)
	}
	all, err := cf.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{})
	if err != nil || len(all.Stacks) != 1 {
		t.Errorf("DescribeStacks without a name: %v, %v", all, err)
	}
}

func TestCloudFormation_Errors(t *testing.T) {
	e := newEnv(t)
	cf := cloudformation.NewFromConfig(e.cfg)
	role := `{"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "r", "AssumeRolePolicyDocument": {}}}}}`
	unnamed := `{"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}}}`
	create := func(name, body string, caps ...cfntypes.Capability) error {
		_, err := cf.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(body), Capabilities: caps})
		return err
	}
	for _, tc := range []struct {
		what, name, body string
		caps             []cfntypes.Capability
		code, message    string
	}{
		{"a named role without capabilities", "s1", role, nil, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"},
		{"a named role with CAPABILITY_IAM", "s1", role, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"},
		{"an unnamed role without capabilities", "s1", unnamed, nil, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"},
		{"no template", "s1", "", nil, "ValidationError", "Either Template URL or Template Body must be specified."},
		{"YAML that is not", "s1", "Resources: [", nil, "ValidationError", "Template format error: YAML not well-formed."},
		{"no resources", "s1", "Description: x", nil, "ValidationError", "Template format error: At least one Resources member must be defined."},
		{"an unknown reference", "s1", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Nope"}}}}}`, nil,
			"ValidationError", "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"},
		{"an unsupported function", "s1", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::ImportValue": "x"}}}}}`, nil,
			"ValidationError", "deskpilot sim does not support the intrinsic function Fn::ImportValue"},
		{"a bad stack name", "bad_name", unnamed, []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}, "ValidationError", "1 validation error detected: Value 'bad_name' at 'stackName'"},
		{"a parameter without a value", "s1", `{"Parameters": {"P": {"Type": "String"}}, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`, nil,
			"ValidationError", "Parameters: [P] must have values"},
	} {
		err := create(tc.name, tc.body, tc.caps...)
		if errorCode(err) != tc.code || !strings.HasPrefix(errorMessage(err), tc.message) {
			t.Errorf("%s: %v, want %s %q", tc.what, err, tc.code, tc.message)
		}
	}
	if err := create("s1", role, cfntypes.CapabilityCapabilityNamedIam); err != nil {
		t.Fatal(err)
	}
	if err := create("s1", role, cfntypes.CapabilityCapabilityNamedIam); errorCode(err) != "AlreadyExistsException" || errorMessage(err) != "Stack [s1] already exists" {
		t.Errorf("CreateStack of an existing stack: %v", err)
	}
	_, err := cf.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("nope")})
	if errorCode(err) != "ValidationError" || errorMessage(err) != "Stack with id nope does not exist" {
		t.Errorf("DescribeStacks of an unknown stack: %v", err)
	}
	_, err = cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: aws.String("nope"), TemplateBody: aws.String(role)})
	if errorCode(err) != "ValidationError" || errorMessage(err) != "Stack [nope] does not exist" {
		t.Errorf("UpdateStack of an unknown stack: %v", err)
	}
	_, err = cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: aws.String("s1"), TemplateBody: aws.String(role)})
	if errorCode(err) != "InsufficientCapabilitiesException" {
		t.Errorf("UpdateStack without the capability: %v", err)
	}
	if _, err := cf.DeleteStack(e.ctx, &cloudformation.DeleteStackInput{StackName: aws.String("nope")}); err != nil {
		t.Errorf("DeleteStack of an unknown stack: %v (AWS succeeds)", err)
	}
}

// A resource the emulator refuses rolls the stack back, changing nothing; a rolled-back stack
// cannot be updated.
func TestCloudFormation_ResourceFailure(t *testing.T) {
	e := newEnv(t)
	cf := cloudformation.NewFromConfig(e.cfg)
	c := sqs.NewFromConfig(e.cfg)
	mustQueue(t, e.ctx, c, "taken", nil)
	for _, tc := range []struct{ name, body, reason string }{
		{"badvis", `{"Resources": {"A": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "fine"}},
			"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q", "VisibilityTimeout": 99999}}}}`, "Q: Invalid value for the parameter VisibilityTimeout."},
		{"taken", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "taken"}}}}`, "Q: taken already exists"},
		{"pattern", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}, "R": {"Type": "AWS::Events::Rule", "Properties": {
			"EventPattern": {"detail": {"n": [{"numeric": [">", 1]}]}}, "Targets": [{"Id": "q", "Arn": {"Fn::GetAtt": ["Q", "Arn"]}}]}}}}`, `R: deskpilot sim does not match the event pattern operator "numeric"`},
		{"property", `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Colour": "blue"}}}}`, "Q: Encountered unsupported property Colour"},
	} {
		if _, err := cf.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String(tc.name), TemplateBody: aws.String(tc.body)}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		st := e.stackOf(cf, tc.name)
		if st.StackStatus != cfntypes.StackStatusRollbackComplete || !strings.Contains(aws.ToString(st.StackStatusReason), tc.reason) {
			t.Errorf("%s: %s %q, want ROLLBACK_COMPLETE with %q", tc.name, st.StackStatus, aws.ToString(st.StackStatusReason), tc.reason)
		}
	}
	out, err := c.ListQueues(e.ctx, &sqs.ListQueuesInput{})
	if err != nil || len(out.QueueUrls) != 1 {
		t.Errorf("queues after the failed stacks: %v, %v (want only taken)", out.QueueUrls, err)
	}
	_, err = cf.UpdateStack(e.ctx, &cloudformation.UpdateStackInput{StackName: aws.String("taken"), TemplateBody: aws.String(`{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`)})
	if errorCode(err) != "ValidationError" || !strings.Contains(errorMessage(err), "is in ROLLBACK_COMPLETE state and can not be updated.") {
		t.Errorf("UpdateStack of a rolled-back stack: %v", err)
	}
}

// Rules filter with their event patterns; a rule without a pattern sends nothing.
func TestCloudFormation_RulePatterns(t *testing.T) {
	e := newEnv(t)
	cf := cloudformation.NewFromConfig(e.cfg)
	c := sqs.NewFromConfig(e.cfg)
	arn := e.image("gold-1", "")
	e.image("silver-1", "")
	pattern := func(detail string) string {
		return `{"source": ["aws.appstream"], "detail": ` + detail + `}`
	}
	rules := map[string]string{
		"Prefix":      pattern(`{"requestParameters": {"resourceArn": [{"prefix": "arn:aws:appstream:us-east-1:123456789012:image/gold"}]}}`),
		"AnythingBut": pattern(`{"eventName": [{"anything-but": "UntagResource"}]}`),
		"Failed":      pattern(`{"errorCode": [{"exists": true}]}`),
		"Keys":        pattern(`{"requestParameters": {"tagKeys": ["Status"]}}`),
	}
	var b strings.Builder
	b.WriteString("Resources:\n")
	for name, p := range rules {
		b.WriteString("  " + name + "Queue: {Type: AWS::SQS::Queue, Properties: {QueueName: " + strings.ToLower(name) + "}}\n")
		b.WriteString("  " + name + "Rule:\n    Type: AWS::Events::Rule\n    Properties:\n      EventPattern: '" + p + "'\n")
		b.WriteString("      Targets: [{Id: q, Arn: !GetAtt " + name + "Queue.Arn}]\n")
	}
	b.WriteString("  Scheduled: {Type: AWS::Events::Rule, Properties: {ScheduleExpression: rate(1 hour), Targets: [{Id: q, Arn: !GetAtt PrefixQueue.Arn}]}}\n")
	if _, err := cf.CreateStack(e.ctx, &cloudformation.CreateStackInput{StackName: aws.String("rules"), TemplateBody: aws.String(b.String())}); err != nil {
		t.Fatal(err)
	}
	if st := e.stackOf(cf, "rules"); st.StackStatus != cfntypes.StackStatusCreateComplete {
		t.Fatalf("stack %s: %s", st.StackStatus, aws.ToString(st.StackStatusReason))
	}
	if err := e.tag(arn, map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tag("arn:aws:appstream:us-east-1:123456789012:image/silver-1", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as.UntagResource(e.ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"Status"}}); err != nil {
		t.Fatal(err)
	}
	_ = e.tag("arn:aws:appstream:us-east-1:123456789012:image/missing", map[string]string{"a": "1"})
	count := func(queue string) int {
		url, err := c.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			got := receive(t, e.ctx, c, aws.ToString(url.QueueUrl))
			if len(got) == 0 {
				return n
			}
			n += len(got)
		}
	}
	for queue, want := range map[string]int{"prefix": 2, "anythingbut": 3, "failed": 1, "keys": 1} {
		if got := count(queue); got != want {
			t.Errorf("queue %s: %d events, want %d", queue, got, want)
		}
	}
	var withPattern int
	for _, tg := range e.sim.EventTargets().Targets {
		var p map[string]any
		if json.Unmarshal(tg.EventPattern, &p) == nil && p["source"] != nil {
			withPattern++
		}
	}
	if withPattern != 4 {
		t.Errorf("%d targets with a pattern, want 4: %+v", withPattern, e.sim.EventTargets().Targets)
	}
}

// The AWS CLI's cloudformation commands work against the emulator.
func TestCloudFormation_AWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI is not installed (no `aws` on PATH); CI installs it. Skipping the independent-client check.")
	}
	_, url := cliSim(t)
	env := clientEnv(t, url)
	file := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(file, []byte(queueTemplate), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(awsPath, append([]string{"--endpoint-url", url, "--output", "json", "cloudformation"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("create-stack", "--stack-name", "cli", "--template-body", "file://"+file); err != nil || !strings.Contains(out, "arn:aws:cloudformation:") {
		t.Fatalf("create-stack: %v\n%s", err, out)
	}
	out, err := run("describe-stacks", "--stack-name", "cli")
	if err != nil || !strings.Contains(out, `"StackStatus": "CREATE_COMPLETE"`) || !strings.Contains(out, url+"/123456789012/work") {
		t.Errorf("describe-stacks: %v\n%s", err, out)
	}
	if out, err := run("update-stack", "--stack-name", "cli", "--template-body", "file://"+file); err == nil || !strings.Contains(out, "No updates are to be performed.") {
		t.Errorf("update-stack with the same template: %v\n%s", err, out)
	}
}

// FuzzCloudFormationTemplate creates and updates stacks from arbitrary templates: the emulator
// must answer each call with a well-formed AWS response, never a panic or an internal failure.
func FuzzCloudFormationTemplate(f *testing.F) {
	tpl, err := bootstrap.Template(bootstrap.Options{})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(tpl), queueTemplate, `{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`,
		"a: &x [1, *x]\nResources: *x", `{"Resources": {"R": {"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {"a": [{"anything-but": [1, "x"]}]}}}}}`,
		"Resources:\n  A: {Type: AWS::SQS::Queue, Properties: {QueueName: !Sub '${B.QueueName}-x'}}\n  B: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt A.QueueName}}\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s := sim.New(sim.Options{Clock: sim.NewManualClock(epoch), RandSeed: 1})
		for _, action := range []string{"CreateStack", "UpdateStack", "DescribeStacks", "DeleteStack"} {
			form := url.Values{"Action": {action}, "Version": {"2010-05-15"}, "StackName": {"fuzz"}, "TemplateBody": {body},
				"Capabilities.member.1": {"CAPABILITY_NAMED_IAM"}}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 500 || (rec.Code != 200 && !strings.Contains(rec.Body.String(), "<ErrorResponse")) {
				t.Fatalf("%s %q: %d %s", action, body, rec.Code, rec.Body)
			}
		}
	})
}
