package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration file at path and parses it with Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration file:
//
//  1. it starts from Default;
//  2. lays the YAML in data over it: keys present replace the defaults,
//     keys absent or null keep them, unknown keys and values of the wrong
//     type are errors;
//  3. takes the region from AWS_REGION if the file names none, the API
//     token from TokenEnv (DESKPILOT_TOKEN) and the PostgreSQL URL from PostgresURLEnv
//     (DESKPILOT_POSTGRES_URL) if they are set, whatever the file says;
//  4. validates the result.
//
// All problems are reported at once, joined with errors.Join, each naming its
// key path. An empty file gives the defaults.
func Parse(data []byte) (Config, error) {
	c := Default()

	// 1. Read the document as a tree, to report syntax errors and to find
	// which keys are present and where they are.
	doc, err := parseTree(data)
	if err != nil {
		return Config{}, err
	}

	// 2. Decode it over the defaults.
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err != io.EOF {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return Config{}, err
		}
		l := newLocator(doc)
		for i, msg := range te.Errors {
			if i == maxDecodeErrors {
				errs = append(errs, fmt.Errorf("and %d more problems like these", len(te.Errors)-i))
				break
			}
			errs = append(errs, l.explain(msg))
		}
	}

	// 3. The environment.
	if !regionSet(data) {
		if r := os.Getenv("AWS_REGION"); r != "" {
			if regionRE.MatchString(r) {
				c.AWS.Region = r
			} else {
				errs = append(errs, fmt.Errorf("AWS_REGION: %q is not an AWS region name such as us-east-1 (the file names no aws.region, so the environment would set it)", r))
			}
		}
	}
	if u := os.Getenv(PostgresURLEnv); u != "" {
		c.Store.Postgres.URL = u
	}
	if t := os.Getenv(TokenEnv); t != "" {
		if validToken(t) {
			c.Server.Token = t
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", TokenEnv, badToken))
		}
	}

	// 4. Validate. Values that failed to decode kept their defaults, so this
	// reports only other problems.
	if err := c.Validate(); err != nil {
		errs = append(errs, unjoin(err)...)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// parseTree parses data into a tree of nodes, the zero Node if data holds no
// document. It refuses a stream of several documents, as only the first would
// be read.
func parseTree(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case err == io.EOF:
		return &doc, nil
	case err != nil:
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
		return &doc, nil
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("line %d: a second YAML document; the file must hold one", next.Line)
	}
}

// regionSet reports whether data sets aws.region to something other than
// null, following anchors and merge keys as the decoder does.
func regionSet(data []byte) bool {
	var probe struct {
		AWS struct {
			Region *string `yaml:"region"`
		} `yaml:"aws"`
	}
	_ = yaml.Unmarshal(data, &probe) // Parse reports any error
	return probe.AWS.Region != nil
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// YAML returns c as a canonical configuration file: every key, in the order
// of the types, with durations and windows in their shortest form. Parse
// reads it back as c, apart from server.token. It holds no secrets:
// server.token is written empty, and otherwise the file only names the
// environment variables that hold them (webhook URLs are shown as written).
func (c Config) YAML() ([]byte, error) {
	c.Server.Token = ""
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// maxDecodeErrors bounds the decoder's errors Parse reports: past a few, a
// file is likely not a deskpilot configuration at all.
const maxDecodeErrors = 20

// A locator names the key behind each error of the YAML decoder, which gives
// only a line, by finding the node on that line the error is about.
type locator map[int][]entry // by line

// entry is a mapping key and its value, or a list item (key nil).
type entry struct {
	path     string
	key, val *yaml.Node
}

func newLocator(doc *yaml.Node) locator {
	l := locator{}
	add := func(e entry) {
		l[e.val.Line] = append(l[e.val.Line], e)
		if e.key != nil && e.key.Line != e.val.Line {
			l[e.key.Line] = append(l[e.key.Line], e)
		}
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				add(entry{p, k, v})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				add(entry{p, nil, item})
				walk(item, p)
			}
		}
	}
	walk(doc, "")
	return l
}

var (
	// The errors of the YAML decoder, and of nodeError.
	lineRE    = regexp.MustCompile(`(?s)^line (\d+)(?: column (\d+))?: (.*)$`)
	unknownRE = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	typeRE    = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
	dupRE     = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)$`)
)

// explain turns one error of the YAML decoder into one that names its key
// path and speaks of YAML rather than of Go types. An error it cannot place
// keeps its line number.
func (l locator) explain(msg string) error {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return errors.New(msg)
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2]) // 0 when absent
	text := m[3]

	// 1. Say what the error is about, as precisely as the message allows.
	isKey := func(name string) func(e entry) bool {
		return func(e entry) bool { return e.key != nil && e.key.Line == line && e.key.Value == name }
	}
	var match func(e entry) bool
	var showValue bool
	switch {
	case col > 0: // nodeError: the value at line:col
		match = func(e entry) bool { return e.val.Line == line && e.val.Column == col }
	case unknownRE.MatchString(text):
		match = isKey(unknownRE.FindStringSubmatch(text)[1])
		text = "unknown key"
	case dupRE.MatchString(text):
		d := dupRE.FindStringSubmatch(text)
		name, _ := strconv.Unquote(d[1])
		match = isKey(name)
		text = "key given twice (first at line " + d[2] + ")"
	case typeRE.MatchString(text):
		t := typeRE.FindStringSubmatch(text)
		short := strings.TrimSuffix(t[2], "...") // the decoder shortens long values
		match = func(e entry) bool {
			return e.val.Line == line && e.val.ShortTag() == t[1] && strings.HasPrefix(e.val.Value, short)
		}
		text = fmt.Sprintf("want %s, got %s", goKind(t[3]), yamlKind(t[1]))
		showValue = t[2] != ""
	default:
		match = func(entry) bool { return true }
	}

	// 2. Find it: the outermost match, since a value that fails to decode
	// is reported, not the values inside it that start on the same line.
	var found *entry
	for i, e := range l[line] {
		if match(e) && (found == nil || len(e.path) < len(found.path)) {
			found = &l[line][i]
		}
	}
	if found == nil || found.path == "" {
		return fmt.Errorf("line %d: %s", line, text)
	}
	if showValue {
		text += " " + strconv.Quote(found.val.Value)
	}
	return fmt.Errorf("%s: %s", found.path, text)
}

// goKind names what a Go type is in YAML terms, for the decoder's type
// errors. Duration and Window report their own.
func goKind(t string) string {
	switch {
	case t == "int":
		return "an integer"
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	default: // structs and maps
		return "a mapping"
	}
}

// yamlKind names a YAML tag in words.
func yamlKind(tag string) string {
	switch tag {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!timestamp":
		return "a timestamp"
	}
	return tag
}
