package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// CloudFormationAPI is the part of the CloudFormation API Apply calls (aws-sdk-go-v2's
// *cloudformation.Client satisfies it). These calls are the operator's, made with their
// credentials, not deskpilot's role: they are not in internal/iampolicy's table.
type CloudFormationAPI interface {
	CreateStack(context.Context, *cloudformation.CreateStackInput, ...func(*cloudformation.Options)) (*cloudformation.CreateStackOutput, error)
	UpdateStack(context.Context, *cloudformation.UpdateStackInput, ...func(*cloudformation.Options)) (*cloudformation.UpdateStackOutput, error)
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// What Apply did.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
)

// Result is the stack after Apply.
type Result struct {
	Action  string
	StackID string
	Status  string
	// Outputs are the stack's outputs by key: QueueUrl, QueueArn, DeadLetterQueueUrl, RoleArn.
	Outputs map[string]string
}

// Applier creates or updates the stack and waits for CloudFormation to finish.
type Applier struct {
	API CloudFormationAPI
	// Poll is the time between two reads of the stack's status; zero means 5 s.
	Poll time.Duration
	// Progress, when set, gets a line per status change.
	Progress io.Writer
}

// noUpdates is CloudFormation's answer to an UpdateStack that changes nothing: for Apply, the
// stack is as it should be.
const noUpdates = "No updates are to be performed."

// Apply makes the stack named stack hold template: it creates it when it does not exist,
// updates it when it does, and leaves it when it already holds it. It is idempotent, so it can
// run from a pipeline at every deploy. The template creates a named IAM role, so the calls
// acknowledge CAPABILITY_NAMED_IAM.
func (a Applier) Apply(ctx context.Context, stack string, template []byte) (Result, error) {
	body := aws.String(string(template))
	caps := []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}
	st, exists, err := a.describe(ctx, stack)
	if err != nil {
		return Result{}, err
	}
	if exists && st.StackStatus == cfntypes.StackStatusRollbackComplete {
		// A stack whose creation failed and rolled back cannot be updated, only deleted.
		return Result{}, fmt.Errorf("stack %s is %s (its creation failed): delete it, then run bootstrap again", stack, st.StackStatus)
	}
	var action string
	if !exists {
		action = Created
		out, err := a.API.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(stack), TemplateBody: body, Capabilities: caps,
			Tags: []cfntypes.Tag{{Key: aws.String("deskpilot"), Value: aws.String("bootstrap")}}})
		if err != nil {
			return Result{}, fmt.Errorf("create stack %s: %w", stack, err)
		}
		a.progress("creating stack %s (%s)", stack, aws.ToString(out.StackId))
	} else {
		action = Updated
		_, err := a.API.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String(stack), TemplateBody: body, Capabilities: caps})
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && strings.Contains(apiErr.ErrorMessage(), noUpdates) {
			a.progress("stack %s is up to date", stack)
			return result(Unchanged, st), nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("update stack %s: %w", stack, err)
		}
		a.progress("updating stack %s", stack)
	}
	st, err = a.wait(ctx, stack)
	if err != nil {
		return Result{}, err
	}
	return result(action, st), nil
}

func result(action string, st cfntypes.Stack) Result {
	r := Result{Action: action, StackID: aws.ToString(st.StackId), Status: string(st.StackStatus), Outputs: map[string]string{}}
	for _, o := range st.Outputs {
		r.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return r
}

// describe reads the stack; a stack that does not exist is (zero, false, nil).
func (a Applier) describe(ctx context.Context, stack string) (cfntypes.Stack, bool, error) {
	out, err := a.API.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
		return cfntypes.Stack{}, false, nil
	}
	if err != nil {
		return cfntypes.Stack{}, false, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return cfntypes.Stack{}, false, nil
	}
	return out.Stacks[0], true, nil
}

// wait polls the stack until its status is no longer *_IN_PROGRESS, and fails unless it ends
// in CREATE_COMPLETE or UPDATE_COMPLETE.
func (a Applier) wait(ctx context.Context, stack string) (cfntypes.Stack, error) {
	poll := a.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	last := cfntypes.StackStatus("")
	for {
		st, exists, err := a.describe(ctx, stack)
		if err != nil {
			return st, err
		}
		if !exists {
			return st, fmt.Errorf("stack %s vanished while it was being applied", stack)
		}
		if st.StackStatus != last {
			a.progress("stack %s: %s", stack, st.StackStatus)
			last = st.StackStatus
		}
		switch s := string(st.StackStatus); {
		case s == string(cfntypes.StackStatusCreateComplete) || s == string(cfntypes.StackStatusUpdateComplete):
			return st, nil
		case !strings.HasSuffix(s, "_IN_PROGRESS"):
			return st, fmt.Errorf("stack %s ended %s: %s (see its events in the CloudFormation console)", stack, s, aws.ToString(st.StackStatusReason))
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, fmt.Errorf("waiting for stack %s: %w", stack, ctx.Err())
		case <-t.C:
		}
	}
}

func (a Applier) progress(format string, args ...any) {
	if a.Progress != nil {
		fmt.Fprintf(a.Progress, format+"\n", args...)
	}
}
