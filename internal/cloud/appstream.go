// Package cloud adapts aws-sdk-go-v2 to the small interfaces deskpilot's controllers declare.
// It is thin on purpose: each method is one or a few SDK calls, pagination, and error
// classification; decisions live in the controllers.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/smithy-go"

	"github.com/deskpilot/deskpilot/internal/fault"
	"github.com/deskpilot/deskpilot/internal/rollout"
)

// AppStreamAPI lists the AppStream calls deskpilot makes (aws-sdk-go-v2's *appstream.Client
// satisfies it).
type AppStreamAPI interface {
	DescribeImages(context.Context, *appstream.DescribeImagesInput, ...func(*appstream.Options)) (*appstream.DescribeImagesOutput, error)
	DescribeFleets(context.Context, *appstream.DescribeFleetsInput, ...func(*appstream.Options)) (*appstream.DescribeFleetsOutput, error)
	UpdateFleet(context.Context, *appstream.UpdateFleetInput, ...func(*appstream.Options)) (*appstream.UpdateFleetOutput, error)
	ListTagsForResource(context.Context, *appstream.ListTagsForResourceInput, ...func(*appstream.Options)) (*appstream.ListTagsForResourceOutput, error)
	TagResource(context.Context, *appstream.TagResourceInput, ...func(*appstream.Options)) (*appstream.TagResourceOutput, error)
	UntagResource(context.Context, *appstream.UntagResourceInput, ...func(*appstream.Options)) (*appstream.UntagResourceOutput, error)
	ListAssociatedStacks(context.Context, *appstream.ListAssociatedStacksInput, ...func(*appstream.Options)) (*appstream.ListAssociatedStacksOutput, error)
	DescribeSessions(context.Context, *appstream.DescribeSessionsInput, ...func(*appstream.Options)) (*appstream.DescribeSessionsOutput, error)
	DrainSessionInstance(context.Context, *appstream.DrainSessionInstanceInput, ...func(*appstream.Options)) (*appstream.DrainSessionInstanceOutput, error)
	ExpireSession(context.Context, *appstream.ExpireSessionInput, ...func(*appstream.Options)) (*appstream.ExpireSessionOutput, error)
}

// AppStream implements rollout.AppStream.
type AppStream struct {
	api AppStreamAPI
}

var _ rollout.AppStream = (*AppStream)(nil)

// NewAppStream wraps an AppStream client.
func NewAppStream(api AppStreamAPI) *AppStream { return &AppStream{api: api} }

// Images lists private and shared images (AWS's public base images are never tagged by
// admins) with their tags.
func (a *AppStream) Images(ctx context.Context) ([]rollout.Image, error) {
	var out []rollout.Image
	for _, typ := range []astypes.VisibilityType{astypes.VisibilityTypePrivate, astypes.VisibilityTypeShared} {
		p := appstream.NewDescribeImagesPaginator(a.api, &appstream.DescribeImagesInput{Type: typ})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, wrap("describe images", err)
			}
			for _, img := range page.Images {
				ri := imageOf(img)
				if ri.Tags, err = a.tags(ctx, ri.ARN); err != nil {
					return nil, err
				}
				out = append(out, ri)
			}
		}
	}
	return out, nil
}

// Image returns one image with its tags.
func (a *AppStream) Image(ctx context.Context, name string) (rollout.Image, bool, error) {
	img, ok, err := a.ImageState(ctx, name)
	if err != nil || !ok {
		return img, ok, err
	}
	if img.Tags, err = a.tags(ctx, img.ARN); err != nil {
		return rollout.Image{}, false, err
	}
	return img, true, nil
}

// ImageState returns one image without its tags.
func (a *AppStream) ImageState(ctx context.Context, name string) (rollout.Image, bool, error) {
	out, err := a.api.DescribeImages(ctx, &appstream.DescribeImagesInput{Names: []string{name}})
	if IsNotFound(err) {
		return rollout.Image{}, false, nil
	}
	if err != nil {
		return rollout.Image{}, false, wrap("describe image "+name, err)
	}
	if len(out.Images) == 0 {
		return rollout.Image{}, false, nil
	}
	return imageOf(out.Images[0]), true, nil
}

func imageOf(img astypes.Image) rollout.Image {
	return rollout.Image{Name: aws.ToString(img.Name), ARN: aws.ToString(img.Arn), State: string(img.State), Platform: string(img.Platform)}
}

func (a *AppStream) tags(ctx context.Context, arn string) (map[string]string, error) {
	out, err := a.api.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil, wrap("list tags of "+arn, err)
	}
	if out.Tags == nil {
		return map[string]string{}, nil
	}
	return out.Tags, nil
}

// FleetTags returns a fleet's tags.
func (a *AppStream) FleetTags(ctx context.Context, arn string) (map[string]string, error) {
	return a.tags(ctx, arn)
}

// describeBatch is how many fleet names one DescribeFleets call asks for. AWS documents no
// maximum; a small batch keeps each answer to one page.
const describeBatch = 10

// Fleets describes the named fleets. DescribeFleets fails the whole call when one name does
// not exist or one fleet cannot be read, so a failing batch is read again name by name: the
// missing ones are left out, and the ones that still fail are returned in a
// rollout.FleetErrors with the fleets that could be read, so one bad fleet holds up no other.
func (a *AppStream) Fleets(ctx context.Context, names []string) (map[string]rollout.Fleet, error) {
	out := make(map[string]rollout.Fleet, len(names))
	if names == nil {
		fleets, err := a.describeFleets(ctx, nil)
		if err != nil {
			return nil, wrap("describe fleets", err)
		}
		for _, f := range fleets {
			out[f.Name] = f
		}
		return out, nil
	}
	failed := rollout.FleetErrors{}
	for batch := range slices.Chunk(names, describeBatch) {
		fleets, err := a.describeFleets(ctx, batch)
		switch {
		case err == nil:
		case len(batch) == 1 && IsNotFound(err):
		case len(batch) == 1:
			failed[batch[0]] = wrap("describe fleet "+batch[0], err)
		default:
			for _, name := range batch {
				one, err := a.describeFleets(ctx, []string{name})
				switch {
				case IsNotFound(err):
				case err != nil:
					failed[name] = wrap("describe fleet "+name, err)
				default:
					fleets = append(fleets, one...)
				}
			}
		}
		for _, f := range fleets {
			out[f.Name] = f
		}
	}
	if len(failed) > 0 {
		return out, failed
	}
	return out, nil
}

