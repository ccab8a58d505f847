package metrics

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/deskpilot/deskpilot/internal/fault"
)

// awsMiddlewareID names the middleware in the SDK's stack.
const awsMiddlewareID = "deskpilot.metrics.AWSCalls"

// AWSMiddleware returns an aws-sdk-go-v2 stack option that counts every AWS operation in
// deskpilot_aws_calls_total; add it to aws.Config.APIOptions (or awsconfig.WithAPIOptions) so
// that every client built from that config is counted.
//
// It counts once per operation call, whatever the number of attempts: it sits at the end of
// the Initialize step, which wraps the SDK's retry loop (in the Finalize step), so it sees the
// call's final error, after the SDK's retries, and the class is that error's. A throttled
// attempt the SDK retried with success counts as one "ok"; a call that stays throttled through
// every attempt counts as one "throttled". Attempts are not counted on their own: the SDK's
// retries are its business, and what deskpilot's backoff reacts to is the final error. A
// request the SDK refuses before sending (its parameter validation, also in Initialize but
// before this middleware) is not an AWS call and is not counted.
//
// The service label is the SDK's service ID ("AppStream", "Application Auto Scaling",
// "WorkSpaces", "SESv2", "STS"), the operation the API's name ("UpdateFleet").
//
// account labels the calls: the target's account, or "" for deskpilot's own calls; the region
// label is the call's signing region.
func (m *Metrics) AWSMiddleware(account string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		if m == nil {
			return nil
		}
		if _, ok := s.Initialize.Get(awsMiddlewareID); ok {
			return nil // added twice (APIOptions given twice): count once
		}
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc(awsMiddlewareID, func(
			ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler,
		) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			m.awsCall(ctx, account, err)
			return out, md, err
		}), middleware.After)
	}
}

// awsCall counts one operation call that ended with err.
func (m *Metrics) awsCall(ctx context.Context, account string, err error) {
	service := awsmiddleware.GetServiceID(ctx)
	if service == "" {
		service = middleware.GetServiceID(ctx)
	}
	op := awsmiddleware.GetOperationName(ctx)
	if op == "" {
		op = middleware.GetOperationName(ctx)
	}
	class := "ok"
	if err != nil {
		class = fault.Classify(err).String()
	}
	inc(m.awsCalls, account, awsmiddleware.GetRegion(ctx), service, op, class)
}
