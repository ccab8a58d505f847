package sim_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSQS_ConformanceWithMoto runs sqsConformance (sqs_test.go) against moto's SQS, an
// independent implementation, so that the emulator and moto are seen to agree on every
// behaviour the table checks. moto runs on the wall clock: the table's visibility timeouts and
// delays are waited out for real, which makes this test take about fifteen seconds. It skips
// when python3 or moto is missing, unless DESKPILOT_REQUIRE_MOTO=1 (then it fails).
func TestSQS_ConformanceWithMoto(t *testing.T) {
	url := startMoto(t)
	c := sqs.NewFromConfig(sdkConfig(t, url, 3))
	x := sqsTarget{c: c, later: time.Sleep, polling: func() { time.Sleep(300 * time.Millisecond) }}
	for _, tc := range sqsConformance {
		t.Run(tc.name, func(t *testing.T) {
			resetMoto(t, url)
			tc.run(t, context.Background(), x)
		})
	}
}

// startMoto starts `python3 -m moto.server` on a free port and returns its URL; it is stopped
// when the test ends.
func startMoto(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		t.Helper()
		if os.Getenv("DESKPILOT_REQUIRE_MOTO") == "1" {
			t.Fatalf("DESKPILOT_REQUIRE_MOTO=1 but %s", why)
		}
		t.Skipf("%s: skipping the check against moto (pip install 'moto[server]' to run it; CI sets DESKPILOT_REQUIRE_MOTO=1)", why)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		skip("python3 is not installed")
	}
	if err := exec.Command(py, "-c", "import moto.server").Run(); err != nil {
		skip("moto (with its server extra) is not installed for python3")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(py, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not start within 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resetMoto forgets moto's state, so that each case starts from nothing, as on the emulator.
func resetMoto(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto reset: %s", resp.Status)
	}
}
