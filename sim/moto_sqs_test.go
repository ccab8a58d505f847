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

// TestSQS_ConformanceWithMoto runs the SQS conformance table against moto's SQS, an
// independent implementation, so that the emulator and moto are seen to agree on what the
// table checks. moto runs on the wall clock, so the table's visibility timeouts are waited out.
// It skips when python3 or moto is missing, unless DESKPILOT_REQUIRE_MOTO=1 (CI).
func TestSQS_ConformanceWithMoto(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import moto.server").Run()
	}
	if err != nil {
		if os.Getenv("DESKPILOT_REQUIRE_MOTO") == "1" {
			t.Fatalf("moto is required (DESKPILOT_REQUIRE_MOTO=1) but not usable: %v", err)
		}
		t.Skip("python3 with moto is not installed (pip install 'moto[server]'); CI installs it. Skipping the check against moto.")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(py, "-m", "moto.server", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not start within 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := sqs.NewFromConfig(sdkConfig(t, url, 3))
	sqsConformance(t, context.Background(), c, time.Sleep)
}
