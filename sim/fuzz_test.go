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

// FuzzParseCredential feeds arbitrary Authorization headers and X-Amz-Credential values to the
// credential parser, and whole requests to the router's account and region resolution: no
// panic, a parsed key is never empty and has no '/', a full scope comes whole, and a header
// built from a parsed credential parses back to it.
func FuzzParseCredential(f *testing.F) {
	for _, seed := range [][2]string{
		{"AWS4-HMAC-SHA256 Credential=AKID/20261203/eu-west-1/appstream/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", ""},
		{"AWS4-HMAC-SHA256 SignedHeaders=host, Credential=ASIA2222222222222222/20261203/us-east-1/sts/aws4_request,Signature=ab", ""},
		{"AWS4-ECDSA-P256-SHA256 Credential=AKID/20261203/appstream/aws4_request, SignedHeaders=host, Signature=00", ""},
		{"", "AKIA2222222222222222/20261203/ap-south-1/sqs/aws4_request"},
		{"AWS4-HMAC-SHA256 Credential=/x/y/z/aws4_request", "k/a/b"},
		{"Basic dXNlcjpwYXNz", ""}, {"AWS4-HMAC-SHA256", ""}, {"AWS4-HMAC-SHA256 Credential=", "/"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261203/Mars/appstream/aws4_request", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	s := sim.New(sim.Options{Clock: sim.NewManualClock(epoch), RandSeed: 1,
		Accounts: []sim.Account{{ID: "222222222222", AccessKeys: []string{"AKIA2222222222222222"}, DeniedRegions: []string{"ap-south-1"}}}})
	f.Fuzz(func(t *testing.T, authorization, query string) {
		c, ok := sim.ParseCredential(authorization, query)
		if ok && (c.AccessKey == "" || strings.Contains(c.AccessKey, "/")) {
			t.Fatalf("%q %q: access key %q", authorization, query, c.AccessKey)
		}
		if !ok && c != (sim.Credential{}) {
			t.Fatalf("%q %q: not ok but %+v", authorization, query, c)
		}
		if (c.Region == "") != (c.Date == "") || (c.Region == "") != (c.Service == "") {
			t.Fatalf("%q %q: partial scope %+v", authorization, query, c)
		}
		if ok && c.Region != "" && !strings.ContainsAny(c.Date+c.Region+c.Service, "/") {
			back, ok2 := sim.ParseCredential("AWS4-HMAC-SHA256 Credential="+c.AccessKey+"/"+c.Date+"/"+c.Region+"/"+c.Service+"/aws4_request, Signature=00", "")
			if !ok2 || back != c {
				t.Fatalf("round trip of %+v: %+v", c, back)
			}
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if strings.ContainsAny(authorization, "\r\n") {
			return
		}
		req.Header.Set("Authorization", authorization)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 403 {
			t.Fatalf("%q: GetCallerIdentity answered %d %s", authorization, rec.Code, rec.Body)
		}
	})
}
