package sim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deskpilot/deskpilot/sim"
)

// FuzzJSONOperations sends arbitrary bodies to every JSON operation (SQS's included): the
// emulator must answer each with a well-formed AWS response, never a panic or an internal
// failure.
func FuzzJSONOperations(f *testing.F) {
	targets := []string{
		"PhotonAdminProxyService.CreateFleet", "PhotonAdminProxyService.ListAssociatedStacks", "PhotonAdminProxyService.DrainSessionInstance", "AnyScaleFrontendService.PutScalingPolicy", "AnyScaleFrontendService.DescribeScalingPolicies", "AnyScaleFrontendService.DeleteScalingPolicy",
		"PhotonAdminProxyService.DescribeFleets", "PhotonAdminProxyService.UpdateFleet",
		"PhotonAdminProxyService.StartFleet", "PhotonAdminProxyService.StopFleet", "PhotonAdminProxyService.DeleteFleet",
		"PhotonAdminProxyService.DescribeImages", "PhotonAdminProxyService.TagResource", "PhotonAdminProxyService.UntagResource",
		"PhotonAdminProxyService.ListTagsForResource", "PhotonAdminProxyService.CreateStack", "PhotonAdminProxyService.DescribeStacks",
		"PhotonAdminProxyService.AssociateFleet", "PhotonAdminProxyService.DisassociateFleet", "PhotonAdminProxyService.DescribeSessions",
		"PhotonAdminProxyService.ExpireSession", "AnyScaleFrontendService.RegisterScalableTarget", "AnyScaleFrontendService.DescribeScalableTargets",
		"AnyScaleFrontendService.DeregisterScalableTarget", "AnyScaleFrontendService.DescribeScalingActivities",
		"WorkspacesService.DescribeWorkspaces", "WorkspacesService.DescribeWorkspacesConnectionStatus",
		"WorkspacesService.RebuildWorkspaces", "WorkspacesService.RestoreWorkspace", "WorkspacesService.StartWorkspaces",
		"WorkspacesService.StopWorkspaces", "WorkspacesService.RebootWorkspaces", "WorkspacesService.CreateTags",
		"WorkspacesService.DescribeTags", "WorkspacesService.DeleteTags", "WorkspacesService.DescribeWorkspaceDirectories",
		"WorkspacesService.DescribeWorkspaceBundles",
		"AmazonSQS.CreateQueue", "AmazonSQS.GetQueueUrl", "AmazonSQS.SendMessage", "AmazonSQS.ReceiveMessage",
		"AmazonSQS.DeleteMessage", "AmazonSQS.ChangeMessageVisibility", "AmazonSQS.GetQueueAttributes",
		"AmazonSQS.SetQueueAttributes", "AmazonSQS.ListQueues", "AmazonSQS.PurgeQueue", "AmazonSQS.DeleteQueue",
	}
	seeds := []string{
		`{}`, `{"Name":"f1","InstanceType":"stream.standard.small","ImageName":"img-1","ComputeCapacity":{"DesiredInstances":2}}`,
		`{"Name":"f1","ImageArn":"arn:aws:appstream:us-east-1:123456789012:image/img-1"}`, `{"Names":["f1"],"NextToken":"x"}`,
		`{"ResourceArn":"arn:aws:appstream:us-east-1:123456789012:fleet/f1","Tags":{"a":"b"}}`,
		`{"ServiceNamespace":"appstream","ResourceId":"fleet/f1","ScalableDimension":"appstream:fleet:DesiredCapacity","MinCapacity":0,"MaxCapacity":0}`,
		`{"FleetName":"f1","StackName":"s1","Limit":-1}`, `[`, `null`, `{"Name":null}`,
		`{"WorkspaceIds":["ws-abc123def"],"Limit":25}`, `{"DirectoryId":"d-1234567890","UserName":"alice","NextToken":"x"}`,
		`{"RebuildWorkspaceRequests":[{"WorkspaceId":"ws-abc123def"}]}`, `{"StopWorkspaceRequests":[{"WorkspaceId":"ws-abc123deg"},{}]}`,
		`{"WorkspaceId":"ws-abc123def"}`, `{"ResourceId":"ws-abc123def","Tags":[{"Key":"k","Value":"v"},{"Key":null}]}`,
		`{"ResourceId":"d-1234567890","TagKeys":["k",""]}`, `{"BundleIds":["wsb-1234567890"],"Owner":"AMAZON"}`,
		`{"DirectoryIds":["d-1234567890"],"Filters":[{"Name":null}]}`,
		`{"QueueName":"q2","Attributes":{"VisibilityTimeout":"5","RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:q1\",\"maxReceiveCount\":2}"}}`,
		`{"QueueUrl":"http://h/123456789012/q1","MessageBody":"hi","MessageAttributes":{"a":{"DataType":"Number","StringValue":"x"}}}`,
		`{"QueueUrl":"/123456789012/q1","MaxNumberOfMessages":10,"WaitTimeSeconds":1,"AttributeNames":["All"],"MessageAttributeNames":[".*"]}`,
		`{"QueueUrl":"http://h/123456789012/q1","ReceiptHandle":"ZGVza3BpbG90LXNpbQBxMQB4ADE","VisibilityTimeout":-1}`,
		`{"QueueUrl":"http://h/123456789012/q1","AttributeNames":["All","Bogus"],"Attributes":{"Policy":"{"}}`,
		`{"MaxResults":0,"NextToken":"!!"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		s := sim.New(sim.Options{Clock: sim.NewManualClock(epoch), RandSeed: 1})
		if err := s.ApplySeed(sim.Seed{
			Images: []sim.ImageSpec{{Name: "img-1"}},
			Fleets: []sim.SeedFleet{{Name: "f1", ImageName: "img-1", DesiredInstances: 2}},
			Stacks: []sim.SeedStack{{Name: "s1", Fleets: []string{"f1"}}},
			Workspaces: []sim.WorkspaceSpec{
				{WorkspaceId: "ws-abc123def", DirectoryId: "d-1234567890", UserName: "alice", BundleId: "wsb-1234567890"},
				{WorkspaceId: "ws-abc123deg", DirectoryId: "d-1234567890", UserName: "bob", BundleId: "wsb-1234567890", RunningMode: "AUTO_STOP"},
			},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateQueue("q1"); err != nil {
			t.Fatal(err)
		}
		target := targets[int(op)%len(targets)]
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		if strings.HasPrefix(target, "AmazonSQS.") {
			// A long poll may wait (the manual clock never moves here): the request ends first.
			ctx, cancel := context.WithTimeout(req.Context(), 50*time.Millisecond)
			defer cancel()
			req = req.WithContext(ctx)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", target, body, rec.Code, rec.Body)
		}
		if rec.Code != 200 && rec.Header().Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("error without X-Amzn-ErrorType: %d %s", rec.Code, rec.Body)
		}
	})
}
