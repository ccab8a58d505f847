package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docsPath is the user documentation of the file, kept beside the code that
// reads it by these tests.
const docsPath = "../../docs/configuration.md"

// TestDocs_example checks that the full example in the documentation is a
// valid file that sets every key.
func TestDocs_example(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv(TokenEnv, "")
	doc := readDocs(t)
	_, after, ok := strings.Cut(doc, "## 2. Full example")
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(after)
	if !ok || m == nil {
		t.Fatalf("%s: no yaml block after \"## 2. Full example\"", docsPath)
	}
	if _, err := Parse([]byte(m[1])); err != nil {
		t.Fatalf("%s: the full example does not parse:\n%v", docsPath, err)
	}
	example := keyPaths(t, []byte(m[1]))
	for p := range keyPaths(t, mustYAML(t, Default())) {
		if !example[p] {
			t.Errorf("%s: the full example does not set %s", docsPath, p)
		}
	}
}

// TestDocs_everyKey checks that the documentation describes every key.
func TestDocs_everyKey(t *testing.T) {
	doc := readDocs(t)
	for p := range keyPaths(t, mustYAML(t, Default())) {
		parts := strings.Split(p, ".")
		last := parts[len(parts)-1]
		// Keys appear as `key`, `parent.key` or `key.child`.
		if !strings.Contains(doc, "`"+last+"`") && !strings.Contains(doc, "."+last+"`") && !strings.Contains(doc, "`"+last+".") {
			t.Errorf("%s does not describe %s", docsPath, p)
		}
	}
}

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustYAML(t *testing.T, c Config) []byte {
	t.Helper()
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyPaths returns the paths of the keys in a YAML mapping, such as
// "notify.email.smtp.host", leaving out those under fleet_windows, whose
// keys are fleet names.
func keyPaths(t *testing.T, data []byte) map[string]bool {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], prefix)
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := prefix + n.Content[i].Value
			paths[p] = true
			if p != "rollouts.fleet_windows" {
				walk(n.Content[i+1], p+".")
			}
		}
	}
	walk(&root, "")
	return paths
}
