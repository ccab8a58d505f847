package sim_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/workspaces"

	"github.com/deskpilot/deskpilot/sim"
)

// benchEnv is an emulator with 100 running fleets, served over real HTTP to the real SDK.
func benchEnv(b *testing.B) *env {
	b.Helper()
	e := newEnv(b, func(o *sim.Options) { o.Clock = sim.NewManualClock(epoch) })
	e.t = &testing.T{}
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: "img-1"}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.sim.CreateImage(sim.ImageSpec{Name: "img-2"}); err != nil {
		b.Fatal(err)
	}
	seed := sim.Seed{}
	for i := range 100 {
		seed.Fleets = append(seed.Fleets, sim.SeedFleet{Name: fmt.Sprintf("fleet-%03d", i), ImageName: "img-1", DesiredInstances: 4})
	}
	if err := e.sim.ApplySeed(seed); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkDescribeFleets100 lists 100 fleets through the SDK, following NextToken (10 pages).
func BenchmarkDescribeFleets100(b *testing.B) {
	e := benchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var token *string
		n := 0
		for {
			out, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{NextToken: token})
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.Fleets)
			if token = out.NextToken; token == nil {
				break
			}
		}
		if n != 100 {
			b.Fatalf("listed %d fleets", n)
		}
	}
}

// BenchmarkUpdateFleet flips a running fleet between two images (each call rolls instances).
func BenchmarkUpdateFleet(b *testing.B) {
	e := benchEnv(b)
	images := []string{"img-2", "img-1"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_, err := e.as.UpdateFleet(e.ctx, &appstream.UpdateFleetInput{
			Name: aws.String(fmt.Sprintf("fleet-%03d", i%100)), ImageName: aws.String(images[(i/100)%2]),
			ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: aws.Int32(4)},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeFleets100Parallel measures throughput with concurrent clients.
func BenchmarkDescribeFleets100Parallel(b *testing.B) {
	e := benchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.as.DescribeFleets(e.ctx, &appstream.DescribeFleetsInput{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkConnectionStatus10k pages through the connection status of 10,000 WorkSpaces with
// the SDK (400 pages of 25), as deskpilot's reset controller polls a large estate. One op is the
// whole walk.
func BenchmarkConnectionStatus10k(b *testing.B) {
	e := newEnv(b)
	seed := sim.Seed{}
	for i := range 10000 {
		mode := sim.RunningModeAlwaysOn
		if i%2 == 0 {
			mode = sim.RunningModeAutoStop
		}
		seed.Workspaces = append(seed.Workspaces, sim.WorkspaceSpec{
			WorkspaceId: fmt.Sprintf("ws-bench%05d", i), DirectoryId: fmt.Sprintf("d-%010d", i%10),
			UserName: fmt.Sprintf("user%05d", i), BundleId: "wsb-1234567890", RunningMode: mode,
		})
	}
	if err := e.sim.ApplySeed(seed); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i += 7 {
		if err := e.sim.ConnectWorkspace(fmt.Sprintf("ws-bench%05d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var token *string
		n, pages := 0, 0
		for {
			out, err := e.ws.DescribeWorkspacesConnectionStatus(e.ctx, &workspaces.DescribeWorkspacesConnectionStatusInput{NextToken: token})
			if err != nil {
				b.Fatal(err)
			}
			n += len(out.WorkspacesConnectionStatus)
			pages++
			if token = out.NextToken; token == nil {
				break
			}
		}
		if n != 10000 || pages != 400 {
			b.Fatalf("listed %d WorkSpaces in %d pages", n, pages)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/400, "ns/page")
}
