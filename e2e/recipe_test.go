package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// recipe is the serverless recipe deskpilot replaces (../shared/seeds/000_…: one Lambda
// function behind an EventBridge rule and a Step Functions state machine), ported call for call
// to the Go SDK so that the benchmarks can count its AWS calls on the same emulator estate as
// deskpilot's. Its logic is kept as it is, defects included (it untags the image once per fleet,
// and reads a fleet's tags with the fleet's ARN), because the point is what it costs.
//
// What the port does not make are the calls the recipe's infrastructure makes for it:
// EventBridge invoking the function, and the state machine's waits. The one Step Functions call
// the function makes, StartExecution, is counted in stepFunctionCalls (the emulator has no Step
// Functions). SES v1's SendEmail is made as SES v2's SendEmail, one call either way.
type recipe struct {
	as  *appstream.Client
	aas *applicationautoscaling.Client
	ses *sesv2.Client

	// maintDay (Monday 0) and maintTime ("hh:mm:ss" UTC) are the recipe's window settings.
	maintDay  int
	maintTime string

	stepFunctionCalls int
}

// recipeExecution is one execution of the recipe's state machine: wait until expiry, deploy,
// then every 300 s scale up what is still pending.
type recipeExecution struct {
	expiry   time.Time
	imageARN string
	pending  []string
	deployed bool
}

// recipeScaleWait is the state machine's WaitScaling: 300 s between checks of the drained fleets.
const recipeScaleWait = 300 * time.Second

func (r *recipe) sendEmail(ctx context.Context, title, body string) {
	// The recipe logs SES errors and goes on.
	_, _ = r.ses.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("deskpilot@example.com"),
		Destination:      &sestypes.Destination{ToAddresses: []string{"euc-admins@example.com"}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(title)},
			Body:    &sestypes.Body{Html: &sestypes.Content{Data: aws.String(body)}},
		}},
	})
}

// taggedImage is the function on the rule's event: the TagResource call's resource ARN and
// tags. It returns the state machine's execution, or nil.
func (r *recipe) taggedImage(ctx context.Context, now time.Time, resourceARN string, tags map[string]string) (*recipeExecution, error) {
	parts := strings.Split(resourceARN, ":")
	if len(parts) < 6 {
		return nil, fmt.Errorf("resource ARN %q", resourceARN)
	}
	typ, name, _ := strings.Cut(parts[5], "/")
	if typ != "image" || tags["FleetName"] == "" {
		return nil, nil
	}
	for _, raw := range strings.Split(tags["FleetName"], "/") {
		if _, err := r.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{strings.TrimSpace(raw)}}); err != nil {
			return nil, nil // "No fleet found. Cancelling deployment."
		}
	}
	day := now.UTC().Truncate(24 * time.Hour)
	weekday := (int(day.Weekday()) + 6) % 7 // Python's weekday(): Monday 0
	day = day.AddDate(0, 0, ((r.maintDay-weekday)%7+7)%7)
	window := day.Format("2006-01-02") + "T" + r.maintTime + "Z"
	expiry, err := time.Parse(time.RFC3339, window)
	if err != nil {
		return nil, err
	}
	if _, err := r.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: aws.String(resourceARN), Tags: map[string]string{"Status": "Pending/" + window}}); err != nil {
		return nil, err
	}
	r.stepFunctionCalls++
	r.sendEmail(ctx, "Pending AppStream 2.0 Deployment of Image "+name, "pending")
	return &recipeExecution{expiry: expiry, imageARN: resourceARN}, nil
}