func (a *AppStream) describeFleets(ctx context.Context, names []string) ([]rollout.Fleet, error) {
	var fleets []rollout.Fleet
	var token *string
	for {
		page, err := a.api.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: names, NextToken: token})
		if err != nil {
			return nil, err
		}
		for _, f := range page.Fleets {
			c := f.ComputeCapacityStatus
			if c == nil {
				c = &astypes.ComputeCapacityStatus{}
			}
			var errs []string
			for _, e := range f.FleetErrors {
				errs = append(errs, string(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
			}
			fleets = append(fleets, rollout.Fleet{
				Name: aws.ToString(f.Name), ARN: aws.ToString(f.Arn), State: string(f.State), Type: string(f.FleetType),
				ImageARN: aws.ToString(f.ImageArn), Platform: string(f.Platform),
				Desired: aws.ToInt32(c.Desired), Running: aws.ToInt32(c.Running), InUse: aws.ToInt32(c.InUse), Available: aws.ToInt32(c.Available),
				Errors: errs, MaxSessions: aws.ToInt32(f.MaxSessionsPerInstance),
				AvailableSessions: aws.ToInt32(c.AvailableUserSessions), Draining: aws.ToInt32(c.Draining), DrainUnused: aws.ToInt32(c.DrainModeUnusedUserSessions),
			})
		}
		if token = page.NextToken; token == nil {
			return fleets, nil
		}
	}
}

// UpdateFleetImage points a fleet at an image by ARN (which also addresses shared images).
func (a *AppStream) UpdateFleetImage(ctx context.Context, fleet, imageARN string) error {
	_, err := a.api.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: aws.String(fleet), ImageArn: aws.String(imageARN)})
	return wrap(fmt.Sprintf("update fleet %s to %s", fleet, imageARN), err)
}

// TagResource adds or overwrites tags.
func (a *AppStream) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	_, err := a.api.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
	return wrap("tag "+arn, err)
}

// UntagResource removes tags; removing an absent key is not an error.
func (a *AppStream) UntagResource(ctx context.Context, arn string, keys []string) error {
	_, err := a.api.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: keys})
	return wrap("untag "+arn, err)
}

// sessionAuthTypes are the authentication types DescribeSessions is asked about: without one
// it lists only API (streaming URL) users' sessions.
var sessionAuthTypes = []astypes.AuthenticationType{astypes.AuthenticationTypeApi, astypes.AuthenticationTypeSaml,
	astypes.AuthenticationTypeUserpool, astypes.AuthenticationTypeAwsAd}

// Sessions returns every session of a fleet: DescribeSessions needs a stack, so it reads the
// fleet's associated stacks first, then each stack's sessions of each authentication type.
func (a *AppStream) Sessions(ctx context.Context, fleet string) ([]rollout.Session, error) {
	var stacks []string
	for token := (*string)(nil); ; {
		page, err := a.api.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: aws.String(fleet), NextToken: token})
		if err != nil {
			return nil, wrap("list the stacks of fleet "+fleet, err)
		}
		stacks = append(stacks, page.Names...)
		if token = page.NextToken; token == nil {
			break
		}
	}
	var out []rollout.Session
	for _, stack := range stacks {
		for _, auth := range sessionAuthTypes {
			for token := (*string)(nil); ; {
				page, err := a.api.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: aws.String(stack), FleetName: aws.String(fleet),
					AuthenticationType: auth, NextToken: token})
				if err != nil {
					return nil, wrap(fmt.Sprintf("describe the sessions of fleet %s in stack %s", fleet, stack), err)
				}
				for _, ss := range page.Sessions {
					out = append(out, rollout.Session{ID: aws.ToString(ss.Id), UserID: aws.ToString(ss.UserId), InstanceID: aws.ToString(ss.InstanceId),
						Draining: ss.InstanceDrainStatus == astypes.InstanceDrainStatusDraining, Start: aws.ToTime(ss.StartTime)})
				}
				if token = page.NextToken; token == nil {
					break
				}
			}
		}
	}
	return out, nil
}

// DrainSessionInstance puts the instance hosting a session in drain mode.
func (a *AppStream) DrainSessionInstance(ctx context.Context, sessionID string) error {
	_, err := a.api.DrainSessionInstance(ctx, &appstream.DrainSessionInstanceInput{SessionId: aws.String(sessionID)})
	return wrap("drain the instance of session "+sessionID, err)
}

// ExpireSession ends a session.
func (a *AppStream) ExpireSession(ctx context.Context, sessionID string) error {
	_, err := a.api.ExpireSession(ctx, &appstream.ExpireSessionInput{SessionId: aws.String(sessionID)})
	return wrap("expire session "+sessionID, err)
}

// Error is an AWS error with the operation that returned it. Its class (throttled, transient,
// not found, denied, invalid, conflict) is fault.Classify's, from the AWS error code inside.
type Error struct {
	Op   string
	Code string
	Err  error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// wrap names the operation of an SDK error; nil stays nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return &Error{Op: op, Code: code, Err: err}
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return fault.IsNotFound(err) }