// deployImages is the function at the window.
func (r *recipe) deployImages(ctx context.Context, imageARN string) ([]string, error) {
	imgs, err := r.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Arns: []string{imageARN}})
	if err != nil || len(imgs.Images) == 0 {
		return nil, fmt.Errorf("describe image: %v", err)
	}
	image := imgs.Images[0]
	lt, err := r.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: image.Arn})
	if err != nil {
		return nil, err
	}
	tags := lt.Tags
	var pending []string
	if tags["FleetName"] == "" || string(image.State) != "AVAILABLE" || !strings.HasPrefix(tags["Status"], "Pending") {
		return nil, nil
	}
	for _, raw := range strings.Split(tags["FleetName"], "/") {
		name := strings.TrimSpace(raw)
		fl, err := r.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{name}})
		if err != nil || len(fl.Fleets) == 0 {
			continue
		}
		fleet := fl.Fleets[0]
		if aws.ToString(fleet.ImageArn) == aws.ToString(image.Arn) {
			continue
		}
		if _, err := r.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: aws.String(name), ImageArn: image.Arn}); err != nil {
			continue
		}
		if tags["ScaleImmediately"] == "True" && string(fleet.State) == "RUNNING" {
			ts, err := r.aas.DescribeScalableTargets(ctx, &applicationautoscaling.DescribeScalableTargetsInput{
				ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceIds: []string{"fleet/" + name},
				ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity,
			})
			if err == nil && len(ts.ScalableTargets) > 0 {
				t := ts.ScalableTargets[0]
				for _, tag := range []map[string]string{{"Min": strconv.Itoa(int(aws.ToInt32(t.MinCapacity)))}, {"Max": strconv.Itoa(int(aws.ToInt32(t.MaxCapacity)))}, {"Status": "Pending"}} {
					_, _ = r.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: fleet.Arn, Tags: tag})
				}
				_, _ = r.aas.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
					ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + name),
					ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(0),
				})
				pending = append(pending, name)
				_, _ = r.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: image.Arn, TagKeys: []string{"ScaleImmediately"}})
			}
		}
		// The recipe removes these inside the fleet loop: once per fleet.
		_, _ = r.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: image.Arn, TagKeys: []string{"FleetName"}})
		_, _ = r.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: image.Arn, TagKeys: []string{"Status"}})
	}
	r.sendEmail(ctx, "Summary of AppStream 2.0 Image Deployments", "deployed")
	return pending, nil
}

// scaleUp is the function every 300 s after the deployment, on the fleets still pending.
func (r *recipe) scaleUp(ctx context.Context, fleets []string) []string {
	var still []string
	body := false
	for _, name := range fleets {
		fl, err := r.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{name}})
		if err != nil || len(fl.Fleets) == 0 {
			still = append(still, name)
			continue
		}
		fleet := fl.Fleets[0]
		if aws.ToInt32(fleet.ComputeCapacityStatus.Available) != 0 {
			still = append(still, name)
			continue
		}
		lt, err := r.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: fleet.Arn})
		if err != nil {
			continue
		}
		minC, _ := strconv.Atoi(lt.Tags["Min"])
		maxC, _ := strconv.Atoi(lt.Tags["Max"])
		_, _ = r.aas.RegisterScalableTarget(ctx, &applicationautoscaling.RegisterScalableTargetInput{
			ServiceNamespace: aastypes.ServiceNamespaceAppstream, ResourceId: aws.String("fleet/" + name),
			ScalableDimension: aastypes.ScalableDimensionAppstreamFleetDesiredCapacity, MinCapacity: aws.Int32(int32(minC)), MaxCapacity: aws.Int32(int32(maxC)),
		})
		body = true
		for _, k := range []string{"Min", "Max", "Status"} {
			_, _ = r.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: fleet.Arn, TagKeys: []string{k}})
		}
	}
	if body {
		r.sendEmail(ctx, "Summary of AppStream 2.0 Image Scaling", "scaled")
	}
	return still
}

// step runs the state machine as far as now allows; it reports whether the execution ended.
// next is when it wants to run again.
func (r *recipe) step(ctx context.Context, e *recipeExecution, now time.Time) (done bool, next time.Time, err error) {
	if !e.deployed {
		if now.Before(e.expiry) {
			return false, e.expiry, nil
		}
		e.pending, err = r.deployImages(ctx, e.imageARN)
		if err != nil {
			return false, now, err
		}
		e.deployed = true
		return len(e.pending) == 0, now.Add(recipeScaleWait), nil
	}
	e.pending = r.scaleUp(ctx, e.pending)
	return len(e.pending) == 0, now.Add(recipeScaleWait), nil
}
